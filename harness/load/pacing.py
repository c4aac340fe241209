"""Open-model pacing on an absolute schedule.

Message ``i`` of a producer is due at ``start + i / rate``, whatever happened before it: a
producer that falls behind sends at once until it catches up, so the offered rate holds and every
message's intended send time is known (the basis of latency corrected for coordinated omission).
A rate change (a new stage of a step or ramp profile) starts a new segment at the next message's
due time, so the schedule never jumps backwards or skips ahead.
"""

from __future__ import annotations


class Schedule:
    """When each message of one producer is due, in monotonic seconds."""

    def __init__(self, rate: float, start: float, first_seq: int = 0) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.start = start
        self.first_seq = first_seq
        self.interval = 1.0 / rate

    def due(self, seq: int) -> float:
        return self.start + (seq - self.first_seq) * self.interval

    def wait(self, seq: int, now: float) -> float:
        """Seconds to sleep before sending message ``seq``; 0 when it is already late."""
        return max(0.0, self.due(seq) - now)

    def lag(self, seq: int, now: float) -> float:
        """How late message ``seq`` is at ``now``, in seconds (0 if early)."""
        return max(0.0, now - self.due(seq))

    def retimed(self, rate: float, seq: int, now: float) -> Schedule:
        """The schedule at a new rate from message ``seq`` on: due when it was, or now if that is past."""
        if rate == self.rate:
            return self
        return Schedule(rate, max(now, self.due(seq)), seq)
