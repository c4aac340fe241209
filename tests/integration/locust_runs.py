"""Helpers for tests that run Locust for real, in a subprocess, against the emulator it starts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from harness.analysis.load import LoadedRun, load_run
from harness.events import schema
from tests.conftest import ROOT, own_master_port, timeout


def run_locust(
    args: Sequence[str],
    reports: Path,
    seconds: float = 90,
    env: Mapping[str, str] | None = None,
    locustfile: Path = ROOT / "locustfile.py",
) -> tuple[subprocess.CompletedProcess[str], LoadedRun]:
    """``locust -f LOCUSTFILE --headless ARGS`` to completion; returns the result and the only run folder."""
    command = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--only-summary"]
    command += [*args, "--reports-dir", str(reports)]
    if "--processes" in args:
        command += own_master_port()
    result = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout(seconds),
        env={**os.environ, **(env or {})},
    )
    runs = [p for p in reports.iterdir() if p.is_dir()] if reports.exists() else []
    assert len(runs) == 1, result.stdout + result.stderr
    return result, load_run(runs[0])


def rows(run: LoadedRun, kind: str) -> pd.DataFrame:
    return run.events[run.events["kind"] == kind]


def assert_every_published_message_acked_once(run: LoadedRun) -> None:
    """Each published uid was delivered at least once and acknowledged exactly once; nothing unknown."""
    published = set(rows(run, schema.PUBLISH_OK)["uid"])
    acks = rows(run, schema.ACK)["uid"].value_counts()
    delivered = set(rows(run, schema.DELIVER)["uid"])
    assert published, "nothing was published"
    assert published <= delivered, f"{len(published - delivered)} published messages never delivered"
    assert set(acks.index) == published, "acks do not match the published messages"
    assert int(acks.max()) == 1, f"{int((acks > 1).sum())} messages acked more than once"
    assert set(rows(run, schema.SEND)["uid"]) == published, "some sends have no publish ack"
