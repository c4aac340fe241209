"""Clocks for the load side: monotonic for pacing, wall-clock for the event log.

Pacing runs on ``perf_counter`` (immune to NTP steps); the event log needs wall-clock ns so that
processes can be compared. An anchor taken once per process converts one into the other. Across
machines, each worker's offset to the master is estimated by ping (offset = t1 - (t0 + t2) / 2,
error at most half the round trip) at the start and the end of a run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ClockAnchor:
    """A simultaneous reading of the wall clock (ns) and the monotonic clock (s)."""

    wall_ns: int
    mono: float

    @classmethod
    def now(cls) -> ClockAnchor:
        return cls(time.time_ns(), time.perf_counter())

    def wall_ns_at(self, mono: float) -> int:
        """The wall-clock time, in ns, of a monotonic instant."""
        return self.wall_ns + round((mono - self.mono) * 1e9)


def clock_record(start: dict[str, tuple[int, int]], end: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """run.json's clock keys: the mean of the start and end offsets; uncertainty covers their drift."""
    offsets: dict[str, int] = {}
    uncertainty: dict[str, int] = {}
    for tag in sorted(set(start) | set(end)):
        samples = [s for s in (start.get(tag), end.get(tag)) if s is not None]
        values = [s[0] for s in samples]
        offsets[tag] = round(sum(values) / len(values))
        uncertainty[tag] = max(s[1] for s in samples) + (max(values) - min(values)) // 2
    pings = {tag: {"start": start.get(tag), "end": end.get(tag)} for tag in offsets}
    return {"clock_offsets_ns": offsets, "clock_uncertainty_ns": uncertainty, "clock_pings": pings}
