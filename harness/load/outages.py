"""Who was cut off from the endpoint, and since when: the bookkeeping behind run.json's ``endpoint_lost``.

Each process keeps an :class:`OutageBook` of its producers and consumers: an actor is cut off from
the moment its socket drops (not by its own choice) or a connect attempt fails, until its next
connect. The book travels in every status to the master, whose :class:`EndpointWatch` folds the
books of all processes and alone decides the record (:meth:`EndpointWatch.record`). Pure: every
time is passed in, so the rules are tested without Locust or a clock.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.load.stages import Stage

#: Suffix of an actor's book entry for requests unanswered (socket open, endpoint silent), kept
#: apart from its socket's own cut-offs; both count as that one actor cut off.
UNANSWERED = "!unanswered"

#: A schedule may fall this far short (its last tick, a rate change) without any socket being down.
SHORTFALL_TOLERANCE = 0.02

_NS = 1_000_000_000


@dataclass
class OutageBook:
    """One process's actors: those cut off now (since when), and past outages longer than the bound."""

    bound_ns: int
    open: dict[str, int] = field(default_factory=dict)  # actor -> cut off since (wall ns)
    closed: list[tuple[str, int, int]] = field(default_factory=list)  # (actor, from_ns, to_ns), over the bound

    def cut(self, actor: str, at_ns: int) -> None:
        """``actor`` lost its socket or failed to connect at ``at_ns``; an outage already open keeps its start."""
        self.open.setdefault(actor, at_ns)

    def restore(self, actor: str, at_ns: int) -> None:
        """``actor`` reached the endpoint again; its outage is kept if it lasted longer than the bound."""
        since = self.open.pop(actor, None)
        if since is not None and at_ns - since > self.bound_ns:
            self.closed.append((actor, since, at_ns))

    def status(self) -> dict[str, Any]:
        """The book as a status carries it to the master (absolute: resending it is harmless)."""
        return {"cut_off": dict(self.open), "outages": [list(span) for span in self.closed]}


@dataclass(frozen=True)
class Span:
    """One actor's time cut off; ``to_ns`` None while it still is."""

    actor: str
    from_ns: int
    to_ns: int | None

    def end(self, now_ns: int) -> int:
        return now_ns if self.to_ns is None else self.to_ns

    def covers(self, at_ns: int) -> bool:
        return self.from_ns <= at_ns and (self.to_ns is None or self.to_ns >= at_ns)


def actor_of(key: str) -> str:
    """The actor a book entry is about (``w0-p1`` for ``w0-p1!unanswered``)."""
    return key.split("!", 1)[0]


def is_producer(actor: str) -> bool:
    """Actors are ``<worker>-p<n>`` or ``<worker>-c<n>``."""
    return actor_of(actor).rsplit("-", 1)[-1].startswith("p")


@dataclass
class _Report:
    open: dict[str, int] = field(default_factory=dict)
    closed: list[Span] = field(default_factory=list)
    sent: int = 0


