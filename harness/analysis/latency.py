"""Latencies per message, in milliseconds, overall and per consumer, delivery class and window.

- ``e2e``: first delivery minus the actual send (what the message took);
- ``e2e_intended``: first delivery minus the send the schedule intended, so time a stalled
  generator spent not sending counts too (coordinated omission corrected);
- ``publish``: publish ack minus send;
- ``redelivery_delay``: each extra delivery minus the delivery before it;
- ``schedule_lag``: actual minus intended send (the generator's own delay).

Times from two clocks can go negative when the clocks disagree: such values are counted under
``negative`` and kept in every percentile, never dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.analysis.delivery import CLASSES, DeliveryResult
from harness.analysis.eventlog import MISSING, EventLog, Ints
from harness.analysis.messages import Messages
from harness.analysis.quantiles import Ranked, window_keys

METRICS = ("e2e", "e2e_intended", "publish", "redelivery_delay", "schedule_lag")
WINDOWED = ("e2e", "e2e_intended", "publish")


def _pair(later: Ints, earlier: Ints) -> tuple[Ints, np.ndarray]:
    """``later - earlier`` where both are known, and the message codes they belong to."""
    both = np.flatnonzero((later != MISSING) & (earlier != MISSING))
    return later[both] - earlier[both], both


def latency(log: EventLog, m: Messages, delivery: DeliveryResult, start_ns: int, window_ns: int) -> dict[str, Any]:
    """Every latency figure of a run; windows are ``window_ns`` wide from ``start_ns``."""
    e2e, e2e_codes = _pair(m.first_deliver_ns, m.send_ns)
    intended, intended_codes = _pair(m.first_deliver_ns, m.intended_ns)
    publish, publish_codes = _pair(m.publish_ns, m.send_ns)
    lag, _ = _pair(m.send_ns, m.intended_ns)
    values = {
        "e2e": e2e,
        "e2e_intended": intended,
        "publish": publish,
        "redelivery_delay": delivery.redeliveries.delay_ns,
        "schedule_lag": lag,
    }
    ranked = {name: Ranked(values[name]) for name in METRICS}
    result: dict[str, Any] = {name: ranked[name].describe() for name in METRICS}
    consumers = len(log.actors)
    by_consumer: dict[str, dict[str, Any]] = {}
    for name, codes in (("e2e", e2e_codes), ("e2e_intended", intended_codes)):
        rows = ranked[name].grouped(m.first_consumer[codes], consumers)
        by_consumer[name] = {log.actors[c]: row for c, row in enumerate(rows) if row is not None}
    result["by_consumer"] = by_consumer
    class_rows = ranked["e2e"].grouped(delivery.classes[e2e_codes], len(CLASSES))
    result["by_class"] = {"e2e": {CLASSES[c]: row for c, row in enumerate(class_rows) if row is not None}}
    observed = {
        "e2e": m.first_deliver_ns[e2e_codes],
        "e2e_intended": m.first_deliver_ns[intended_codes],
        "publish": m.publish_ns[publish_codes],
    }
    result["windows"] = _windows(ranked, observed, start_ns, window_ns)
    result["curve"] = {name: ranked[name].curve() for name in WINDOWED}
    return result


def _windows(ranked: dict[str, Ranked], observed: dict[str, Ints], start_ns: int, window_ns: int) -> dict[str, Any]:
    """Percentiles per window of the time each latency was observed (delivery or publish ack).

    A value observed before ``start_ns`` (a consumer's clock behind the producers') counts in the
    first window, so the windows hold every value the overall figures hold.
    """
    ends = [int(t.max()) for t in observed.values() if len(t)]
    count = max(1, (max(ends) - start_ns) // window_ns + 1) if ends else 0
    windows: dict[str, Any] = {"window_s": window_ns / 1e9, "start_s": [i * window_ns / 1e9 for i in range(count)]}
    for name in WINDOWED:
        keys = window_keys(observed[name], start_ns, window_ns)
        windows[name] = ranked[name].grouped(keys, count) if count else []
    return windows
