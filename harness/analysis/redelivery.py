"""Why was a message delivered again? Each extra delivery is explained or it is a duplicate.

An extra delivery is explained when the consumer that held the message before it
(the *holder*)
- sent a ``nack`` for it in between; or
- left: its ``disconnect`` row lies in between; or
- let the ack timeout pass: no ack within ``ack_timeout_ms`` and the redeliveryCount grew.

It is never explained once the holder had acked it, with one allowance: an ack the holder wrote
less than ``ack_grace_ms`` before its connection closed may never have reached the endpoint
(acks are fire-and-forget frames), so it does not count. A message is also duplicated when two
consumers acked it, leaving out late acks from a holder whose copy had already been redelivered
for a good reason, or when it was published twice and delivered more than once for it (two
endpoint message ids among its deliveries). Sent or published twice but delivered once is no
duplicate: the endpoint kept one copy.

A consumer of a lost worker (see :class:`~harness.analysis.connections.Departures`) left at its
synthetic departure, and none of its acks counts as confirmed there, however early it was written:
the process was killed, and its last rows (a nack, a close) may never have been recorded.
Only messages delivered more than once are looked at, so this costs nothing on a clean run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.analysis import eventlog as el
from harness.analysis.connections import Departures
from harness.analysis.eventlog import Bools, Codes, EventLog, Ints
from harness.analysis.messages import Messages, Rows, rows_of

#: Reason codes for an extra delivery.
UNEXPLAINED, NACK, HOLDER_LEFT, ACK_TIMEOUT = 0, 1, 2, 3
REASONS = {NACK: "nack", HOLDER_LEFT: "holder_left", ACK_TIMEOUT: "ack_timeout"}


@dataclass(frozen=True)
class Redeliveries:
    """Every delivery after a message's first, and per-message verdicts drawn from them."""

    uid: Codes
    consumer: Codes
    holder: Codes
    delay_ns: Ints
    #: When each extra delivery happened.
    at_ns: Ints
    reason: Ints
    #: Per message (index = uid code).
    same_consumer: Bools
    cross_consumer: Bools
    duplicate_publish: Bools

    def explained_counts(self) -> dict[str, int]:
        return {name: int(np.count_nonzero(self.reason == code)) for code, name in REASONS.items()}


def explain(
    log: EventLog,
    messages: Messages,
    ack_timeout_ms: float,
    ack_grace_ms: float,
    departures: Departures | None = None,
) -> Redeliveries:
    count = messages.count
    departures = departures or Departures()
    multi = messages.n_deliver >= 2
    deliveries = _subset(messages.deliveries, multi)
    msg_id = log.msg_id_codes(deliveries.index)
    order = np.lexsort((deliveries.t_ns, deliveries.uid))
    uid, t_ns, actor = deliveries.uid[order], deliveries.t_ns[order], deliveries.actor[order]
    msg_id = msg_id[order]
    redelivery = log.column("redelivery")[deliveries.index][order]
    extra = np.flatnonzero(uid[1:] == uid[:-1]) + 1
    prev = extra - 1

    base = int(t_ns.min()) if len(t_ns) else 0  # relative times stay exact through pandas' float joins
    left = pd.DataFrame(
        {
            "uid": uid[extra],
            "holder": actor[prev],
            "t_prev": t_ns[prev] - base,
            "t_cur": t_ns[extra] - base,
            "row": np.arange(len(extra)),
        }
    ).sort_values("t_prev", kind="stable")
    acks = _subset(messages.acks, multi)
    nacks = _subset(messages.nacks, multi)
    disconnects = _concat(rows_of(log, el.DISCONNECT), departures.rows())
    ack_ns = _next_by(left, "t_prev", acks, base, by=["uid", "holder"])
    nack_ns = _next_by(left, "t_prev", nacks, base, by=["uid", "holder"])
    left_ns = _next_by(left, "t_prev", disconnects, base, by=["holder"])
    rows = left["row"].to_numpy()
    t_prev = left["t_prev"].to_numpy()
    t_cur = left["t_cur"].to_numpy()
    grace = ack_grace_ms * 1e6
    acked = ack_ns <= t_cur
    holder_left = left_ns <= t_cur
    killed = left_ns == departures.left_at(left["holder"].to_numpy(), base)
    with np.errstate(invalid="ignore"):  # inf - inf where neither happened: compares False
        ack_unconfirmed = holder_left & ((ack_ns >= left_ns) | (left_ns - ack_ns <= grace) | killed)
    counted_ack = acked & ~ack_unconfirmed
    grew = redelivery[extra][rows] > redelivery[prev][rows]
    timed_out = (ack_timeout_ms > 0) & ~acked & (t_cur - t_prev >= ack_timeout_ms * 1e6) & grew
    reason_sorted = np.select(
        [counted_ack, nack_ns <= t_cur, holder_left, timed_out], [UNEXPLAINED, NACK, HOLDER_LEFT, ACK_TIMEOUT], 0
    )
    reason = np.empty(len(extra), dtype=np.int64)
    reason[rows] = reason_sorted

    republished = _republished(messages, uid, msg_id, extra, prev, reason)
    duplicate_publish = np.zeros(count, dtype=bool)
    duplicate_publish[uid[extra][republished]] = True
    unexplained = (reason == UNEXPLAINED) & ~republished
    same = unexplained & (actor[extra] == actor[prev])
    same_consumer = np.zeros(count, dtype=bool)
    same_consumer[uid[extra][same]] = True
    cross_consumer = np.zeros(count, dtype=bool)
    cross_consumer[uid[extra][unexplained & ~same]] = True
    cross_consumer |= _acked_by_two(messages, disconnects, departures, uid, t_ns, actor, extra, reason, grace)
    return Redeliveries(
        uid=uid[extra],
        consumer=actor[extra],
        holder=actor[prev],
        delay_ns=t_ns[extra] - t_ns[prev],
        at_ns=t_ns[extra],
        reason=reason,
        same_consumer=same_consumer,
        cross_consumer=cross_consumer,
        duplicate_publish=duplicate_publish,
    )


