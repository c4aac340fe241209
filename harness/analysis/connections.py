"""When each consumer was connected, from its ``connect`` and ``disconnect`` rows.

A consumer that delivered without a connect row (its row was in a lost file, say) counts as
connected for the whole run; a connect without a disconnect lasts to the end of the log.

A worker the master marked lost took its actors with it: each is given a synthetic departure
(:class:`Departures`) at ``min(lost_ns, just after the last row any actor of that worker recorded)``.
It ends their connected time and explains redeliveries of what they held, like a disconnect row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from harness.analysis import eventlog as el
from harness.analysis.eventlog import Bools, EventLog
from harness.analysis.messages import Rows
from harness.analysis.runinfo import LostWorker

_CONSUMER = re.compile(r"-c\d+$")
_FOREVER = np.iinfo(np.int64).max


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


@dataclass(frozen=True)
class LeftWorker:
    """A lost worker as the analysis sees it: when its actors are taken to have left, and who they were."""

    worker: str
    lost_ns: int | None
    #: None when the worker recorded no row and its loss time is unknown: nothing of it is in the log.
    left_ns: int | None
    actors: tuple[int, ...]
    #: Those of ``actors`` that are consumers (see :func:`consumer_actors`).
    consumers: tuple[int, ...] = ()

    @property
    def may_have_held(self) -> bool:
        """Could it have held messages? Yes if it had a consumer, or if it left no row to tell."""
        return bool(self.consumers) or not self.actors


@dataclass(frozen=True)
class Departures:
    """Synthetic departures of every actor of a lost worker: ``{actor code: left_ns}``."""

    at_ns: dict[int, int] = field(default_factory=dict)
    workers: tuple[LeftWorker, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.workers)

    def rows(self) -> Rows:
        """The departures as ``disconnect``-like rows (no uid, no log position)."""
        actors = np.array(sorted(self.at_ns), dtype=np.int32)
        times = np.array([self.at_ns[int(a)] for a in actors], dtype=np.int64)
        return Rows(np.full(len(actors), el.NO_CODE, dtype=np.int32), times, actors, np.full(len(actors), -1))

    def departed(self, actors: np.ndarray) -> Bools:
        """Which of ``actors`` (codes) belong to a lost worker."""
        mask: Bools = np.isin(actors, np.array(sorted(self.at_ns), dtype=np.int64))
        return mask

    def left_at(self, actors: np.ndarray, base: int) -> np.ndarray:
        """Per actor code, its departure less ``base`` as a float (as :mod:`redelivery` joins times); inf if none."""
        size = max(self.at_ns, default=-1) + 1
        table = np.full(size + 1, np.inf)  # the last slot: actors that did not depart
        for actor, t in self.at_ns.items():
            table[actor] = float(np.int64(t - base))
        codes = np.asarray(actors, dtype=np.int64)
        values: np.ndarray = table[np.where((codes >= 0) & (codes < size), codes, size)]
        return values

    @property
    def held_until_ns(self) -> int | None:
        """Until when a lost consumer may have taken (and acked, unreported) messages: the latest
        ``lost_ns`` (else departure) of a lost worker that may have held some; None if none could.

        A worker with neither (no row and no loss time) may have held anything: until the end.
        """
        times = [w.lost_ns if w.lost_ns is not None else w.left_ns for w in self.workers if w.may_have_held]
        if not times:
            return None
        return max(_FOREVER if t is None else t for t in times)


def departures(log: EventLog, lost: tuple[LostWorker, ...], deliveries: Rows | None = None) -> Departures:
    """When each lost worker's actors are taken to have left (see the module docstring)."""
    if not lost:
        return Departures()
    prefixes = tuple(worker.prefix for worker in lost)
    last = _last_row_per_actor(log, [code for code, name in enumerate(log.actors) if name.startswith(prefixes)])
    consumers = set(consumer_actors(log, deliveries if deliveries is not None else _no_rows()))
    at_ns: dict[int, int] = {}
    workers = []
    for worker in lost:
        mine = tuple(code for code, name in enumerate(log.actors) if name.startswith(worker.prefix))
        seen = [last[code] for code in mine if code in last]
        after_last = max(seen) + 1 if seen else None
        candidates = [t for t in (worker.lost_ns, after_last) if t is not None]
        left_ns = min(candidates) if candidates else None
        if left_ns is not None:
            at_ns.update((code, left_ns) for code in mine)
        held = tuple(code for code in mine if code in consumers)
        workers.append(LeftWorker(worker.worker, worker.lost_ns, left_ns, mine, held))
    return Departures(at_ns, tuple(workers))


def _no_rows() -> Rows:
    empty = np.zeros(0, dtype=np.int64)
    return Rows(empty.astype(np.int32), empty, empty.astype(np.int32), empty)


def _last_row_per_actor(log: EventLog, codes: list[int]) -> dict[int, int]:
    """The time of the last row of each of ``codes`` that has one (one pass over the log)."""
    actors = log.column("actor")
    mine = np.isin(actors, np.array(codes, dtype=np.int64))
    if not codes or not mine.any():
        return {}
    last = np.full(len(log.actors), np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, actors[mine], log.column("t_ns")[mine])
    return {code: int(last[code]) for code in codes if last[code] != np.iinfo(np.int64).min}


def describe(log: EventLog, gone: Departures) -> list[dict[str, object]]:
    """The lost workers for summary.json: when lost, when taken as left, their consumers by name."""
    return [
        {
            "worker": w.worker,
            "lost_ns": w.lost_ns,
            "left_ns": w.left_ns,
            "consumers": sorted(log.actors[c] for c in w.consumers),
            "actors": len(w.actors),
        }
        for w in gone.workers
    ]


def consumer_actors(log: EventLog, deliveries: Rows) -> list[int]:
    """Actor codes of consumers: every actor that received a delivery or is named ``<worker>-c<n>``."""
    delivering = set(np.unique(deliveries.actor).tolist())
    named = {code for code, name in enumerate(log.actors) if _CONSUMER.search(name)}
    return sorted(code for code in delivering | named if code >= 0)


def intervals(
    log: EventLog, consumers: list[int], start_ns: int, end_ns: int, departed: Mapping[int, int] | None = None
) -> Intervals:
    """Pair each consumer's connect and disconnect rows into intervals within the log.

    ``departed`` (actor code: ns, see :class:`Departures`) ends a lost worker's consumer there.
    """
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
        spans = spans or [(start_ns, end_ns)]
        if departed and actor in departed:
            cut = departed[actor]
            spans = [(a, min(b, cut)) for a, b in spans if a < cut] or [(min(start_ns, cut), cut)]
        result[actor] = spans
    return Intervals(result)
