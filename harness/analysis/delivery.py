"""What happened to each message: one delivery class per message, named as in DESIGN.md.

Classes, first match wins: ``unexpected`` (delivered, never sent by this run), ``rejected``
(publish answered ``send-error``; a violation if delivered anyway), ``duplicated`` (an extra
delivery nothing explains, two consumers acked it, or it was published twice), ``redelivered``
(delivered more than once, every extra delivery explained), ``ok`` (delivered once),
``recovered`` (no publish ack, delivered anyway), ``lost`` (publish acknowledged, never
delivered) and ``indeterminate`` (no publish ack, not delivered).

Apart from the classes, ``unacked`` counts messages delivered and never acknowledged by anyone
by the end of the log: DESIGN's ``ok`` and ``redelivered`` are acked once, and a consumer that
never acks holds the message in the subscription's backlog for good.

A lost worker (run.json's ``workers_lost``) changes three things, through its synthetic
departures (connections.py): redeliveries of what its consumers held are explained (holder left);
a message published before the loss and never seen delivered is ``indeterminate``, not ``lost``
(a lost consumer may have taken and acked it without the row reaching the log); a delivered
message of a lost producer whose send row was never recorded is ``recovered``, not ``unexpected``.
:class:`LossEffects` counts what those rules changed, and what rests on a lost consumer's rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from harness.analysis.connections import Departures
from harness.analysis.eventlog import MISSING, NO_CODE, Bools, EventLog
from harness.analysis.messages import Messages, gather
from harness.analysis.ordering import check_order
from harness.analysis.redelivery import Redeliveries, explain

CLASSES = ("ok", "redelivered", "duplicated", "lost", "indeterminate", "recovered", "rejected", "unexpected")
OK, REDELIVERED, DUPLICATED, LOST, INDETERMINATE, RECOVERED, REJECTED, UNEXPECTED = range(len(CLASSES))
NOT_A_MESSAGE = -1
DUPLICATE_KINDS = ("same_consumer", "cross_consumer", "duplicate_publish")
EXAMPLES = 10
#: Default allowance for an ack written just before its connection closed (see redelivery.py).
ACK_GRACE_MS = 1000.0


@dataclass(frozen=True)
class LossEffects:
    """What lost workers did to the classes, and which violations rest on their consumers' rows.

    All zero when no worker was lost. A violation that rests on them may be an artefact of their
    missing last rows, so only the rest proves anything (see verdict.py).
    """

    #: Published before the loss, never seen delivered: ``indeterminate``, not ``lost``.
    indeterminate_at_loss: int = 0
    #: Delivered, of a lost producer, without a send row: ``recovered``, not ``unexpected``.
    sent_unrecorded: int = 0
    #: Duplicated messages with a delivery to a lost worker's consumer.
    duplicated_with_lost: int = 0
    #: Order violations (late messages) with a delivery to a lost worker's consumer.
    order_late_with_lost: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class DeliveryResult:
    """Classes per message (index = uid code) and the counts and examples built from them."""

    classes: np.ndarray
    counts: dict[str, int]
    duplicate_kinds: dict[str, int]
    rejected_delivered: int
    #: Messages delivered and never acked (see the module docstring).
    unacked: int
    examples: dict[str, list[str]]
    redeliveries: Redeliveries
    explained: dict[str, int]
    #: None when the subscription type promises no order.
    order_violations: int | None
    order_examples: list[str] = field(default_factory=list)
    #: uid codes of every message that arrived after a later one of its producer.
    order_late: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    loss: LossEffects = field(default_factory=LossEffects)


def classify(
    log: EventLog,
    messages: Messages | None = None,
    ack_timeout_ms: float = 0.0,
    ack_grace_ms: float = ACK_GRACE_MS,
    ordered: bool = False,
    departures: Departures | None = None,
) -> DeliveryResult:
    """Put every message in one class, count the classes and keep up to 10 example uids each.

    ``departures``: the lost workers' actors and when they left (see the module docstring).
    """
    m = messages if messages is not None else gather(log)
    gone = departures or Departures()
    redeliveries = explain(log, m, ack_timeout_ms, ack_grace_ms, gone)
    delivered = m.n_deliver > 0
    unrecorded = _sent_unrecorded(log, m, gone, delivered)
    sent = m.sent | unrecorded
    published = m.n_publish_ok > 0
    rejected = sent & (m.n_publish_err > 0) & ~published
    held = _maybe_held(m, gone, published & ~delivered)
    unacked = delivered & (m.n_ack == 0)
    duplicated = delivered & (redeliveries.same_consumer | redeliveries.cross_consumer | redeliveries.duplicate_publish)
    classes = np.select(
        [
            ~sent & delivered,
            rejected,
            sent & duplicated,
            published & (m.n_deliver >= 2),
            published & delivered,
            sent & delivered,
            published & ~held,
            sent,
        ],
        [UNEXPECTED, REJECTED, DUPLICATED, REDELIVERED, OK, RECOVERED, LOST, INDETERMINATE],
        NOT_A_MESSAGE,
    ).astype(np.int8)
    counts = {
        name: int(n)
        for name, n in zip(CLASSES, np.bincount(classes[classes >= 0], minlength=len(CLASSES)), strict=True)
    }
    counts["unexpected"] += m.anonymous_deliveries
    is_dup = classes == DUPLICATED
    kinds = {
        "duplicate_publish": is_dup & redeliveries.duplicate_publish,
        "cross_consumer": is_dup & ~redeliveries.duplicate_publish & redeliveries.cross_consumer,
    }
    kinds["same_consumer"] = is_dup & ~kinds["duplicate_publish"] & ~kinds["cross_consumer"]
    examples = {name: log.uid_text(np.flatnonzero(classes == code)[:EXAMPLES]) for code, name in enumerate(CLASSES)}
    examples["unexpected"] = (examples["unexpected"] + _anonymous_examples(log, m))[:EXAMPLES]
    for name in DUPLICATE_KINDS:
        examples[f"duplicated/{name}"] = log.uid_text(np.flatnonzero(kinds[name])[:EXAMPLES])
    examples["unacked"] = log.uid_text(np.flatnonzero(unacked)[:EXAMPLES])
    order = check_order(log.uids, m.first_deliver_ns, sent) if ordered else None
    touched = _touched_by(m, gone)
    loss = LossEffects(
        indeterminate_at_loss=int(np.count_nonzero(held)),
        sent_unrecorded=int(np.count_nonzero(unrecorded)),
        duplicated_with_lost=int(np.count_nonzero(is_dup & touched)),
        order_late_with_lost=int(np.count_nonzero(touched[order.late])) if order else 0,
    )
    return DeliveryResult(
        classes=classes,
        counts=counts,
        duplicate_kinds={name: int(np.count_nonzero(kinds[name])) for name in DUPLICATE_KINDS},
        rejected_delivered=int(np.count_nonzero(rejected & delivered)),
        unacked=int(np.count_nonzero(unacked)),
        examples=examples,
        redeliveries=redeliveries,
        explained=redeliveries.explained_counts(),
        order_violations=order.violations if order else None,
        order_examples=log.uid_text(order.late[:EXAMPLES]) if order else [],
        order_late=order.late if order else np.zeros(0, dtype=np.int64),
        loss=loss,
    )


def _sent_unrecorded(log: EventLog, m: Messages, gone: Departures, delivered: Bools) -> Bools:
    """Delivered messages without a send row whose producer (``<worker>-p<n>/<seq>``) is of a lost worker."""
    result = np.zeros(m.count, dtype=bool)
    prefixes = tuple(f"{w.worker}-" for w in gone.workers)
    if not prefixes:
        return result
    candidates = np.flatnonzero(delivered & ~m.sent)
    texts = log.uid_text(candidates)
    result[candidates[np.array([text.startswith(prefixes) for text in texts], dtype=bool)]] = True
    return result


def _maybe_held(m: Messages, gone: Departures, undelivered: Bools) -> Bools:
    """Undelivered messages published before a lost consumer's loss: it may have acked them unrecorded."""
    until = gone.held_until_ns
    if until is None:
        return np.zeros(m.count, dtype=bool)
    held: Bools = undelivered & (m.publish_ns != MISSING) & (m.publish_ns <= until)
    return held


