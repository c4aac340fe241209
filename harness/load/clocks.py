"""Clocks for the load side: monotonic for pacing, wall-clock for the event log.

Pacing runs on ``perf_counter`` (immune to NTP steps); the event log needs wall-clock ns so that
processes can be compared. An anchor taken once per process converts one into the other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


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
