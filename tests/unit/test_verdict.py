"""The verdict: thresholds, exit codes, and when a run can prove nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis.summary import Options
from harness.analysis.verdict import ThresholdError, Thresholds, load_thresholds
from tests.checker_logs import MS, message, summary_of

CLEAN = message("w0-p1/0", 10)
LOST = CLEAN[:2]
MISROUTED = (*CLEAN, "20,deliver,w0-c2,w0-p1/0,m-w0-p1/0,,0,10,", "21,ack,w0-c2,w0-p1/0,m-w0-p1/0,,,,")
# Five sends and no answer at all: nothing reached the endpoint.
NOTHING_PUBLISHED = (
    "0,send,w0-p1,w0-p1/0,,0,,10,",
    "1,send,w0-p1,w0-p1/1,,1,,10,",
    "2,send,w0-p1,w0-p1/2,,2,,10,",
    "3,send,w0-p1,w0-p1/3,,3,,10,",
    "4,send,w0-p1,w0-p1/4,,4,,10,",
)
# Every send answered send-error, one send unanswered.
ALL_REJECTED = (
    "0,send,w0-p1,w0-p1/0,,0,,10,",
    "1,publish_err,w0-p1,w0-p1/0,,,,,send-error: quota",
    "10,send,w0-p1,w0-p1/1,,10,,10,",
    "11,publish_err,w0-p1,w0-p1/1,,,,,send-error: quota",
    "20,send,w0-p1,w0-p1/2,,20,,10,",
    "21,publish_err,w0-p1,w0-p1/2,,,,,send-error: quota",
    "30,send,w0-p1,w0-p1/3,,30,,10,",
)


def verdict(*rows: str, options: Options | None = None, **run: object) -> tuple[str, int, list[str]]:
    summary = summary_of(*rows, options=options, **run)
    return summary["verdict"], summary["exit_code"], summary["reasons"]


def test_clean_run_passes() -> None:
    assert verdict(*CLEAN) == ("pass", 0, [])


def test_violations_fail_with_reasons() -> None:
    assert verdict(*LOST) == ("fail", 1, ["1 lost"])
    assert verdict(*MISROUTED) == ("fail", 1, ["1 duplicated"])
    unexpected = ("5,deliver,w0-c1,w9-p1/0,x,,0,10,",)
    assert verdict(*CLEAN, *unexpected) == ("fail", 1, ["1 unexpected"])
    rejected = ("10,send,w0-p1,w0-p1/0,,10,,10,", "11,publish_err,w0-p1,w0-p1/0,,,,,send-error", *CLEAN[2:])
    assert verdict(*rejected)[2] == ["1 rejected by the endpoint but delivered"]


def test_thresholds_allow_what_they_allow() -> None:
    loose = Options(thresholds=Thresholds(max_lost=1))
    assert verdict(*LOST, options=loose)[0] == "pass"
    assert verdict(*LOST, options=Options(thresholds=Thresholds(max_lost=None)))[0] == "pass"


def test_p99_ceiling_is_optional() -> None:
    slow = [*message("w0-p1/0", 0)[:2], f"{50 * MS},deliver,w0-c1,w0-p1/0,m-w0-p1/0,,0,10,"]
    assert verdict(*slow)[0] == "pass"
    strict = Options(thresholds=Thresholds(max_p99_ms=10))
    assert verdict(*slow, options=strict) == ("fail", 1, ["end-to-end p99 50.000 ms above 10 ms"])


def test_unfair_shared_run_fails_but_exclusive_is_not_judged() -> None:
    rows = [row for k in range(8) for row in message(f"w0-p1/{k}", k * 10, consumer="w0-c1" if k else "w0-c2")]
    outcome, code, reasons = verdict(*rows)
    assert (outcome, code) == ("fail", 1) and reasons[0].startswith("Jain's fairness index 0.6")
    assert verdict(*rows, settings={"subscription_type": "Exclusive"})[0] == "pass"


def test_nothing_sent_is_inconclusive() -> None:
    assert verdict("1,connect,w0-c1,,,,,,Shared") == ("inconclusive", 2, ["no message was sent"])


def test_nothing_published_and_nothing_delivered_is_inconclusive() -> None:
    assert verdict(*NOTHING_PUBLISHED) == (
        "inconclusive",
        2,
        ["no message was published and none delivered (5 sent: 5 never answered), so there is no delivery to check"],
    )
    outcome, code, reasons = verdict(*ALL_REJECTED)
    assert (outcome, code) == ("inconclusive", 2)
    assert reasons == [
        "no message was published and none delivered (4 sent: 3 rejected by the endpoint, 1 never answered), "
        "so there is no delivery to check"
    ]


def test_one_published_message_is_enough_to_judge() -> None:
    assert verdict(*NOTHING_PUBLISHED, *message("w0-p1/9", 10)) == ("pass", 0, [])
    rejected_but_delivered = (*ALL_REJECTED[:2], "5,deliver,w0-c1,w0-p1/0,m0,,0,10,", "6,ack,w0-c1,w0-p1/0,m0,,,,")
    assert verdict(*rejected_but_delivered)[:2] == ("fail", 1)


def test_never_acked_is_reported_and_judged_only_when_asked() -> None:
    never_acked = (*CLEAN[:3], *message("w0-p1/1", 20, consumer="w0-c2"))
    summary = summary_of(*never_acked)
    assert summary["messages"]["unacked"] == 1 and summary["messages"]["examples"]["unacked"] == ["w0-p1/0"]
    assert (summary["verdict"], summary["thresholds"]["max_unacked"]) == ("pass", None)
    strict = Options(thresholds=Thresholds(max_unacked=0))
    assert verdict(*never_acked, options=strict) == ("fail", 1, ["1 delivered but never acked"])
    assert verdict(*never_acked, options=Options(thresholds=Thresholds(max_unacked=1)))[0] == "pass"
    outcome, _, reasons = verdict(*never_acked, options=strict, completed=False)
    assert outcome == "inconclusive" and reasons == [
        "1 delivered messages were never acked, but the run stopped before its drain"
    ]


def test_lost_in_an_interrupted_run_is_inconclusive_but_duplicates_still_fail() -> None:
    outcome, code, reasons = verdict(*LOST, completed=False)
    assert (outcome, code) == ("inconclusive", 2) and "stopped before its drain" in reasons[0]
    assert verdict(*LOST, *MISROUTED[0:0], *message("w0-p1/1", 30), completed=False)[0] == "inconclusive"
    assert verdict(*MISROUTED, completed=False)[0] == "fail"


def test_threshold_files_and_bad_values(tmp_path: Path) -> None:
    good = tmp_path / "t.toml"
    good.write_text("[thresholds]\nmax_lost = 5\nmin_jain = 0.8\n")
    assert load_thresholds(good) == Thresholds(max_lost=5, min_jain=0.8)
    top = tmp_path / "top.toml"
    top.write_text("max_p99_ms = 12.5\n")
    assert load_thresholds(top).max_p99_ms == 12.5
    for body, fragment in (("max_lsot = 1\n", "unknown threshold"), ("max_lost = -1\n", ">= 0"), ("x = [", "TOML")):
        bad = tmp_path / "bad.toml"
        bad.write_text(body)
        with pytest.raises(ThresholdError, match=fragment):
            load_thresholds(bad)
    with pytest.raises(ThresholdError, match="cannot read"):
        load_thresholds(tmp_path / "missing.toml")
