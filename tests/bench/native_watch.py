"""Ends a benchmark climb once it has clearly passed its limit, from the run's own events files.

A climb's stages above the highest held one only cost time: past the limit the backlog or the send
lag grows without bound, and no later, higher stage can hold. The watch reads what the Locust
process appends to its events CSV files (byte counts of the kind column; no parsing of the rows
but the last send) and says stop when the consumers' acks trail the sends by more than BACKLOG_S
of the offered rate, the newest send went out more than LAG_S after its intended time, or the
sends trail the nominal schedule by more than DEFICIT_S of the offered rate (a generator that
cannot keep up may skip rather than run late).
The verdict on every stage still comes from the full event log afterwards, by the stage rule.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

from harness.events import schema

BACKLOG_S = 2.5
LAG_S = 1.5
DEFICIT_S = 2.0
FLUSH_SLACK_S = 0.5  # rows reach the files up to this late
_SEND = f",{schema.SEND},".encode()
_ACK = f",{schema.ACK},".encode()
_INTENDED = schema.COLUMNS.index("intended_ns")


class ClimbWatch:
    """Live counts of one run folder's sends and acks; ``verdict`` says why to stop, or ''."""

    def __init__(self, run_dir: Path, total_rates: list[float], stage_s: float) -> None:
        self.run_dir = run_dir
        self.rates = total_rates  # offered total msg/s of each stage, the warm-up first
        self.stage_s = stage_s
        self.started_ns = 0
        self.sends = 0
        self.acks = 0
        self.last_lag_s = 0.0
        self._offsets: dict[Path, int] = {}
        self._partial: dict[Path, bytes] = {}

    def _producing_started(self) -> int:
        if not self.started_ns:
            try:
                manifest = json.loads((self.run_dir / schema.RUN_JSON).read_text())
                self.started_ns = int(manifest.get("producing_started_ns") or 0)
            except (OSError, ValueError):
                pass
        return self.started_ns

    def _read(self) -> None:
        for path in sorted((self.run_dir / schema.EVENTS_DIR).glob("*.csv")):
            offset = self._offsets.get(path, 0)
            try:
                with open(path, "rb") as file:
                    file.seek(offset)
                    chunk = file.read(64 << 20)
            except OSError:
                continue
            self._offsets[path] = offset + len(chunk)
            chunk = self._partial.get(path, b"") + chunk
            cut = chunk.rfind(b"\n") + 1
            lines, self._partial[path] = chunk[:cut], chunk[cut:]
            self.sends += lines.count(_SEND)
            self.acks += lines.count(_ACK)
            last = lines.rfind(_SEND)
            if last >= 0:
                start = lines.rfind(b"\n", 0, last) + 1
                fields = lines[start : lines.find(b"\n", last)].split(b",")
                with contextlib.suppress(IndexError, ValueError):  # a row this watch cannot read: skip it
                    self.last_lag_s = (int(fields[0]) - int(fields[_INTENDED])) / 1e9

    def verdict(self) -> str:
        """Why the climb is past its limit, or '' while it may still hold."""
        started = self._producing_started()
        if not started:
            return ""
        self._read()
        elapsed = (time.time_ns() - started) / 1e9
        rate = self.rates[min(len(self.rates) - 1, int(elapsed / self.stage_s))]
        if self.sends - self.acks > BACKLOG_S * rate:
            return f"acks {self.sends - self.acks:,} behind the sends"
        if self.last_lag_s > LAG_S:
            return f"sends {self.last_lag_s:.1f} s behind schedule"
        deficit = self.scheduled(elapsed - FLUSH_SLACK_S) - self.sends
        if deficit > DEFICIT_S * rate:
            return f"{deficit:,.0f} sends short of the schedule"
        return ""

    def scheduled(self, elapsed: float) -> float:
        """Sends due ``elapsed`` seconds into producing, by the nominal stage times (stages only start later)."""
        due, left = 0.0, max(0.0, elapsed)
        for rate in self.rates:
            step = min(left, self.stage_s)
            due += rate * step
            left -= step
        return due
