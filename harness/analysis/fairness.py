"""How evenly a Shared subscription spread its messages over the consumers.

Each consumer's allocation is its deliveries per second connected (so a consumer that joined
late is not called unlucky); over those, Jain's index (1 = perfectly even, 1/n = one consumer got
everything), the max/min ratio and the coefficient of variation, for the whole run and per window.
A consumer is *starved* when, while connected, it received nothing for longer than a threshold
of time during which the backlog was above zero (time with an empty backlog does not count, so
a fair round robin at a low rate starves nobody). Round-robin run lengths are the lengths of runs of consecutive
deliveries (in time order) to the same consumer. A delivery stamped before the run's start (a
consumer clock behind the producers') counts in the first window, as in the overall figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.analysis.connections import Intervals, consumer_actors, intervals
from harness.analysis.eventlog import EventLog, Ints
from harness.analysis.messages import Messages
from harness.analysis.quantiles import rank_index, window_keys
from harness.analysis.throughput import Backlog
from harness.analysis.windows import checked_count

#: Only Shared promises an even spread (Key_Shared follows the keys): the index is judged there alone.
FAIR_TYPES = ("Shared",)
#: Silent gaps per connection whose busy time is measured: the longest ones.
GAPS_MEASURED = 1024


def jain(x: np.ndarray) -> float | None:
    """Jain's fairness index of non-negative allocations; None for no allocation at all."""
    total = float(x.sum())
    if not len(x) or total <= 0:
        return None
    return total * total / (len(x) * float((x * x).sum()))


def spread(x: np.ndarray) -> dict[str, float | None]:
    """Jain's index, max/min ratio (None when someone got nothing) and coefficient of variation."""
    mean = float(x.mean()) if len(x) else 0.0
    return {
        "jain": _round(jain(x)),
        "max_min_ratio": _round(float(x.max() / x.min())) if len(x) and x.min() > 0 else None,
        "cv": _round(float(x.std() / mean)) if mean > 0 else None,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def fairness(
    log: EventLog,
    m: Messages,
    queue: Backlog,
    subscription_type: str,
    start_ns: int,
    end_ns: int,
    window_ns: int,
    starvation_ns: int,
    departed: Mapping[int, int] | None = None,
) -> dict[str, Any]:
    """``departed``: lost workers' consumers and when they left (their connected time ends there)."""
    consumers = sorted(consumer_actors(log, m.deliveries), key=lambda code: log.actors[code])
    connected = intervals(log, consumers, start_ns, end_ns, departed)
    delivered = np.bincount(m.deliveries.actor[m.deliveries.actor >= 0], minlength=len(log.actors))
    span_s = max(end_ns - start_ns, 1) / 1e9
    conn_s = np.array([connected.connected_ns(c, start_ns, end_ns) / 1e9 for c in consumers], dtype=float)
    counts = delivered[consumers].astype(float) if consumers else np.zeros(0)
    present = conn_s > 0
    total = counts.sum()
    expected_share = conn_s / conn_s.sum() if conn_s.sum() > 0 else np.zeros(len(consumers))
    allocation = np.where(present, counts / np.where(present, conn_s, 1), 0.0)[present]
    starved_s = _starvation(m, queue, connected, consumers, end_ns)
    starved = [log.actors[c] for c, s in zip(consumers, starved_s, strict=True) if s * 1e9 > starvation_ns]
    applies = subscription_type in FAIR_TYPES and int(present.sum()) >= 2
    result: dict[str, Any] = {
        "applies": applies,
        "subscription_type": subscription_type,
        **spread(allocation),
        "starved": len(starved),
        "starved_consumers": starved,
        "starvation_threshold_s": starvation_ns / 1e9,
        "span_s": round(span_s, 6),
        "consumers": [
            {
                "consumer": log.actors[c],
                "delivered": int(counts[i]),
                "share": round(counts[i] / total, 6) if total else None,
                "expected_share": round(float(expected_share[i]), 6),
                "expected": round(float(expected_share[i] * total), 3),
                "connected_s": round(float(conn_s[i]), 6),
                "longest_starved_s": round(float(starved_s[i]), 6),
            }
            for i, c in enumerate(consumers)
        ],
        "windows": _windows(m, connected, consumers, start_ns, end_ns, window_ns),
        "round_robin": round_robin(m.deliveries.t_ns, m.deliveries.actor),
    }
    return result


def _windows(
    m: Messages, connected: Intervals, consumers: list[int], start_ns: int, end_ns: int, window_ns: int
) -> dict[str, Any]:
    count = checked_count(max(1, (end_ns - start_ns) // window_ns + 1))
    windows: dict[str, Any] = {"window_s": window_ns / 1e9, "start_s": [], "jain": [], "max_min_ratio": [], "cv": []}
    if not consumers:
        return windows
    d = m.deliveries
    index = {c: i for i, c in enumerate(consumers)}
    slot = np.array([index.get(int(a), -1) for a in range(max(consumers) + 1)], dtype=np.int64)
    inside = (d.actor >= 0) & (d.actor <= max(consumers))
    keys = window_keys(d.t_ns[inside], start_ns, window_ns) * len(consumers) + slot[d.actor[inside]]
    keys = keys[slot[d.actor[inside]] >= 0]
    per = np.bincount(keys, minlength=count * len(consumers))[: count * len(consumers)].reshape(count, -1)
    conn = np.stack([connected.per_window(c, start_ns, window_ns, int(count)) for c in consumers], axis=1) / 1e9
    for w in range(int(count)):
        present = conn[w] > 0
        x = per[w][present] / conn[w][present]
        figures = spread(x) if per[w].sum() else {"jain": None, "max_min_ratio": None, "cv": None}
        windows["start_s"].append(w * window_ns / 1e9)
        for name, value in figures.items():
            windows[name].append(value)
    return windows


def _starvation(m: Messages, queue: Backlog, connected: Intervals, consumers: list[int], end_ns: int) -> np.ndarray:
    """Per consumer, the longest silent gap's time with a backlog above zero, in seconds.

    Only the longest gaps are measured (the busy time of a gap is at most its length).
    """
    longest = np.zeros(len(consumers))
    d = m.deliveries
    for i, c in enumerate(consumers):
        times = np.sort(d.t_ns[d.actor == c])
        for a, b in connected.by_actor.get(c, []):
            inside = times[(times >= a) & (times <= b)]
            edges = np.concatenate(([a], inside, [max(a, min(b, end_ns))]))
            lengths = np.diff(edges)
            top = np.argsort(lengths)[-GAPS_MEASURED:]
            busy = queue.busy(edges[top], edges[top + 1])
            if len(busy):
                longest[i] = max(longest[i], float(busy.max()) / 1e9)
    return longest


def round_robin(t_ns: Ints, actor: np.ndarray) -> dict[str, Any]:
    """Lengths of runs of consecutive deliveries to one consumer: count, mean, p50, p99, max."""
    if not len(t_ns):
        return {"runs": 0, "mean": None, "p50": None, "p99": None, "max": None}
    ordered = actor[np.argsort(t_ns, kind="stable")]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    lengths = np.sort(np.diff(np.concatenate((starts, [len(ordered)]))))
    n = len(lengths)
    return {
        "runs": int(n),
        "mean": round(float(lengths.mean()), 3),
        "p50": int(lengths[rank_index(n, 0.5)]),
        "p99": int(lengths[rank_index(n, 0.99)]),
        "max": int(lengths[-1]),
    }
