"""run.json: written atomically, secrets never in it."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from harness.events.runfolder import (
    REDACTED,
    RunFolder,
    RunFolderError,
    check_run_location,
    new_run_id,
    redact,
    redact_url,
    run_id_problem,
)


def test_secret_settings_are_redacted() -> None:
    settings = {"api_key": "demo.key.SECRET", "password": "hunter2", "token": "", "rate": 100, "email": "a@b.c"}
    clean = redact(settings)
    assert clean == {"api_key": REDACTED, "password": REDACTED, "token": "", "rate": 100, "email": "a@b.c"}


def test_urls_lose_passwords_and_secret_query_parameters() -> None:
    assert redact_url("wss://user:pw@host/ws?token=abc&x=1") == f"wss://user:{REDACTED}@host/ws?token={REDACTED}&x=1"
    assert redact_url("ws://127.0.0.1:8080") == "ws://127.0.0.1:8080"


def test_manifest_settings_are_redacted_even_if_the_caller_forgets(tmp_path: Path) -> None:
    folder = RunFolder.create(tmp_path, "r1")
    folder.write_manifest({"settings": {"token": "s3cret", "nested": {"apikey": "k"}}})
    text = folder.manifest_path.read_text()
    assert "s3cret" not in text and '"k"' not in text
    manifest = json.loads(text)
    assert manifest["schema_version"] == 1 and manifest["run_id"] == "r1"
    assert not list(folder.path.glob("*.tmp"))


def test_run_ids_sort_by_time() -> None:
    first, second = new_run_id(0), new_run_id(60)
    assert first.startswith("19700101-000000-") and second.startswith("19700101-000100-")
    assert first < second


def test_fresh_run_ids_are_plain_names() -> None:
    assert run_id_problem(new_run_id()) is None


def test_a_run_folder_is_claimed_once_and_never_reused(tmp_path: Path) -> None:
    folder = RunFolder.create(tmp_path / "reports", "r1")
    assert folder.events_dir.is_dir()
    (folder.events_dir / "local-1.csv").write_text("rows\n")
    with pytest.raises(RunFolderError, match="exists already; a run is never appended to another"):
        RunFolder.create(tmp_path / "reports", "r1")
    assert [p.name for p in folder.events_dir.iterdir()] == ["local-1.csv"]


def test_of_runs_claiming_one_id_at_once_exactly_one_gets_it(tmp_path: Path) -> None:
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def claim() -> None:
        start.wait()
        try:
            RunFolder.create(tmp_path, "same")
            outcomes.append("claimed")
        except RunFolderError:
            outcomes.append("refused")

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["claimed"] + ["refused"] * 7


@pytest.mark.parametrize("run_id", ["../escape", "a/b", ".hidden", ""])
def test_a_run_id_that_is_not_a_plain_name_creates_nothing(tmp_path: Path, run_id: str) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    with pytest.raises(RunFolderError, match="--run-id"):
        RunFolder.create(reports, run_id)
    assert list(tmp_path.rglob("*")) == [reports]


def test_a_reports_dir_that_cannot_be_used_is_one_line(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(RunFolderError, match="is not a folder"):
        check_run_location(file, "r")
    with pytest.raises(RunFolderError, match=r"cannot create it \(.*/file is not a folder\)"):
        check_run_location(file / "reports" / "deeper", "r")
    with pytest.raises(RunFolderError, match="cannot create it"):
        RunFolder.create(file / "reports", "r")


def test_the_early_check_creates_nothing_and_refuses_a_folder_in_use(tmp_path: Path) -> None:
    reports = tmp_path / "a" / "reports"
    check_run_location(reports, "r1")
    assert list(tmp_path.iterdir()) == []
    reports.mkdir(parents=True)
    (reports / "r1").symlink_to(tmp_path / "nowhere")  # even a dangling link holds the name
    with pytest.raises(RunFolderError, match="exists already"):
        check_run_location(reports, "r1")
    check_run_location(reports, "")  # no id yet: a fresh one will be made


def test_an_unused_claim_is_released_and_a_used_one_kept(tmp_path: Path) -> None:
    unused = RunFolder.create(tmp_path, "unused")
    unused.release_if_unused()
    assert not unused.path.exists()
    used = RunFolder.create(tmp_path, "used")
    used.write_manifest({"run_id": "used"})
    used.release_if_unused()
    assert used.manifest_path.is_file()


def test_a_worker_joins_the_folder_its_master_claimed(tmp_path: Path) -> None:
    claimed = RunFolder.create(tmp_path, "r")
    joined = RunFolder.join(tmp_path, "r")
    assert joined.events_dir == claimed.events_dir and joined.events_dir.is_dir()
