"""When each consumer was connected, from its ``connect`` and ``disconnect`` rows.

A consumer that delivered without a connect row (its row was in a lost file, say) counts as
connected for the whole run; a connect without a disconnect lasts to the end of the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from harness.analysis import eventlog as el
from harness.analysis.eventlog import EventLog
from harness.analysis.messages import Rows

_CONSUMER = re.compile(r"-c\d+$")


@dataclass(frozen=True)
class Intervals:
    """Connected intervals per consumer actor code: ``{actor: [(start_ns, end_ns), ...]}``."""

    by_actor: dict[int, list[tuple[int, int]]]

    def connected_ns(self, actor: int, start_ns: int, end_ns: int) -> int:
        """How long ``actor`` was connected within ``[start_ns, end_ns]``."""
        return sum(max(0, min(b, end_ns) - max(a, start_ns)) for a, b in self.by_actor.get(actor, []))

    def per_window(self, actor: int, start_ns: int, window_ns: int, count: int) -> np.ndarray:
        """Connected ns of ``actor`` in each of ``count`` windows from ``start_ns``."""
        lo = start_ns + np.arange(count, dtype=np.int64) * window_ns
        hi = lo + window_ns
        total = np.zeros(count, dtype=np.int64)
        for a, b in self.by_actor.get(actor, []):
            total += np.clip(np.minimum(hi, b) - np.maximum(lo, a), 0, None)
        return total


def consumer_actors(log: EventLog, deliveries: Rows) -> list[int]:
    """Actor codes of consumers: every actor that received a delivery or is named ``<worker>-c<n>``."""
    delivering = set(np.unique(deliveries.actor).tolist())
    named = {code for code, name in enumerate(log.actors) if _CONSUMER.search(name)}
    return sorted(code for code in delivering | named if code >= 0)


def intervals(log: EventLog, consumers: list[int], start_ns: int, end_ns: int) -> Intervals:
    """Pair each consumer's connect and disconnect rows into intervals within the log."""
    kinds = log.column("kind")
    mask = (kinds == el.CONNECT) | (kinds == el.DISCONNECT)
    rows = np.flatnonzero(mask)
    actors = log.column("actor")[rows]
    times = log.column("t_ns")[rows]
    is_connect = kinds[rows] == el.CONNECT
    result: dict[int, list[tuple[int, int]]] = {}
    for actor in consumers:
        mine = np.flatnonzero(actors == actor)
        mine = mine[np.lexsort((~is_connect[mine], times[mine]))]  # at one instant, a connect goes first
        spans: list[tuple[int, int]] = []
        opened: int | None = None
        for i in mine:
            if is_connect[i]:
                opened = int(times[i]) if opened is None else opened
            else:
                spans.append((start_ns if opened is None else opened, int(times[i])))
                opened = None
        if opened is not None:
            spans.append((opened, end_ns))
        result[actor] = spans or [(start_ns, end_ns)]
    return Intervals(result)
