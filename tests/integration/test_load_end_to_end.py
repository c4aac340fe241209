"""Locust, for real, against the emulator: the event log it leaves must check out exactly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.analysis.load import load_run
from harness.analysis.summary import summarize
from tests.conftest import ROOT, run_cli, timeout

pytestmark = pytest.mark.slow


def only_run(reports: Path) -> Path:
    (run,) = [p for p in reports.iterdir() if p.is_dir()]
    return run


def test_load_run_delivers_every_message_exactly_once(tmp_path: Path) -> None:
    result = run_cli(
        ["load", "--duration", "3", "--rate", "50", "--reports-dir", str(tmp_path), "--run-id", "e2e"], seconds=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: PASS" in result.stdout
    run = load_run(tmp_path / "e2e")
    assert run.problems == []
    summary = summarize(run)
    counts, classes = summary["messages"], summary["delivery"]
    assert counts["sent"] >= 250  # 2 producers x 50/s x 3 s, give or take the first tick
    assert counts["sent"] == counts["published"] == counts["delivered_once"] == classes["ok"]
    assert classes["lost"] == counts["delivered_more"] == classes["unexpected"] == classes["indeterminate"] == 0
    per_consumer = run.events[run.events["kind"] == "deliver"].groupby("actor").size()
    assert len(per_consumer) == 2 and per_consumer.min() > 0
    manifest = run.manifest
    assert manifest["completed"] is True and manifest["drained"] is True
    assert manifest["settings"]["rate"] == 50.0
    assert manifest["events_recorded"] == len(run.events), "every row written is counted once"
    # analyze --json on the finished run: one load run serves both checks (a second cost ~10 s)
    again = run_cli(["analyze", str(tmp_path / "e2e"), "--json"])
    document = json.loads(again.stdout)
    assert document["verdict"] == "pass"
    assert document["messages"]["sent"] == document["messages"]["delivered_once"] == document["delivery"]["ok"] > 0


def test_sigterm_leaves_a_readable_log_and_an_incomplete_run(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless", "-u", "4", "-r", "4"]
    command += ["--duration", "60", "--reports-dir", str(tmp_path)]
    reports = tmp_path / "reports"
    reports.mkdir()
    command[command.index(str(tmp_path))] = str(reports)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + timeout(30)
        while time.monotonic() < deadline:
            runs = [p for p in reports.iterdir() if p.is_dir()]
            if runs and any(f.stat().st_size > 5000 for f in (runs[0] / "events").glob("*.csv")):
                break
            time.sleep(0.2)
        children = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout(30))
        psutil.wait_procs(children, timeout=timeout(15))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert children and not [c for c in children if c.is_running()], "the emulator must stop with the run"
    run = load_run(only_run(reports))
    assert run.manifest["completed"] is False
    assert "stopped_ns" in run.manifest, "SIGTERM must take the orderly path that records the stop"
    summary = summarize(run)
    assert summary["messages"]["sent"] > 0 and summary["messages"]["delivered_more"] == 0
    assert summary["delivery"]["unexpected"] == 0
    assert [p for p in run.problems if "corrupt" in p] == []
