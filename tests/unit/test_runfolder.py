"""run.json: written atomically, secrets never in it."""

from __future__ import annotations

import json
from pathlib import Path

from harness.events.runfolder import REDACTED, RunFolder, new_run_id, redact, redact_url


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
