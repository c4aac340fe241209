"""``analyze``, ``report`` and ``compare`` on run folders written from literal logs, in-process.

The verdict's exit code, the files a run folder gets, and one clear line on bad input.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.report.html import PLOTS_DIR, REPORT_HTML
from harness.report.plots import PLOTS
from tests.checker_logs import manifest, message, text, write_run

CLEAN = text(*message("w0-p1/0", 10), *message("w0-p1/1", 20, consumer="w0-c2"))
LOST = text(*message("w0-p1/0", 10)[:2])
SECRET = "s3cr3t-token-value"


def run_folder(tmp_path: Path, events: str = CLEAN, name: str = "r", **overrides: object) -> Path:
    settings = {"token": SECRET, "url": f"wss://user:{SECRET}@example.test/ws"}
    return write_run(tmp_path / name, {"w0-1.csv": events}, manifest(settings=settings, **overrides))


def test_analyze_passes_and_writes_summary_plots_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_folder(tmp_path)
    assert main(["analyze", str(run)]) == 0
    out = capsys.readouterr().out
    assert "verdict: PASS" in out and f"report: {run / REPORT_HTML}" in out
    assert "  delivered exactly once                     2" in out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["schema_version"] == 1 and summary["verdict"] == "pass"
    assert set(summary["delivery"]) == {
        "ok", "redelivered", "duplicated", "lost", "indeterminate", "recovered", "rejected", "unexpected"
    }  # fmt: skip
    for key in ("jain", "max_min_ratio", "cv", "starved"):
        assert key in summary["fairness"]
    for metric in ("e2e", "e2e_intended", "publish"):
        assert set(summary["latency_ms"][metric]) >= {"p50", "p90", "p99", "p999", "p9999", "max"}
    for name, _, _ in PLOTS:
        assert (run / PLOTS_DIR / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (run / REPORT_HTML).read_text()
    assert page.count("data:image/png;base64,") == len(PLOTS)
    for breakdown in ("by consumer", "publish by producer", "by delivery class", "<summary>by 10 s window (1 window)"):
        assert breakdown in page
    assert "<tr><td>w0-p1</td><td>publish</td><td>2</td>" in page
    assert page.index("verdict: PASS") < page.index("<h2>Run</h2>")


def test_the_closing_table_follows_messages_through_the_endpoint_and_repeats_no_class(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # w0-p1/0 got no publish answer and was delivered anyway: recovered, not indeterminate.
    recovered = ("10,send,w0-p1,w0-p1/0,,10,,10,", "12,deliver,w0-c1,w0-p1/0,m0,,0,10,", "13,ack,w0-c1,w0-p1/0,m0,,,,")
    run = run_folder(tmp_path, text(*recovered, *message("w0-p1/1", 20, consumer="w0-c2")))
    assert main(["analyze", str(run), "--no-report"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "  indeterminate            0" in lines and "  recovered                1  e.g. w0-p1/0" in lines
    closing = lines[lines.index("  sent                                       2") :]
    assert closing[: closing.index("")] == [
        "  sent                                       2",
        "  published (publish acknowledged)           1",
        "  delivered exactly once                     2",
        "  delivered more than once                   0",
        "  delivered, never acked                     0",
    ]


def test_no_secret_reaches_the_summary_or_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_folder(tmp_path)
    main(["analyze", str(run), "--json"])
    printed = capsys.readouterr().out
    assert json.loads(printed)["verdict"] == "pass"
    for text_ in (printed, (run / "summary.json").read_text(), (run / REPORT_HTML).read_text()):
        assert SECRET not in text_


def test_analyze_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(run_folder(tmp_path, LOST, "lost")), "--no-report"]) == 1
    assert "verdict: FAIL (1 lost)" in capsys.readouterr().out
    assert main(["analyze", str(run_folder(tmp_path, LOST, "allowed")), "--no-report", "--max-lost", "1"]) == 0
    corrupt = run_folder(tmp_path, CLEAN + "garbage,row\n", "corrupt")
    assert main(["analyze", str(corrupt), "--no-report"]) == 2
    out = capsys.readouterr().out
    assert "note: w0-1.csv: skipped 1 corrupt rows of 9" in out and "verdict: INCONCLUSIVE" in out
    never_acked = run_folder(tmp_path, text(*message("w0-p1/0", 10)[:3]), "never-acked")
    assert main(["analyze", str(never_acked), "--no-report"]) == 0
    assert "  delivered, never acked                     1" in capsys.readouterr().out
    assert main(["analyze", str(never_acked), "--no-report", "--max-unacked", "0"]) == 1
    assert "verdict: FAIL (1 delivered but never acked)" in capsys.readouterr().out
    torn = run_folder(tmp_path, CLEAN + "30,deliver,w0", "torn")
    assert main(["analyze", str(torn), "--no-report"]) == 0
    assert "dropped a torn last line" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("setup", "fragment"),
    [
        ("missing", "no such run folder"),
        ("empty", "no events files"),
        ("newer", "newer than this streamharness reads"),
    ],
)
def test_bad_run_folders_give_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, fragment: str
) -> None:
    path = tmp_path / "r"
    if setup == "empty":
        path.mkdir()
    elif setup == "newer":
        run_folder(tmp_path, schema_version=2)
    for command in ("analyze", "report"):
        assert main([command, str(path)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and fragment in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "state"), [(None, "missing"), (b"{not json", "unreadable"), (b"[1]", "not a JSON object")]
)
def test_a_run_folder_without_a_usable_run_json_is_inconclusive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, state: str
) -> None:
    run = write_run(tmp_path / "r", {"w0-1.csv": CLEAN})
    if content is not None:
        (run / "run.json").write_bytes(content)
    assert main(["analyze", str(run), "--no-report"]) == 2
    out = capsys.readouterr().out
    assert f"verdict: INCONCLUSIVE (run.json is {state}: the workers' clock offsets and the ack timeout" in out
    assert json.loads((run / "summary.json").read_text())["input"]["run_json"] == state
    # A redelivery looks unexplained without the ack timeout: no fail either.
    again = "20,deliver,w0-c2,w0-p1/0,m-w0-p1/0,,1,10,\n21,ack,w0-c2,w0-p1/0,m-w0-p1/0,,,,\n"
    (run / "events" / "w0-1.csv").write_text(CLEAN + again)
    assert main(["analyze", str(run), "--no-report"]) == 2
    assert "verdict: INCONCLUSIVE (run.json is" in capsys.readouterr().out


def test_bad_threshold_option_and_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_folder(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["analyze", str(run), "--min-jain", "-1"])
    assert exited.value.code == 2
    bad = tmp_path / "t.toml"
    bad.write_text("max_lsot = 1\n")
    assert main(["analyze", str(run), "--thresholds", str(bad)]) == 2
    assert "unknown threshold 'max_lsot'" in capsys.readouterr().err


def test_report_rewrites_the_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_folder(tmp_path)
    assert main(["report", str(run)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"report: {run / REPORT_HTML}", "verdict: PASS"]
    assert (run / REPORT_HTML).exists() and (run / "summary.json").exists()


def test_compare_prints_every_headline_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = run_folder(tmp_path, CLEAN, "a")
    b = run_folder(tmp_path, LOST, "b")
    main(["analyze", str(a), "--no-report"])
    capsys.readouterr()
    assert main(["compare", str(a), str(b)]) == 0  # b has no summary.json yet: analysed on the fly
    out = capsys.readouterr().out
    lines = {line.split("  ")[0]: line for line in out.splitlines()}
    assert lines["class lost"].split()[-3:] == ["1", "+1", "-"]
    assert lines["class ok"].split()[-4:] == ["2", "0", "-2", "-100.0%"]
    assert "verdict" in lines and "e2e p99 ms" in lines and "Jain's index" in lines
    assert main(["compare", str(a), str(b), "--json"]) == 0
    rows = {row["figure"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["class ok"] == {"figure": "class ok", "a": 2, "b": 0, "delta": -2, "percent": -100.0}
