"""Delivery classes on tiny literal event logs: one constant per situation, one class expected."""

from __future__ import annotations

import pytest

from harness.analysis.delivery import CLASSES, EXAMPLES, classify
from tests.checker_logs import MS, S, log_of, message, summary_of

SEND = "10,send,w0-p1,w0-p1/0,,10,,10,"
PUBLISHED = (SEND, "11,publish_ok,w0-p1,w0-p1/0,m0,,,,")
CLEAN = message("w0-p1/0", 10, msg_id="m0")

REDELIVERED_AFTER_NACK = (
    *PUBLISHED,
    "12,deliver,w0-c1,w0-p1/0,m0,,0,10,",
    "13,nack,w0-c1,w0-p1/0,m0,,,,",
    "20,deliver,w0-c2,w0-p1/0,m0,,1,10,",
    "21,ack,w0-c2,w0-p1/0,m0,,,,",
)
# The holder's ack was written 1 ns before its socket closed: it may never have arrived.
REDELIVERED_AFTER_HOLDER_LEFT = (
    *PUBLISHED,
    "12,deliver,w0-c1,w0-p1/0,m0,,0,10,",
    "13,ack,w0-c1,w0-p1/0,m0,,,,",
    "14,disconnect,w0-c1,,,,,,closed by peer (1006)",
    "30,deliver,w0-c2,w0-p1/0,m0,,0,10,",
    "31,ack,w0-c2,w0-p1/0,m0,,,,",
)
# Acked two seconds before leaving: that ack arrived, so the redelivery is a duplicate.
DELIVERED_AFTER_CONFIRMED_ACK = (
    *PUBLISHED,
    "12,deliver,w0-c1,w0-p1/0,m0,,0,10,",
    "13,ack,w0-c1,w0-p1/0,m0,,,,",
    f"{2 * S},disconnect,w0-c1,,,,,,closed by peer (1006)",
    f"{2 * S + 10},deliver,w0-c2,w0-p1/0,m0,,0,10,",
    f"{2 * S + 11},ack,w0-c2,w0-p1/0,m0,,,,",
)
# Ack timeout 1000 ms (see the settings passed below); c1 acks late, after c2 got it.
REDELIVERED_AFTER_ACK_TIMEOUT = (
    *PUBLISHED,
    "12,deliver,w0-c1,w0-p1/0,m0,,0,10,",
    f"{1500 * MS},deliver,w0-c2,w0-p1/0,m0,,1,10,",
    f"{1500 * MS + 1},ack,w0-c2,w0-p1/0,m0,,,,",
    f"{1600 * MS},ack,w0-c1,w0-p1/0,m0,,,,",
)
DUPLICATED_SAME_CONSUMER = (
    *PUBLISHED,
    "12,deliver,w0-c1,w0-p1/0,m0,,0,10,",
    "13,deliver,w0-c1,w0-p1/0,m0,,0,10,",
    "14,ack,w0-c1,w0-p1/0,m0,,,,",
    "15,ack,w0-c1,w0-p1/0,m0,,,,",
)
DELIVERED_AGAIN_AFTER_ACK = (
    *PUBLISHED,
    "12,deliver,w0-c1,w0-p1/0,m0,,0,10,",
    "13,ack,w0-c1,w0-p1/0,m0,,,,",
    "20,deliver,w0-c1,w0-p1/0,m0,,1,10,",
    "21,ack,w0-c1,w0-p1/0,m0,,,,",
)
MISROUTED = (
    *PUBLISHED,
    "12,deliver,w0-c1,w0-p1/0,m0,,0,10,",
    "13,deliver,w0-c2,w0-p1/0,m0,,0,10,",
    "14,ack,w0-c1,w0-p1/0,m0,,,,",
    "15,ack,w0-c2,w0-p1/0,m0,,,,",
)
PUBLISHED_TWICE = (
    *PUBLISHED,
    "12,deliver,w0-c1,w0-p1/0,m0,,0,10,",
    "13,ack,w0-c1,w0-p1/0,m0,,,,",
    "20,deliver,w0-c2,w0-p1/0,m1,,0,10,",
    "21,ack,w0-c2,w0-p1/0,m1,,,,",
)
# A retry after no publish answer: the endpoint kept one copy, delivered once.
SENT_TWICE = (
    SEND,
    f"{2 * S},send,w0-p1,w0-p1/0,,10,,10,",
    f"{2 * S + 1},publish_ok,w0-p1,w0-p1/0,m0,,,,",
    f"{2 * S + 2},deliver,w0-c1,w0-p1/0,m0,,0,10,",
    f"{2 * S + 3},ack,w0-c1,w0-p1/0,m0,,,,",
)
PUBLISHED_TWICE_DELIVERED_ONCE = (
    *PUBLISHED,
    "12,send,w0-p1,w0-p1/0,,10,,10,",
    "13,publish_ok,w0-p1,w0-p1/0,m1,,,,",
    "14,deliver,w0-c1,w0-p1/0,m0,,0,10,",
    "15,ack,w0-c1,w0-p1/0,m0,,,,",
)
# Deliveries without endpoint message ids: a second delivery nothing explains, after two sends.
SENT_TWICE_DELIVERED_TWICE_WITHOUT_IDS = (
    SEND,
    "12,send,w0-p1,w0-p1/0,,10,,10,",
    "13,publish_ok,w0-p1,w0-p1/0,,,,,",
    "14,deliver,w0-c1,w0-p1/0,,,0,10,",
    "15,ack,w0-c1,w0-p1/0,,,,,",
    "20,deliver,w0-c2,w0-p1/0,,,0,10,",
    "21,ack,w0-c2,w0-p1/0,,,,,",
)
LOST = PUBLISHED
NEVER_ACKED = (*PUBLISHED, "12,deliver,w0-c1,w0-p1/0,m0,,0,10,")
REDELIVERED_NEVER_ACKED = (
    *PUBLISHED,
    "12,deliver,w0-c1,w0-p1/0,m0,,0,10,",
    "13,nack,w0-c1,w0-p1/0,m0,,,,",
    "20,deliver,w0-c2,w0-p1/0,m0,,1,10,",
    "21,nack,w0-c2,w0-p1/0,m0,,,,",
)
INDETERMINATE = (SEND,)
RECOVERED = (SEND, "12,deliver,w0-c1,w0-p1/0,m0,,0,10,", "13,ack,w0-c1,w0-p1/0,m0,,,,")
REJECTED = (SEND, "11,publish_err,w0-p1,w0-p1/0,,,,,send-error: topic full")
REJECTED_BUT_DELIVERED = (*REJECTED, "12,deliver,w0-c1,w0-p1/0,m0,,0,10,", "13,ack,w0-c1,w0-p1/0,m0,,,,")
UNEXPECTED = (
    "12,deliver,w0-c1,w9-p9/0,mx,,0,10,",
    "13,ack,w0-c1,w9-p9/0,mx,,,,",
    "14,deliver,w0-c1,,my,,0,10,message has no uid property",
)


