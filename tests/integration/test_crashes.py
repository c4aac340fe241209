"""Crashes mid-run: a SIGKILLed endpoint is never a PASS, a SIGKILLed worker is never the broker's fault.

Each runs ``streamharness load`` for real, as a user would, and kills (or freezes) a process by its
PID once the run is producing: the emulator (started here, outside the run), or one Locust worker that has
consumers (a child of the run's Locust master, found by its events file ``<worker>-<pid>.csv``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.events.schema import ENDPOINT_LOST_BOUND_S
from harness.targets.emulator import EmulatorProcess
from harness.targets.pulsar_lite import LiteProcess
from tests.conftest import ROOT, timeout
from tests.integration.target_runs import kill_a_consumer_worker, wait_for

pytestmark = pytest.mark.slow

#: Exit codes of the verdict: PASS 0, FAIL 1, INCONCLUSIVE 2.
PASS, FAIL, INCONCLUSIVE = 0, 1, 2
#: What the harness itself may add to a run's duration and drain: start-up, final figures, the analysis.
MARGIN_S = 30.0


def load_command(reports: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "harness", "load", "--reports-dir", str(reports), "--run-id", "crash", *args]


def producing(run_dir: Path) -> bool:
    try:
        return "producing_started_ns" in json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return False


def finish(process: subprocess.Popen[str], seconds: float) -> tuple[str, float]:
    """Wait for ``process`` (killing it past ``seconds``); its output and how long the wait took."""
    started = time.monotonic()
    try:
        out, _ = process.communicate(timeout=timeout(seconds))
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        raise AssertionError(f"the run did not end within {seconds:g} s:\n{out[-3000:]}") from None
    return out, time.monotonic() - started


@pytest.mark.parametrize(
    ("how", "broker"),
    [(signal.SIGKILL, "emulator"), (signal.SIGSTOP, "emulator"), (signal.SIGKILL, "pulsar-lite")],
    ids=["killed", "frozen", "pulsar-lite-killed"],
)
def test_a_lost_endpoint_makes_an_incomplete_run_that_is_not_a_pass(
    tmp_path: Path, how: signal.Signals, broker: str
) -> None:
    """Killed, its connections drop and connects are refused; frozen, its sockets stay open and nothing answers.

    The pulsar-lite case is the native driver's: pulsar-client reconnects silently, so the driver's own
    check of the connection is what tells the users they are cut off.
    """
    duration, drain = 12.0, 3.0
    reports = tmp_path / "reports"
    emulator = EmulatorProcess() if broker == "emulator" else LiteProcess()
    emulator.start()
    target = ["--target", "emulator"] if broker == "emulator" else ["--target", "pulsar"]
    command = load_command(reports, *target, "--url", emulator.url, "--duration", str(duration))
    command += ["--rate", "100", "--drain-timeout", str(drain)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: producing(reports / "crash"), 30, "the run to start producing")
        time.sleep(4.0)
        assert emulator.pid is not None
        lost_ns = time.time_ns()
        os.kill(emulator.pid, how)
        out, waited = finish(process, duration + drain + MARGIN_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        if emulator.pid is not None and emulator.process is not None and emulator.process.poll() is None:
            os.kill(emulator.pid, signal.SIGKILL)  # a frozen process would sit on SIGTERM
        emulator.stop()
    manifest = json.loads((reports / "crash" / "run.json").read_text())
    assert manifest["completed"] is False, out[-3000:]
    lost = manifest["endpoint_lost"]
    assert lost["bound_s"] == ENDPOINT_LOST_BOUND_S
    (outage,) = lost["outages"]
    # cut off from the loss (a frozen endpoint: from the first send it never answered), never back
    assert lost_ns - 1_000_000_000 <= outage["from_ns"] == lost["first_ns"] <= lost_ns + 2_000_000_000
    assert outage["to_ns"] is None
    assert outage["seconds"] > ENDPOINT_LOST_BOUND_S and lost["longest_s"] == outage["seconds"]
    if how == signal.SIGKILL:
        assert outage["producers"] == 2 and outage["consumers"] == 2
        assert 0.3 < lost["schedule_shortfall"] < 0.9, lost  # killed about a third of the way in
    else:  # consumers cannot tell a silent endpoint from a quiet one; producers wait for answers
        assert outage["producers"] == 2
    assert "endpoint lost at" in out and "run.json marks the run incomplete" in out
    assert waited < timeout(duration + drain + MARGIN_S)
    summary = json.loads((reports / "crash" / "summary.json").read_text())
    assert summary["verdict"] != "pass" and process.returncode != PASS, out[-3000:]
    assert process.returncode == summary["exit_code"]


def test_a_sigkilled_consumer_worker_is_inconclusive_with_its_redeliveries_explained(tmp_path: Path) -> None:
    duration, drain = 10.0, 15.0
    reports = tmp_path / "reports"
    command = load_command(reports, "--processes", "3", "--producers", "2", "--consumers", "4")
    # acks wait half a second: the consumers killed hold messages, which the endpoint redelivers to survivors
    command += ["--duration", str(duration), "--rate", "100", "--ack-delay-ms", "500", "--drain-timeout", str(drain)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        tag, killed_ns = kill_a_consumer_worker(process, reports / "crash" / "events", 40)
        out, _ = finish(process, duration + drain + MARGIN_S + 20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    manifest = json.loads((reports / "crash" / "run.json").read_text())
    assert manifest["completed"] is False
    (lost,) = manifest["workers_lost"]
    assert lost["worker"] == tag
    assert killed_ns < lost["lost_ns"] < manifest["stopped_ns"], (killed_ns, lost, manifest["stopped_ns"])
    assert "endpoint_lost" not in manifest, manifest.get("endpoint_lost")  # the endpoint was fine all along
    summary = json.loads((reports / "crash" / "summary.json").read_text())
    messages = summary["messages"]
    assert messages["duplicated_kinds"]["cross_consumer"] == 0, messages
    assert messages["redelivery_explained"]["holder_left"] > 0, messages
    assert summary["delivery"]["lost"] == 0, summary["delivery"]
    assert summary["verdict"] == "inconclusive" and process.returncode == INCONCLUSIVE, out[-3000:]
