"""Latencies per message, in milliseconds, overall and per consumer, delivery class and window.

- ``e2e``: first delivery minus the actual send (what the message took);
- ``e2e_intended``: first delivery minus the send the schedule intended, so time a stalled
  generator spent not sending counts too (coordinated omission corrected);
- ``publish``: publish ack minus send;
- ``redelivery_delay``: each extra delivery minus the delivery before it;
- ``schedule_lag``: actual minus intended send (the generator's own delay), overall only.

The first four are also broken down by who saw them (``by_consumer``: the consumer of the first
delivery, or of the extra one for a redelivery delay; publish latency has no consumer and is
broken down ``by_producer`` instead), by the message's delivery class (``by_class``) and by
the window in which they were observed (``windows``: delivery, publish ack or redelivery time).

Times from two clocks can go negative when the clocks disagree: such values are counted under
``negative`` and kept in every percentile and every breakdown, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.analysis.delivery import CLASSES, DeliveryResult
from harness.analysis.eventlog import MISSING, Codes, EventLog, Ints
from harness.analysis.messages import Messages
from harness.analysis.quantiles import Ranked, window_keys
from harness.analysis.windows import checked_count

METRICS = ("e2e", "e2e_intended", "publish", "redelivery_delay", "schedule_lag")
#: The metrics with breakdowns, and whose actor each is grouped by.
BROKEN_DOWN = {"e2e": "consumer", "e2e_intended": "consumer", "publish": "producer", "redelivery_delay": "consumer"}
#: Metrics drawn as a percentile curve.
CURVES = ("e2e", "e2e_intended", "publish")


@dataclass(frozen=True)
class Observations:
    """One latency metric: its values and, for each, the message, when it was seen and by whom."""

    values_ns: Ints
    uid: Ints
    at_ns: Ints
    actor: Codes


def _pair(later: Ints, earlier: Ints) -> tuple[Ints, Ints]:
    """``later - earlier`` where both are known, and the message codes they belong to."""
    both = np.flatnonzero((later != MISSING) & (earlier != MISSING))
    return later[both] - earlier[both], both


def observations(m: Messages, delivery: DeliveryResult) -> dict[str, Observations]:
    """Every broken-down metric's values with the message, time and actor of each."""
    result: dict[str, Observations] = {}
    for name, later, earlier, actor in (
        ("e2e", m.first_deliver_ns, m.send_ns, m.first_consumer),
        ("e2e_intended", m.first_deliver_ns, m.intended_ns, m.first_consumer),
        ("publish", m.publish_ns, m.send_ns, m.producer),
    ):
        values, codes = _pair(later, earlier)
        result[name] = Observations(values, codes, later[codes], actor[codes])
    r = delivery.redeliveries
    result["redelivery_delay"] = Observations(r.delay_ns, r.uid.astype(np.int64), r.at_ns, r.consumer)
    return result


def latency(log: EventLog, m: Messages, delivery: DeliveryResult, start_ns: int, window_ns: int) -> dict[str, Any]:
    """Every latency figure of a run; windows are ``window_ns`` wide from ``start_ns``."""
    seen = observations(m, delivery)
    ranked = {name: Ranked(seen[name].values_ns) for name in BROKEN_DOWN}
    ranked["schedule_lag"] = Ranked(_pair(m.send_ns, m.intended_ns)[0])
    result: dict[str, Any] = {name: ranked[name].describe() for name in METRICS}
    by_actor: dict[str, dict[str, Any]] = {"consumer": {}, "producer": {}}
    by_class: dict[str, Any] = {}
    for name, role in BROKEN_DOWN.items():
        rows = ranked[name].grouped(seen[name].actor, len(log.actors))
        by_actor[role][name] = {log.actors[a]: row for a, row in enumerate(rows) if row is not None}
        rows = ranked[name].grouped(delivery.classes[seen[name].uid], len(CLASSES))
        by_class[name] = {CLASSES[c]: row for c, row in enumerate(rows) if row is not None}
    result["by_consumer"] = by_actor["consumer"]
    result["by_producer"] = by_actor["producer"]
    result["by_class"] = by_class
    result["windows"] = _windows(ranked, seen, start_ns, window_ns)
    result["curve"] = {name: ranked[name].curve() for name in CURVES}
    return result


def _windows(ranked: dict[str, Ranked], seen: dict[str, Observations], start_ns: int, window_ns: int) -> dict[str, Any]:
    """Percentiles per window of the time each latency was observed.

    A value observed before ``start_ns`` (a consumer's clock behind the producers') counts in the
    first window, so the windows hold every value the overall figures hold.
    """
    ends = [int(s.at_ns.max()) for s in seen.values() if len(s.at_ns)]
    count = checked_count(max(1, (max(ends) - start_ns) // window_ns + 1)) if ends else 0
    windows: dict[str, Any] = {"window_s": window_ns / 1e9, "start_s": [i * window_ns / 1e9 for i in range(count)]}
    for name in BROKEN_DOWN:
        keys = window_keys(seen[name].at_ns, start_ns, window_ns)
        windows[name] = ranked[name].grouped(keys, count) if count else []
    return windows