def _touched_by(m: Messages, gone: Departures) -> Bools:
    """Messages with a delivery to a lost worker's actor."""
    result = np.zeros(m.count, dtype=bool)
    d = m.deliveries
    if gone and len(d):
        mine = gone.departed(d.actor) & (d.uid >= 0)
        result[d.uid[mine]] = True
    return result


def _anonymous_examples(log: EventLog, m: Messages) -> list[str]:
    rows = m.deliveries.index[m.deliveries.uid == NO_CODE][:EXAMPLES]
    return [f"(no uid) msg_id {text}" for text in log.msg_id_text(rows)]


@dataclass(frozen=True)
class DeliveryCounts:
    """Message counts by fate; every count is of distinct messages.

    ``rejected``, ``indeterminate``, ``lost`` and ``unexpected`` are the class counts, so
    summary.json's ``messages`` and ``delivery`` agree; the rest follow a message through the
    endpoint (sent, published, delivered once or more, never acked) and are the console's closing
    table.
    """

    sent: int
    published: int
    rejected: int
    indeterminate: int
    delivered_once: int
    delivered_more: int
    lost: int
    unexpected: int
    deliveries: int
    unacked: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def fates(m: Messages, result: DeliveryResult) -> DeliveryCounts:
    """Sent, published, delivered once or more and never acked, with the class counts of the rest."""
    sent = (result.classes != NOT_A_MESSAGE) & (result.classes != UNEXPECTED)  # with a lost producer's unrecorded
    published = sent & (m.n_publish_ok > 0)
    return DeliveryCounts(
        sent=int(np.count_nonzero(sent)),
        published=int(np.count_nonzero(published)),
        rejected=result.counts["rejected"],
        indeterminate=result.counts["indeterminate"],
        delivered_once=int(np.count_nonzero(sent & (m.n_deliver == 1))),
        delivered_more=int(np.count_nonzero(sent & (m.n_deliver > 1))),
        lost=result.counts["lost"],
        unexpected=result.counts["unexpected"],
        deliveries=len(m.deliveries),
        unacked=result.unacked,
    )
