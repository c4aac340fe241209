"""Delivery counting and the verdict on tiny literal event logs."""

from __future__ import annotations

import io

import pandas as pd

from harness.analysis.delivery import count_delivery
from harness.analysis.verdict import judge
from harness.events.schema import COLUMNS

HEADER = ",".join(COLUMNS)


def log(*rows: str) -> pd.DataFrame:
    text = HEADER + "\n" + "\n".join(rows) + "\n"
    return pd.read_csv(io.StringIO(text), keep_default_na=False, dtype={"uid": str, "kind": str})


CLEAN = (
    "1,send,w0-p1,w0-p1/0,,1,,10,",
    "2,publish_ok,w0-p1,w0-p1/0,CAEQAA==,,,,",
    "3,deliver,w0-c1,w0-p1/0,CAEQAA==,,0,10,",
    "4,ack,w0-c1,w0-p1/0,CAEQAA==,,,,",
)


def test_clean_log_passes() -> None:
    counts = count_delivery(log(*CLEAN))
    assert (counts.sent, counts.published, counts.delivered_once, counts.lost) == (1, 1, 1, 0)
    assert judge(counts).outcome == "pass"


def test_lost_message_fails() -> None:
    counts = count_delivery(log(*CLEAN[:2]))
    assert counts.lost == 1
    verdict = judge(counts)
    assert verdict.outcome == "fail" and verdict.exit_code == 1 and "1 lost" in verdict.reasons


def test_duplicate_delivery_fails() -> None:
    counts = count_delivery(log(*CLEAN, "5,deliver,w0-c2,w0-p1/0,CAEQAA==,,1,10,"))
    assert (counts.delivered_once, counts.delivered_more) == (0, 1)
    assert judge(counts).outcome == "fail"


def test_unexpected_deliveries_fail() -> None:
    counts = count_delivery(
        log(*CLEAN, "5,deliver,w0-c1,w9-p9/0,CAEQAQ==,,0,10,", "6,deliver,w0-c1,,CAEQAg==,,0,10,no uid")
    )
    assert counts.unexpected == 2
    assert judge(counts).outcome == "fail"


def test_send_without_publish_ack_is_indeterminate_not_lost() -> None:
    counts = count_delivery(log(CLEAN[0]))
    assert (counts.indeterminate, counts.lost) == (1, 0)
    assert judge(counts).outcome == "pass"


def test_rejected_publish_is_counted() -> None:
    counts = count_delivery(log(CLEAN[0], "2,publish_err,w0-p1,w0-p1/0,,,,,send-error:8"))
    assert (counts.rejected, counts.indeterminate, counts.lost) == (1, 0, 0)


def test_nothing_sent_is_inconclusive() -> None:
    verdict = judge(count_delivery(log()))
    assert verdict.outcome == "inconclusive" and verdict.exit_code == 2