def only_class(rows: tuple[str, ...], ack_timeout_ms: float = 0.0) -> tuple[str, int]:
    result = classify(log_of(*rows), ack_timeout_ms=ack_timeout_ms)
    nonzero = {name: n for name, n in result.counts.items() if n}
    assert len(nonzero) == 1, nonzero
    ((name, count),) = nonzero.items()
    return name, count


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (CLEAN, "ok"),
        (REDELIVERED_AFTER_NACK, "redelivered"),
        (REDELIVERED_AFTER_HOLDER_LEFT, "redelivered"),
        (DELIVERED_AFTER_CONFIRMED_ACK, "duplicated"),
        (DUPLICATED_SAME_CONSUMER, "duplicated"),
        (DELIVERED_AGAIN_AFTER_ACK, "duplicated"),
        (MISROUTED, "duplicated"),
        (PUBLISHED_TWICE, "duplicated"),
        (SENT_TWICE, "ok"),
        (PUBLISHED_TWICE_DELIVERED_ONCE, "ok"),
        (SENT_TWICE_DELIVERED_TWICE_WITHOUT_IDS, "duplicated"),
        (LOST, "lost"),
        (INDETERMINATE, "indeterminate"),
        (RECOVERED, "recovered"),
        (REJECTED, "rejected"),
        (REJECTED_BUT_DELIVERED, "rejected"),
    ],
)
def test_each_situation_gets_its_class(rows: tuple[str, ...], expected: str) -> None:
    assert only_class(rows) == (expected, 1)


