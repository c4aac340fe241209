"""Per-message facts gathered from the event log: one array slot per message uid code.

Everything the delivery classes, latencies and backlog need about a message (how often it was
sent, published, delivered and acked, and when first) is gathered here once, with counting and
``ufunc.at`` reductions over integer codes: no Python loop over messages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.analysis import eventlog as el
from harness.analysis.eventlog import MISSING, NO_CODE, Bools, Codes, EventLog, Ints

_NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Rows:
    """The rows of one kind: uid code, time, actor code and the row's position in the log."""

    uid: Codes
    t_ns: Ints
    actor: Codes
    index: Ints

    def __len__(self) -> int:
        return len(self.uid)


@dataclass(frozen=True)
class Messages:
    """Facts per message (arrays indexed by uid code) and the rows they came from."""

    count: int
    n_send: Ints
    n_publish_ok: Ints
    n_publish_err: Ints
    n_deliver: Ints
    n_ack: Ints
    send_ns: Ints
    intended_ns: Ints
    publish_ns: Ints
    first_deliver_ns: Ints
    first_consumer: Codes
    first_ack_ns: Ints
    #: The actor of the message's send row (:data:`NO_CODE` without one).
    producer: Codes
    #: Deliveries of messages that carry no uid at all (not sent by this harness).
    anonymous_deliveries: int
    deliveries: Rows
    acks: Rows
    nacks: Rows

    @property
    def sent(self) -> Bools:
        """Messages this run sent (a send row, or a publish answer for one whose send row was lost)."""
        mask: Bools = (self.n_send > 0) | (self.n_publish_ok > 0) | (self.n_publish_err > 0)
        return mask


def rows_of(log: EventLog, kind: int, index: Ints | None = None) -> Rows:
    """The rows of one kind; ``index`` (their positions, ascending) when already known."""
    if index is None:
        index = np.flatnonzero(log.column("kind") == kind)
    return Rows(
        uid=log.column("uid")[index].astype(np.int32, copy=False),
        t_ns=log.column("t_ns")[index],
        actor=log.column("actor")[index].astype(np.int32, copy=False),
        index=index.astype(np.int64, copy=False),
    )


def rows_by_kind(log: EventLog) -> dict[int, Rows]:
    """Rows of every kind from one stable (radix) sort of the kind codes."""
    kinds = log.column("kind").astype(np.int8, copy=False)
    order = np.argsort(kinds, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(kinds, minlength=len(el.KIND_CODES)))))
    return {k: rows_of(log, k, order[bounds[k] : bounds[k + 1]]) for k in range(len(el.KIND_CODES))}


def gather(log: EventLog) -> Messages:
    """Per-message counts and first times, from every send, publish, delivery and ack row."""
    count = len(log.uids)
    by_kind = rows_by_kind(log)
    sends = by_kind[el.SEND]
    publishes = by_kind[el.PUBLISH_OK]
    errors = by_kind[el.PUBLISH_ERR]
    deliveries = by_kind[el.DELIVER]
    acks = by_kind[el.ACK]
    nacks = by_kind[el.NACK]
    intended = log.column("intended_ns")[sends.index]
    first_deliver = first_time(deliveries, count)
    return Messages(
        count=count,
        n_send=counts(sends, count),
        n_publish_ok=counts(publishes, count),
        n_publish_err=counts(errors, count),
        n_deliver=counts(deliveries, count),
        n_ack=counts(acks, count),
        send_ns=first_time(sends, count),
        intended_ns=_first_of(sends, intended, count),
        publish_ns=first_time(publishes, count),
        first_deliver_ns=first_deliver,
        first_consumer=_first_actor(deliveries, first_deliver, count),
        first_ack_ns=first_time(acks, count),
        producer=_any_actor(sends, count),
        anonymous_deliveries=int(np.count_nonzero(deliveries.uid == NO_CODE)),
        deliveries=deliveries,
        acks=acks,
        nacks=nacks,
    )


def counts(rows: Rows, count: int) -> Ints:
    """How many rows each message has."""
    known = rows.uid[rows.uid >= 0]
    result: Ints = np.bincount(known, minlength=count).astype(np.int64, copy=False)
    return result


def first_time(rows: Rows, count: int) -> Ints:
    """The earliest ``t_ns`` per message; :data:`MISSING` for a message with no such row."""
    return _first_of(rows, rows.t_ns, count)


def _first_of(rows: Rows, values: Ints, count: int) -> Ints:
    """The smallest of ``values`` per message (for the one row most messages have, that row's value)."""
    known = rows.uid >= 0
    valid = known & (values != MISSING)
    result = np.full(count, _NEVER, dtype=np.int64)
    np.minimum.at(result, rows.uid[valid], values[valid])
    result[result == _NEVER] = MISSING
    return result


def _any_actor(rows: Rows, count: int) -> Codes:
    """The actor of one of each message's rows (they agree for sends: one producer per uid)."""
    result = np.full(count, NO_CODE, dtype=np.int32)
    known = rows.uid >= 0
    result[rows.uid[known]] = rows.actor[known]
    return result


def _first_actor(deliveries: Rows, first_ns: Ints, count: int) -> Codes:
    """The consumer of each message's first delivery (ties: any of them)."""
    result = np.full(count, NO_CODE, dtype=np.int32)
    known = deliveries.uid >= 0
    uid = deliveries.uid[known]
    is_first = deliveries.t_ns[known] == first_ns[uid]
    result[uid[is_first]] = deliveries.actor[known][is_first]
    return result
