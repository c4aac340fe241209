"""Live counters of one load process, and their aggregate across workers for the web UI.

Users bump plain integers (a few nanoseconds each); every few seconds a process hands the master
its deltas (:meth:`ProcessCounters.take_delta`, through Locust's ``report_to_master``), and the
master folds them into a :class:`LiveView`, which the "Delivery" tab reads. Latencies go into
small fixed-resolution histograms so the master can merge percentiles exactly.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.events.schema import ENDPOINT_LOST_BOUND_S
from harness.load.ledger import DrainLedger, SeqDeltas
from harness.load.outages import UNANSWERED, OutageBook

#: Histogram keys are tenths of a millisecond below 100 ms, whole milliseconds above.
_FINE_LIMIT_MS = 100.0


def latency_key(ms: float) -> int:
    """The histogram bucket of a latency: 0.1 ms resolution below 100 ms, 1 ms above."""
    if ms < _FINE_LIMIT_MS:
        return int(ms * 10) if ms > 0 else 0
    return int(ms) * 10


class Histogram:
    """Counts per latency bucket (keys in tenths of a millisecond); mergeable and msgpack-friendly."""

    __slots__ = ("counts", "total")

    def __init__(self, counts: dict[int, int] | None = None) -> None:
        self.counts: dict[int, int] = dict(counts or {})
        self.total = sum(self.counts.values())

    def add(self, ms: float) -> None:
        key = latency_key(ms)
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        self.total += 1

    def merge(self, counts: dict[int, int]) -> None:
        for key, count in counts.items():
            self.counts[int(key)] = self.counts.get(int(key), 0) + count
            self.total += count

    def percentile(self, fraction: float) -> float | None:
        """The latency (ms) at or below which ``fraction`` of the samples fall; None when empty."""
        if not self.total:
            return None
        rank = fraction * self.total
        seen = 0
        for key in sorted(self.counts):
            seen += self.counts[key]
            if seen >= rank:
                return key / 10.0
        return max(self.counts) / 10.0


@dataclass
class ConsumerCounts:
    """One consumer's tallies: ``[delivered, acked, redelivered, nacked]`` as attributes."""

    delivered: int = 0
    acked: int = 0
    redelivered: int = 0
    nacked: int = 0

    def as_list(self) -> list[int]:
        return [self.delivered, self.acked, self.redelivered, self.nacked]


@dataclass
class ProcessCounters:
    """Everything one process counts; the drain decision and the live tab both read these."""

    sent: int = 0
    published: int = 0
    publish_errors: int = 0
    awaiting_publish_ack: int = 0
    run_deliveries: int = 0  # deliveries of this run's messages (not of an earlier run's leftovers)
    consumers_connected: int = 0
    seqs: SeqDeltas = field(default_factory=SeqDeltas)  # what the drain waits for, shipped with each status
    outages: OutageBook = field(default_factory=lambda: OutageBook(int(ENDPOINT_LOST_BOUND_S * 1e9)))
    #: actor -> when (perf_counter) its oldest request still unanswered went out, or None
    answers: dict[str, Callable[[], float | None]] = field(default_factory=dict)
    consumers: dict[str, ConsumerCounts] = field(default_factory=dict)
    e2e: Histogram = field(default_factory=Histogram)
    _reported: dict[str, list[int]] = field(default_factory=dict)
    _reported_totals: tuple[int, int, int] = (0, 0, 0)

    def consumer(self, actor: str) -> ConsumerCounts:
        counts = self.consumers.get(actor)
        if counts is None:
            counts = self.consumers[actor] = ConsumerCounts()
        return counts

    def status(self) -> dict[str, Any]:
        """Cumulative figures the controller needs to decide the phases (absolute, so resending is harmless).

        With them go the sends so far and who is cut off from the endpoint since when (``cut_off``,
        ``outages``): the master decides from these whether the endpoint was lost.
        """
        self.book_unanswered(time.perf_counter(), time.time_ns())
        return {
            "consumers": self.consumers_connected,
            "awaiting": self.awaiting_publish_ack,
            "delivered": self.run_deliveries,
            "sent": self.sent,
            **self.outages.status(),
        }

    def book_unanswered(self, now: float, now_ns: int) -> None:
        """An actor whose oldest request has waited longer than the bound is cut off since it went out."""
        bound_s = self.outages.bound_ns / 1e9
        for actor, since in self.answers.items():
            key = actor + UNANSWERED
            oldest = since()
            if oldest is not None and now - oldest > bound_s:
                self.outages.cut(key, now_ns - int((now - oldest) * 1e9))
            elif key in self.outages.open:
                self.outages.restore(key, now_ns)

    def take_delta(self) -> dict[str, Any]:
        """What changed since the last call, for the master's live view; resets the latency window."""
        per_consumer: dict[str, list[int]] = {}
        for actor, counts in self.consumers.items():
            now = counts.as_list()
            before = self._reported.get(actor, [0, 0, 0, 0])
            if now != before:
                per_consumer[actor] = [a - b for a, b in zip(now, before, strict=True)]
                self._reported[actor] = now
        totals = (self.sent, self.published, self.publish_errors)
        delta_totals = [a - b for a, b in zip(totals, self._reported_totals, strict=True)]
        self._reported_totals = totals
        e2e, self.e2e = self.e2e.counts, Histogram()
        return {"consumers": per_consumer, "totals": delta_totals, "e2e": e2e}


