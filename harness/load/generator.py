"""How hard the load generator itself worked: its CPU and how late its sends were.

If the generator, not the endpoint, is the bottleneck, latency and throughput figures describe the
harness. Each process samples its own CPU once a second (process time over wall time) and keeps
a histogram of schedule lag (actual minus intended send time); a run whose lag p99 is over
:data:`~harness.events.schema.SATURATION_LAG_MS` is marked saturated and ends with a warning. Sends that make up for the
time a producer's socket was down are late because of the endpoint, not the generator: their lag
goes into a histogram of its own (``catch_up_sends``, ``catch_up_lag_max_ms``) and never into the
saturation figure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from harness.events.schema import SATURATION_LAG_MS
from harness.load.stats import Histogram


class GeneratorMonitor:
    """CPU samples and the schedule-lag histogram of one process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, cpu: Callable[[], float] = time.process_time):
        self._clock = clock
        self._cpu = cpu
        self.lag = Histogram()
        self.catch_up = Histogram()  # sends after a producer reconnected, until it was back on schedule
        self.cpu_samples: list[float] = []
        self._last = (clock(), cpu())

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
            "schedule_lag_p99_ms": self.lag.percentile(0.99) or 0.0,
            "schedule_lag_max_ms": (max(self.lag.counts) / 10.0) if self.lag.counts else 0.0,
            "sends": self.lag.total,
            "lag_histogram": self.lag.counts,
            "catch_up_sends": self.catch_up.total,
            "catch_up_lag_max_ms": (max(self.catch_up.counts) / 10.0) if self.catch_up.counts else 0.0,
        }


def combine(per_worker: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The run-level ``generator`` record of run.json from each process's summary."""
    lag = Histogram()
    for summary in per_worker.values():
        lag.merge(summary.get("lag_histogram") or {})
    cpu_max = [float(s.get("cpu_percent_max", 0.0)) for s in per_worker.values()]
    cpu_mean = [float(s.get("cpu_percent_mean", 0.0)) for s in per_worker.values()]
    p99 = lag.percentile(0.99) or 0.0
    return {
        "cpu_percent_max": max(cpu_max, default=0.0),
        "cpu_percent_mean": round(sum(cpu_mean) / len(cpu_mean), 1) if cpu_mean else 0.0,
        "schedule_lag_p99_ms": p99,
        "saturated": p99 > SATURATION_LAG_MS,
        "catch_up_sends": sum(int(s.get("catch_up_sends", 0)) for s in per_worker.values()),
        "per_worker": {
            tag: {k: v for k, v in summary.items() if k != "lag_histogram"} for tag, summary in per_worker.items()
        },
    }