def test_unexpected_counts_unknown_uids_and_deliveries_without_uid() -> None:
    result = classify(log_of(*UNEXPECTED))
    assert result.counts["unexpected"] == 2
    assert result.examples["unexpected"] == ["w9-p9/0", "(no uid) msg_id my"]


def test_ack_timeout_explains_a_redelivery_whose_count_grew() -> None:
    assert only_class(REDELIVERED_AFTER_ACK_TIMEOUT, ack_timeout_ms=1000) == ("redelivered", 1)
    result = classify(log_of(*REDELIVERED_AFTER_ACK_TIMEOUT), ack_timeout_ms=1000)
    assert result.explained == {"nack": 0, "holder_left": 0, "ack_timeout": 1}


def test_ack_timeout_explains_nothing_when_off_too_long_or_count_did_not_grow() -> None:
    assert only_class(REDELIVERED_AFTER_ACK_TIMEOUT, ack_timeout_ms=0) == ("duplicated", 1)
    assert only_class(REDELIVERED_AFTER_ACK_TIMEOUT, ack_timeout_ms=2000) == ("duplicated", 1)
    same_count = tuple(r.replace(",1,10,", ",0,10,") for r in REDELIVERED_AFTER_ACK_TIMEOUT)
    assert only_class(same_count, ack_timeout_ms=1000) == ("duplicated", 1)


def test_redelivery_reasons_are_counted() -> None:
    assert classify(log_of(*REDELIVERED_AFTER_NACK)).explained == {"nack": 1, "holder_left": 0, "ack_timeout": 0}
    left = classify(log_of(*REDELIVERED_AFTER_HOLDER_LEFT)).explained
    assert left == {"nack": 0, "holder_left": 1, "ack_timeout": 0}


def test_a_small_ack_grace_turns_the_in_flight_ack_into_a_confirmed_one() -> None:
    result = classify(log_of(*REDELIVERED_AFTER_HOLDER_LEFT), ack_grace_ms=0.0)
    assert result.counts["duplicated"] == 1 and result.duplicate_kinds["cross_consumer"] == 1


@pytest.mark.parametrize(
    ("rows", "kind"),
    [
        (DUPLICATED_SAME_CONSUMER, "same_consumer"),
        (DELIVERED_AGAIN_AFTER_ACK, "same_consumer"),
        (MISROUTED, "cross_consumer"),
        (DELIVERED_AFTER_CONFIRMED_ACK, "cross_consumer"),
        (PUBLISHED_TWICE, "duplicate_publish"),
        (SENT_TWICE_DELIVERED_TWICE_WITHOUT_IDS, "duplicate_publish"),
    ],
)
def test_duplicates_are_split_by_kind(rows: tuple[str, ...], kind: str) -> None:
    result = classify(log_of(*rows))
    assert {k: n for k, n in result.duplicate_kinds.items() if n} == {kind: 1}
    assert result.examples[f"duplicated/{kind}"] == ["w0-p1/0"]


def test_a_redelivery_without_message_ids_is_no_duplicate_publish_when_sent_once() -> None:
    sent_once = tuple(r for r in SENT_TWICE_DELIVERED_TWICE_WITHOUT_IDS if not r.startswith("12,"))
    result = classify(log_of(*sent_once))
    assert {k: n for k, n in result.duplicate_kinds.items() if n} == {"cross_consumer": 1}