class EndpointWatch:
    """The master's fold of every process's :class:`OutageBook`; one place decides ``endpoint_lost``."""

    def __init__(self, bound_s: float) -> None:
        self.bound_s = bound_s
        self.bound_ns = int(bound_s * _NS)
        self.reports: dict[str, _Report] = {}  # by worker tag; kept when a worker is lost

    def fold(self, tag: str, status: dict[str, Any]) -> None:
        """Take one status's book (``cut_off``, ``outages``) and its ``sent`` count."""
        report = self.reports.setdefault(tag, _Report())
        report.open = {str(actor): int(since) for actor, since in (status.get("cut_off") or {}).items()}
        report.closed = [Span(str(a), int(f), int(t)) for a, f, t in status.get("outages") or []]
        report.sent = max(report.sent, int(status.get("sent", 0)))

    def sent(self) -> int:
        return sum(report.sent for report in self.reports.values())

    def spans(self, now_ns: int, gone: frozenset[str] = frozenset()) -> list[Span]:
        """Outages longer than the bound by ``now_ns``; a lost worker's open ones are its loss, not the endpoint's."""
        spans: list[Span] = []
        for tag, report in self.reports.items():
            spans += report.closed
            if tag not in gone:
                spans += [Span(a, since, None) for a, since in report.open.items() if now_ns - since > self.bound_ns]
        return sorted(spans, key=lambda s: (s.from_ns, s.actor))

    def producers_cut_at(self, at_ns: int, gone: frozenset[str] = frozenset()) -> int:
        """Producers cut off at ``at_ns`` (any length) by what the master knows now."""
        cut = {actor_of(s.actor) for s in self.spans(at_ns, gone) if is_producer(s.actor) and s.covers(at_ns)}
        for tag, report in self.reports.items():
            if tag not in gone:
                cut |= {actor_of(a) for a, since in report.open.items() if is_producer(a) and since <= at_ns}
        return len(cut)

    def record(
        self,
        now_ns: int,
        scheduled: float | None,
        producing_stopped_ns: int | None = None,
        gone: frozenset[str] = frozenset(),
    ) -> dict[str, Any] | None:
        """run.json's ``endpoint_lost`` at ``now_ns``, or None when the endpoint was never lost.

        Lost when some actor stayed cut off longer than the bound, or when the producers sent less
        than ``scheduled`` (by more than :data:`SHORTFALL_TOLERANCE`) while some of them were cut
        off as producing stopped (a gap they recovered from is caught up, so only one at the end
        leaves scheduled sends unsent).
        """
        outages = merge(self.spans(now_ns, gone), now_ns)
        shortfall = schedule_shortfall(scheduled, self.sent())
        short = (
            shortfall is not None
            and shortfall > SHORTFALL_TOLERANCE
            and producing_stopped_ns is not None
            and self.producers_cut_at(producing_stopped_ns, gone) > 0
        )
        if not outages and not short:
            return None
        return {
            "bound_s": self.bound_s,
            "first_ns": outages[0]["from_ns"] if outages else None,
            "outages": outages,
            "longest_s": max((o["seconds"] for o in outages), default=0.0),
            "schedule_shortfall": shortfall,
        }


def scheduled_sends(stages: Iterable[Stage], producers: int) -> float | None:
    """How many sends the stages asked of all producers; None when a stage has no end."""
    stages = list(stages)
    if any(stage.seconds <= 0 for stage in stages):
        return None
    return sum(stage.rate * stage.seconds for stage in stages) * producers


def schedule_shortfall(scheduled: float | None, sent: int) -> float | None:
    """Fraction of the scheduled sends never sent, 0..1; None when the schedule is unknown."""
    if scheduled is None or scheduled <= 0:
        return None
    return round(min(1.0, max(0.0, 1.0 - sent / scheduled)), 3)


def merge(spans: list[Span], now_ns: int) -> list[dict[str, Any]]:
    """Overlapping spans (sorted by start) as one outage each, counting the producers and consumers cut off in it."""
    merged: list[list[Span]] = []
    end = 0
    for span in spans:
        if merged and span.from_ns <= end:
            merged[-1].append(span)
            end = max(end, span.end(now_ns))
        else:
            merged.append([span])
            end = span.end(now_ns)
    outages: list[dict[str, Any]] = []
    for group in merged:
        start = min(s.from_ns for s in group)
        still_open = any(s.to_ns is None for s in group)
        stop = max(s.end(now_ns) for s in group)
        actors = {actor_of(s.actor) for s in group}
        producers = sum(1 for a in actors if is_producer(a))
        outages.append(
            {
                "from_ns": start,
                "to_ns": None if still_open else stop,
                "seconds": round((stop - start) / _NS, 3),
                "producers": producers,
                "consumers": len(actors) - producers,
            }
        )
    return outages


def summary_line(record: dict[str, Any]) -> str:
    """One line for the log: when (UTC), how long, who, and the schedule's shortfall."""
    first = record.get("first_ns")
    outages = record.get("outages") or []
    producers = max((o["producers"] for o in outages), default=0)
    consumers = max((o["consumers"] for o in outages), default=0)
    parts = []
    if first is not None:
        at = time.strftime("%H:%M:%S UTC", time.gmtime(first / _NS))
        parts.append(
            f"endpoint lost at {at} for {record['longest_s']:.1f} s "
            f"({producers} producers, {consumers} consumers cut off)"
        )
    else:
        parts.append("endpoint lost as producing stopped")
    shortfall = record.get("schedule_shortfall")
    if shortfall:
        parts.append(f"{shortfall:.0%} of the schedule not sent")
    return "; ".join(parts)