def _republished(messages: Messages, uid: Codes, msg_id: Codes, extra: Ints, prev: Ints, reason: Ints) -> Bools:
    """Extra deliveries of a second copy of the message in the topic: a duplicate publish.

    The copy shows in an endpoint message id other than the previous delivery's. Where a delivery
    carries no message id, an extra delivery nothing else explains is put down to a second
    publish when the message was sent or publish-acknowledged more than once.
    """
    known = (msg_id[extra] != el.NO_CODE) & (msg_id[prev] != el.NO_CODE)
    twice = (messages.n_send > 1) | (messages.n_publish_ok > 1)
    unknown_but_twice = ~known & twice[uid[extra]] & (reason == UNEXPLAINED)
    republished: Bools = (known & (msg_id[extra] != msg_id[prev])) | unknown_but_twice
    return republished


def _concat(a: Rows, b: Rows) -> Rows:
    """Disconnect rows and synthetic departures together (their order does not matter to the joins)."""
    if not len(b):
        return a
    return Rows(
        np.concatenate((a.uid, b.uid)),
        np.concatenate((a.t_ns, b.t_ns)),
        np.concatenate((a.actor, b.actor)),
        np.concatenate((a.index, b.index)),
    )


def _subset(rows: Rows, wanted: Bools) -> Rows:
    keep = (rows.uid >= 0) & wanted[np.maximum(rows.uid, 0)] if len(rows) else np.zeros(0, dtype=bool)
    return Rows(rows.uid[keep], rows.t_ns[keep], rows.actor[keep], rows.index[keep])


def _next_by(left: pd.DataFrame, on: str, rows: Rows, base: int, by: list[str]) -> np.ndarray:
    """For each row of ``left``, the time of the first of ``rows`` at or after ``left[on]`` with equal ``by``."""
    right = pd.DataFrame({"uid": rows.uid, "holder": rows.actor, "t_next": rows.t_ns - base})
    right = right.sort_values("t_next", kind="stable")[[*by, "t_next"]]
    if left.empty:
        return np.zeros(0)
    joined = pd.merge_asof(left, right, left_on=on, right_on="t_next", by=by, direction="forward")
    return joined["t_next"].to_numpy(dtype=float, na_value=np.inf)


def _acked_by_two(
    messages: Messages,
    disconnects: Rows,
    departures: Departures,
    uid: Codes,
    t_ns: Ints,
    actor: Codes,
    extra: Ints,
    reason: Ints,
    grace_ns: float,
) -> Bools:
    """Messages that two consumers acknowledged, each ack counting (see the module docstring)."""
    result = np.zeros(messages.count, dtype=bool)
    acks = _subset(messages.acks, messages.n_ack >= 2)
    if not len(acks):
        return result
    base = int(min(acks.t_ns.min(), t_ns.min() if len(t_ns) else acks.t_ns.min()))
    frame = pd.DataFrame({"uid": acks.uid, "holder": acks.actor, "t": acks.t_ns - base}).sort_values("t")
    left_ns = _next_by(frame, "t", disconnects, base, by=["holder"])
    killed = left_ns == departures.left_at(frame["holder"].to_numpy(), base)
    unconfirmed = (left_ns - frame["t"].to_numpy() <= grace_ns) | killed
    # The latest delivery of the same message at or before each ack: if it went to another
    # consumer for a good reason, this ack is the old holder's late one.
    explained = np.zeros(len(uid), dtype=bool)
    explained[extra] = reason != UNEXPLAINED
    latest = pd.DataFrame({"uid": uid, "to": actor, "t": t_ns - base, "explained": explained}).sort_values("t")
    joined = pd.merge_asof(frame, latest, on="t", by="uid", direction="backward")
    late = (joined["to"].to_numpy(dtype=float, na_value=-1) != frame["holder"].to_numpy()) & joined[
        "explained"
    ].to_numpy(dtype=bool, na_value=False)
    counted = frame[~unconfirmed & ~late]
    pairs = counted.drop_duplicates(["uid", "holder"])
    ackers = np.bincount(pairs["uid"].to_numpy(), minlength=messages.count)
    result[ackers >= 2] = True
    return result
