"""How hard the load generator itself worked: its CPU and how late its sends were.

If the generator, not the endpoint, is the bottleneck, latency and throughput figures describe the
harness. Each process samples its own CPU once a second (process time over wall time) and keeps
a histogram of schedule lag (actual minus intended send time). A process is saturated when its
sends stay late: in each of :data:`~harness.events.schema.SATURATION_SUSTAINED_S` consecutive
seconds, more than :data:`~harness.events.schema.SATURATION_LATE_SHARE` of the sends due were over
:data:`~harness.events.schema.SATURATION_LAG_MS` late (:func:`lag_is_sustained`). A single stall
(a busy machine, a pause of the process) delays the sends of a moment, which on a short run is
enough to move the lag p99, but not the sends of seconds: only a generator that cannot keep up does
that. Sends that make up for the time a producer's socket was down are late because of the
endpoint, not the generator: their lag goes into a histogram of its own (``catch_up_sends``,
``catch_up_lag_max_ms``) and into neither the saturation rule nor the p99. CPU is judged the same
way: ``cpu_saturated`` when the samples stay over
:data:`~harness.events.schema.SATURATION_CPU_PERCENT` for those seconds in a row, not for one busy one.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable
from typing import Any

from harness.events.saturation import cpu_is_sustained, lag_is_sustained
from harness.events.schema import SATURATION_LAG_MS
from harness.load.stats import Histogram


class SustainedLag:
    """Per-second counts of one process's on-schedule sends and of the late ones among them.

    A send counts in the second it was due, not the one it went in: sends held up by a stall go
    out in a burst, and only by their due times do they show how long the generator was behind.
    Two 8-byte counters a second: a day's run keeps 1.4 MB.
    """

    def __init__(self) -> None:
        self.start: float | None = None  # the first send's due time; seconds are counted from it
        self.sends = array("q")
        self.late = array("q")
        self.late_total = 0

    def add(self, lag_ms: float, now: float) -> None:
        due = now - lag_ms / 1000.0
        if self.start is None:
            self.start = due
        second = max(0, int(due - self.start))
        if second >= len(self.sends):
            grow = second + 1 - len(self.sends)
            self.sends.extend([0] * grow)
            self.late.extend([0] * grow)
        self.sends[second] += 1
        if lag_ms > SATURATION_LAG_MS:
            self.late[second] += 1
            self.late_total += 1

    def saturated(self) -> bool:
        return lag_is_sustained(self.sends, self.late)


class GeneratorMonitor:
    """CPU samples and the schedule-lag histogram of one process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, cpu: Callable[[], float] = time.process_time):
        self._clock = clock
        self._cpu = cpu
        self.lag = Histogram()
        self.catch_up = Histogram()  # sends that were due while a producer's socket was down
        self.sustained = SustainedLag()
        self.cpu_samples: list[float] = []
        self._last = (clock(), cpu())

    def add_send(self, lag_ms: float, catch_up: bool = False) -> None:
        """One send's schedule lag; ``catch_up`` when it was due while its producer was cut off."""
        if catch_up:
            self.catch_up.add(lag_ms)
        else:
            self.lag.add(lag_ms)
            self.sustained.add(lag_ms, self._clock())

    def sample(self, keep: bool = True) -> float:
        """CPU percent since the previous call; kept (for max and mean) when ``keep``."""
        now, cpu = self._clock(), self._cpu()
        wall = now - self._last[0]
        percent = 100.0 * (cpu - self._last[1]) / wall if wall > 0 else 0.0
        self._last = (now, cpu)
        if keep:
            self.cpu_samples.append(percent)
        return percent

    def summary(self) -> dict[str, Any]:
        samples = self.cpu_samples
        return {
            "cpu_percent_max": round(max(samples), 1) if samples else 0.0,
            "cpu_percent_mean": round(sum(samples) / len(samples), 1) if samples else 0.0,
            "cpu_saturated": cpu_is_sustained(samples),
            "schedule_lag_p99_ms": self.lag.percentile(0.99) or 0.0,
            "schedule_lag_max_ms": (max(self.lag.counts) / 10.0) if self.lag.counts else 0.0,
            "sends": self.lag.total,
            "late_sends": self.sustained.late_total,
            "saturated": self.sustained.saturated(),
            "lag_histogram": self.lag.counts,
            "catch_up_sends": self.catch_up.total,
            "catch_up_lag_max_ms": (max(self.catch_up.counts) / 10.0) if self.catch_up.counts else 0.0,
        }


def combine(per_worker: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The run-level ``generator`` record of run.json from each process's summary.

    Saturation is a process's own: each process is one generator on one core, so the run is
    saturated when any process was.
    """
    lag = Histogram()
    for summary in per_worker.values():
        lag.merge(summary.get("lag_histogram") or {})
    cpu_max = [float(s.get("cpu_percent_max", 0.0)) for s in per_worker.values()]
    cpu_mean = [float(s.get("cpu_percent_mean", 0.0)) for s in per_worker.values()]
    return {
        "cpu_percent_max": max(cpu_max, default=0.0),
        "cpu_percent_mean": round(sum(cpu_mean) / len(cpu_mean), 1) if cpu_mean else 0.0,
        "cpu_saturated": any(bool(s.get("cpu_saturated")) for s in per_worker.values()),
        "schedule_lag_p99_ms": lag.percentile(0.99) or 0.0,
        "late_sends": sum(int(s.get("late_sends", 0)) for s in per_worker.values()),
        "saturated": any(bool(s.get("saturated")) for s in per_worker.values()),
        "catch_up_sends": sum(int(s.get("catch_up_sends", 0)) for s in per_worker.values()),
        "per_worker": {
            tag: {k: v for k, v in summary.items() if k != "lag_histogram"} for tag, summary in per_worker.items()
        },
    }
