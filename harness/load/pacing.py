"""Open-model pacing on an absolute schedule.

Message ``i`` of a producer is due at ``start + i / rate``, whatever happened before it: a
producer that falls behind sends at once until it catches up, so the offered rate holds and every
message's intended send time is known (the basis of latency corrected for coordinated omission).
"""

from __future__ import annotations


class Schedule:
    """When each message of one producer is due, in monotonic seconds."""

    def __init__(self, rate: float, start: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.start = start
        self.interval = 1.0 / rate

    def due(self, seq: int) -> float:
        return self.start + seq * self.interval

    def wait(self, seq: int, now: float) -> float:
        """Seconds to sleep before sending message ``seq``; 0 when it is already late."""
        return max(0.0, self.due(seq) - now)

    def lag(self, seq: int, now: float) -> float:
        """How late message ``seq`` is at ``now``, in seconds (0 if early)."""
        return max(0.0, now - self.due(seq))
