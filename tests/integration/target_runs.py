"""``streamharness load`` runs against one target or another, as a user runs them, for tests that compare targets.

Each run is a child process bounded in time; what it leaves is read back as the checker wrote it
(``summary.json``) and as the event log says (:func:`harness.analysis.load.load_run`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

from harness.analysis.load import LoadedRun, load_run
from harness.events import schema
from tests.conftest import ROOT, timeout

#: The targets every conformance scenario runs on: the embedded emulator over WebSockets (the WebSocket
#: driver) and a real Pulsar-protocol broker, pulsar-lite, through the official client (the native driver).
TARGETS = ("emulator", "pulsar-lite")
#: Exit codes of the verdict.
PASS, FAIL, INCONCLUSIVE = 0, 1, 2
RUN_ID = "run"
#: What the harness adds to a run's producing time: start-up, drain, final figures, the analysis and report.
MARGIN_S = 60.0


@dataclass(frozen=True)
class TargetRun:
    """One finished run: its exit code and output, ``summary.json`` and the loaded event log."""

    returncode: int
    output: str
    summary: dict[str, Any]
    run: LoadedRun

    @property
    def events(self) -> pd.DataFrame:
        return self.run.events

    def rows(self, kind: str) -> pd.DataFrame:
        return self.events[self.events["kind"] == kind]

    def tail(self) -> str:
        return self.output[-3000:]


def load_command(reports: Path, target: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "harness", "load", "--target", target, "--reports-dir", str(reports)] + [
        "--run-id",
        RUN_ID,
        *args,
    ]


def producing_seconds(args: tuple[str, ...]) -> float:
    """The ``--duration`` plus ``--drain-timeout`` of a command line (defaults when absent)."""
    duration = float(args[args.index("--duration") + 1]) if "--duration" in args else 10.0
    drain = float(args[args.index("--drain-timeout") + 1]) if "--drain-timeout" in args else 10.0
    return duration + drain


def read_run(reports: Path, returncode: int, output: str) -> TargetRun:
    folder = reports / RUN_ID
    summary_path = folder / "summary.json"
    assert summary_path.is_file(), f"no summary.json (exit {returncode}):\n{output[-3000:]}"
    return TargetRun(returncode, output, json.loads(summary_path.read_text()), load_run(folder))


def run_load(reports: Path, target: str, *args: str) -> TargetRun:
    """``streamharness load --target TARGET ARGS`` to completion."""
    result = subprocess.run(
        load_command(reports, target, *args),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout(producing_seconds(args) + MARGIN_S),
    )
    return read_run(reports, result.returncode, result.stdout)


def consumer_worker(events: Path, least: int = 50) -> tuple[str, int] | None:
    """A worker whose events file shows its consumers' deliveries (at least ``least``): (tag, pid).

    Worker files are named ``<worker>-<pid>.csv`` and their consumers ``<worker>-c<n>``.
    """
    for file in sorted(events.glob("w*-*.csv")):
        with file.open(encoding="utf-8") as handle:
            text = handle.read(400_000)
        tag, pid = file.stem.split("-")
        if text.count(f",{schema.DELIVER},{tag}-c") >= least:
            return tag, int(pid)
    return None


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + timeout(seconds)
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def kill_a_consumer_worker(process: subprocess.Popen[str], events: Path, seconds: float) -> tuple[str, int]:
    """SIGKILL, by its PID, a worker of ``process`` whose events show its consumers delivering.

    Returns the worker's tag and when it was killed (wall ns). Only a descendant of ``process`` is ever killed.
    """
    found: list[tuple[str, int]] = []

    def victim_found() -> bool:
        victim = consumer_worker(events) if events.is_dir() else None
        if victim is not None:
            found.append(victim)
        return victim is not None

    wait_for(victim_found, seconds, "a worker with consumers to ship its deliveries")
    tag, pid = found[0]
    children = {child.pid for child in psutil.Process(process.pid).children(recursive=True)}
    assert pid in children, "only a worker of this run is ever killed"
    killed_ns = time.time_ns()
    os.kill(pid, signal.SIGKILL)
    return tag, killed_ns


def run_killing_a_consumer_worker(reports: Path, target: str, *args: str) -> tuple[TargetRun, str, int]:
    """A ``--processes`` run in which one worker with consumers delivering is SIGKILLed by its PID.

    Returns the run, the killed worker's tag and when it was killed (wall ns).
    """
    command = load_command(reports, target, *args)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        tag, killed_ns = kill_a_consumer_worker(process, reports / RUN_ID / "events", 60)
        try:
            output, _ = process.communicate(timeout=timeout(producing_seconds(args) + MARGIN_S))
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            raise AssertionError(f"the run did not end in time:\n{output[-3000:]}") from None
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return read_run(reports, process.returncode, output), tag, killed_ns


def extra_deliveries(run: TargetRun) -> pd.DataFrame:
    """Every delivery of a message after its first, with the delivery before it (``prev_*`` columns)."""
    deliveries = run.rows(schema.DELIVER)
    deliveries = deliveries[deliveries["uid"] != ""].sort_values(["uid", "t_ns"], kind="stable")
    previous = deliveries.groupby("uid")[["t_ns", "actor", "redelivery"]].shift(1)
    joined = deliveries.assign(
        prev_t_ns=previous["t_ns"], prev_actor=previous["actor"], prev_redelivery=previous["redelivery"]
    )
    return joined[joined["prev_t_ns"].notna()]