def jain_index(values: list[int]) -> float | None:
    """Jain's fairness index: 1.0 when every value is equal, 1/n when one takes everything."""
    if not values or not any(values):
        return None
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values))


class LiveView:
    """The master's (or local process's) aggregate of every process's deltas, for the Delivery tab."""

    def __init__(self, window_s: float = 10.0, clock: Any = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        self.per_consumer: dict[str, list[int]] = {}
        self.totals = [0, 0, 0]  # sent, published, publish errors
        self._windows: deque[tuple[float, dict[int, int]]] = deque()
        self.statuses: dict[str, dict[str, Any]] = {}  # the latest status of each process, by tag
        self.ledger = DrainLedger()  # this run's messages published and acknowledged, from every process
        self.report_url = ""
        self.report_title = ""

    def merge(self, delta: dict[str, Any]) -> None:
        for actor, change in (delta.get("consumers") or {}).items():
            row = self.per_consumer.setdefault(str(actor), [0, 0, 0, 0])
            for i, value in enumerate(change):
                row[i] += int(value)
        for i, value in enumerate(delta.get("totals") or []):
            self.totals[i] += int(value)
        if delta.get("e2e"):
            self._windows.append((self._clock(), delta["e2e"]))

    def window_histogram(self) -> Histogram:
        horizon = self._clock() - self.window_s
        while self._windows and self._windows[0][0] < horizon:
            self._windows.popleft()
        histogram = Histogram()
        for _, counts in self._windows:
            histogram.merge(counts)
        return histogram

    def in_flight(self) -> int:
        """Messages of this run published and not yet acknowledged by any consumer."""
        return self.ledger.unsettled

    def rows(self) -> list[dict[str, Any]]:
        """One row per consumer, then a row for the whole subscription (and one linking the report)."""
        rows: list[dict[str, Any]] = [
            {"name": actor, "delivered": d, "acked": a, "redelivered": r, "nacked": n}
            for actor, (d, a, r, n) in sorted(self.per_consumer.items())
        ]
        window = self.window_histogram()
        fairness = jain_index([row[0] for row in self.per_consumer.values()])
        columns = list(zip(*self.per_consumer.values(), strict=True)) or [(), (), (), ()]
        rows.append(
            {
                "name": "all consumers",
                "delivered": sum(columns[0]),
                "acked": sum(columns[1]),
                "redelivered": sum(columns[2]),
                "nacked": sum(columns[3]),
                "in_flight": self.in_flight(),
                "sent": self.totals[0],
                "publish_errors": self.totals[2],
                "e2e_p50_ms": _ms(window.percentile(0.5)),
                "e2e_p99_ms": _ms(window.percentile(0.99)),
                "fairness": "" if fairness is None else f"{fairness:.3f}",
            }
        )
        if self.report_url:
            rows.append({"name": self.report_title, "link": self.report_url})
        return rows


#: The Delivery tab's columns, in order: (row key, title).
COLUMNS = (
    ("name", "Consumer"),
    ("delivered", "Delivered"),
    ("acked", "Acked"),
    ("redelivered", "Redelivered"),
    ("nacked", "Nacked"),
    ("in_flight", "In flight"),
    ("sent", "Sent"),
    ("publish_errors", "Publish errors"),
    ("e2e_p50_ms", "E2E p50 ms (last 10 s)"),
    ("e2e_p99_ms", "E2E p99 ms (last 10 s)"),
    ("fairness", "Fairness (Jain)"),
    ("link", "Report"),
)


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"