@pytest.mark.parametrize(
    ("rows", "expected"),
    [(NEVER_ACKED, "ok"), (REDELIVERED_NEVER_ACKED, "redelivered"), (RECOVERED, "recovered"), (LOST, "lost")],
)
def test_messages_delivered_and_never_acked_are_counted_apart_from_their_class(
    rows: tuple[str, ...], expected: str
) -> None:
    result = classify(log_of(*rows))
    never_acked = rows in (NEVER_ACKED, REDELIVERED_NEVER_ACKED)
    assert result.counts[expected] == 1
    assert result.unacked == int(never_acked)
    assert result.examples["unacked"] == (["w0-p1/0"] if never_acked else [])


def test_message_counts_agree_with_the_class_counts() -> None:
    summary = summary_of(*RECOVERED, *message("w0-p1/1", 20, consumer="w0-c2"))
    messages, classes = summary["messages"], summary["delivery"]
    assert (classes["recovered"], classes["indeterminate"], messages["indeterminate"]) == (1, 0, 0)
    for name in ("rejected", "indeterminate", "lost", "unexpected"):
        assert messages[name] == classes[name], name
    assert (messages["sent"], messages["published"], messages["delivered_once"]) == (2, 1, 2)


def test_rejected_but_delivered_is_counted_apart() -> None:
    assert classify(log_of(*REJECTED)).rejected_delivered == 0
    assert classify(log_of(*REJECTED_BUT_DELIVERED)).rejected_delivered == 1


def test_examples_stop_at_ten_and_name_the_uids() -> None:
    rows = [f"{i},send,w0-p1,w0-p1/{i},,{i},,10," for i in range(12)]
    rows += [f"{i + 100},publish_ok,w0-p1,w0-p1/{i},m{i},,,," for i in range(12)]
    result = classify(log_of(*rows))
    assert result.counts["lost"] == 12
    assert len(result.examples["lost"]) == EXAMPLES == 10
    assert set(result.examples["lost"]) <= {f"w0-p1/{i}" for i in range(12)}
    assert set(result.examples) >= set(CLASSES)


def test_mixed_log_counts_every_class_once() -> None:
    rows = [*CLEAN]
    for name, situation in (("a", LOST), ("b", INDETERMINATE), ("c", RECOVERED), ("d", REJECTED), ("e", MISROUTED)):
        rows += [r.replace("w0-p1/0", f"w0-p1/{name}").replace(",m0,", f",m{name},") for r in situation]
    counts = classify(log_of(*rows)).counts
    assert counts == {
        "ok": 1,
        "redelivered": 0,
        "duplicated": 1,
        "lost": 1,
        "indeterminate": 1,
        "recovered": 1,
        "rejected": 1,
        "unexpected": 0,
    }


SWAPPED = (
    *message("w0-p1/0", 10, msg_id="m0")[:2],
    *message("w0-p1/1", 20, msg_id="m1")[:2],
    "30,deliver,w0-c1,w0-p1/1,m1,,0,10,",
    "31,deliver,w0-c1,w0-p1/0,m0,,0,10,",
    "32,ack,w0-c1,w0-p1/1,m1,,,,",
    "33,ack,w0-c1,w0-p1/0,m0,,,,",
    *message("w0-p2/5", 40, producer="w0-p2", msg_id="m5"),
)


def test_order_violations_are_counted_per_producer_when_order_is_promised() -> None:
    result = classify(log_of(*SWAPPED), ordered=True)
    assert result.order_violations == 1
    assert result.order_examples == ["w0-p1/0"]
    assert classify(log_of(*SWAPPED), ordered=False).order_violations is None
    in_order = classify(log_of(*CLEAN, *message("w0-p1/1", 20)), ordered=True)
    assert in_order.order_violations == 0
