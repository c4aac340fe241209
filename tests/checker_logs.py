"""Tiny literal event logs for the checker's tests, csv-diff style: module constants, one row a line.

Times are small integers of nanoseconds (or multiples of ``S`` = one second) so every expected
figure can be worked out by hand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.analysis.eventlog import EventLog, encode
from harness.analysis.load import LoadedRun, parse_events
from harness.analysis.summary import Options, summarize
from harness.events.schema import COLUMNS

HEADER = ",".join(COLUMNS)
S = 1_000_000_000
MS = 1_000_000


def text(*rows: str) -> str:
    return HEADER + "\n" + "".join(row + "\n" for row in rows)


def log_of(*rows: str) -> EventLog:
    """Parse literal rows exactly as the loader parses a file."""
    result = parse_events(text(*rows).encode())
    assert not result.skipped, result.skipped
    assert result.table is not None
    return encode(result.table)


def message(uid: str, t: int, consumer: str = "w0-c1", producer: str = "w0-p1", msg_id: str = "") -> tuple[str, ...]:
    """The four rows of one clean message: send at t, publish ack t+1, deliver t+2, ack t+3."""
    mid = msg_id or "m-" + uid
    return (
        f"{t},send,{producer},{uid},,{t},,10,",
        f"{t + 1},publish_ok,{producer},{uid},{mid},,,,",
        f"{t + 2},deliver,{consumer},{uid},{mid},,0,10,",
        f"{t + 3},ack,{consumer},{uid},{mid},,,,",
    )


def manifest(**overrides: Any) -> dict[str, Any]:
    settings = {"subscription_type": "Shared", "producers": 1, "consumers": 2, "rate": 10.0, "duration": 1.0}
    settings.update(overrides.pop("settings", {}))
    base: dict[str, Any] = {
        "run_id": "t",
        "schema_version": 1,
        "settings": settings,
        "completed": True,
        "drained": True,
    }
    base.update(overrides)
    return base


def loaded(*rows: str, **manifest_overrides: Any) -> LoadedRun:
    return LoadedRun(Path("t"), manifest(**manifest_overrides), log_of(*rows), [], [Path("w0-1.csv")])


def summary_of(*rows: str, options: Options | None = None, **manifest_overrides: Any) -> dict[str, Any]:
    return summarize(loaded(*rows, **manifest_overrides), options)


def write_run(folder: Path, files: Mapping[str, str | bytes], run_json: dict[str, Any] | None = None) -> Path:
    """A run folder on disk: ``events/<name>`` per entry of ``files``, and run.json unless None."""
    (folder / "events").mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        (folder / "events" / name).write_bytes(data)
    if run_json is not None:
        (folder / "run.json").write_text(json.dumps(run_json), encoding="utf-8")
    return folder
