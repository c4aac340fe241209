"""``streamharness load`` as a user drives it: signals, failed starts with worker processes, verdict options."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from harness.analysis.load import load_run
from tests.conftest import ROOT, run_cli
from tests.integration.interrupting import interrupt_when
from tests.integration.refusing_server import refusing_server

pytestmark = pytest.mark.slow


def processes_mentioning(marker: str) -> list[psutil.Process]:
    """Every process whose command line holds ``marker`` (a test's own temporary path)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any(marker in part for part in process.info["cmdline"] or []):
                found.append(process)
        except psutil.Error:
            continue
    return found


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_locust_in_order_and_the_incomplete_run_is_analysed(signum: int, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "harness", "load", "--duration", "60", "--rate", "50"]
    command += ["--reports-dir", str(tmp_path), "--run-id", "sig"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    events = tmp_path / "sig" / "events"
    ended = interrupt_when(
        process, lambda: any(f.stat().st_size > 5000 for f in events.glob("*.csv")), signum, ready_s=40, exit_s=120
    )
    out, err = ended.out, ended.err
    assert len(ended.descendants) >= 2 and ended.survivors == [], "Locust and its emulator must end with the command"
    run = load_run(tmp_path / "sig")
    assert run.manifest["completed"] is False and "stopped_ns" in run.manifest
    assert "verdict:" in out and (tmp_path / "sig" / "summary.json").is_file(), out[-2000:] + err[-2000:]
    assert process.returncode == json.loads((tmp_path / "sig" / "summary.json").read_text())["exit_code"]


def test_bad_input_with_worker_processes_leaves_no_process_behind(tmp_path: Path) -> None:
    # reachable, so the check before Locust passes; the handshake is refused in Locust's init
    with refusing_server(401, "Failed to authenticate") as url:
        result = run_cli(
            ["load", "--processes", "2", "--target", "pulsar", "--url", url.replace("http", "ws")]
            + ["--reports-dir", str(tmp_path)],
        )
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert result.returncode == 2 and len(errors) == 1 and "refused: HTTP 401" in errors[0], result.stderr
    assert processes_mentioning(str(tmp_path)) == [], "the worker processes must end with the master"


def test_verdict_options_reach_the_checker(tmp_path: Path) -> None:
    thresholds = tmp_path / "strict.toml"
    thresholds.write_text("[thresholds]\nmax_p99_ms = 0.001\n")
    args = ["load", "--duration", "1", "--rate", "20", "--reports-dir", str(tmp_path), "--run-id", "t"]
    strict = run_cli([*args, "--thresholds", str(thresholds)], seconds=120)
    assert strict.returncode == 1, strict.stdout[-2000:] + strict.stderr[-2000:]
    assert "end-to-end p99" in strict.stdout and "above 0.001 ms" in strict.stdout
    relaxed = run_cli(["analyze", str(tmp_path / "t")])  # the same run, default thresholds
    assert relaxed.returncode == 0, relaxed.stdout[-2000:]
    missing = run_cli([*args, "--max-p99-ms", "-1"])
    assert missing.returncode == 2 and "--max-p99-ms" in missing.stderr and len(missing.stderr.splitlines()) == 1
