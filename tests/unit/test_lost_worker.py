"""A lost worker is not a broker fault, and a lost endpoint is never a pass.

Worker w2 (consumer w2-c1) is SIGKILLed: its last recorded row is at 2 s, the master marks it lost
at 4 s. w1 produces, w3's consumers survive. Times are literal nanoseconds (``S`` = one second).
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.analysis.connections import departures, intervals
from harness.analysis.delivery import classify
from harness.analysis.messages import gather
from harness.analysis.runinfo import EndpointLost, LostWorker, Outage, run_info
from harness.report.console import render_summary
from harness.report.html import render_html
from tests.checker_logs import S, log_of, message, summary_of

LOST_AT = 4 * S
NEW_SHAPE = [{"worker": "w2", "lost_ns": LOST_AT}]

KILLED = (
    "0,connect,w2-c1,,,,,,Shared",
    "0,connect,w3-c1,,,,,,Shared",
    # m0: delivered to and acked by the dead consumer 2 s before its last row, then redelivered to a
    # survivor when the broker saw the socket close: its ack may never have left the killed process.
    "10,send,w1-p1,w1-p1/0,,10,,10,",
    "11,publish_ok,w1-p1,w1-p1/0,m0,,,,",
    "12,deliver,w2-c1,w1-p1/0,m0,,0,10,",
    "13,ack,w2-c1,w1-p1/0,m0,,,,",
    f"{5 * S},deliver,w3-c1,w1-p1/0,m0,,0,10,",
    f"{5 * S + 1},ack,w3-c1,w1-p1/0,m0,,,,",
    # m1: the dead worker's last rows.
    *message("w1-p1/1", 2 * S - 2, consumer="w2-c1", producer="w1-p1", msg_id="m1"),
    # m2: published before the loss, never seen delivered: the dead consumer may have acked it unrecorded.
    f"{3 * S},send,w1-p1,w1-p1/2,,{3 * S},,10,",
    f"{3 * S + 1},publish_ok,w1-p1,w1-p1/2,m2,,,,",
    # m3: after the loss, to the survivor.
    *message("w1-p1/3", 4 * S + S // 2, consumer="w3-c1", producer="w1-p1", msg_id="m3"),
)
# Two surviving consumers both got and acked one message: no lost worker explains that.
ACKED_BY_TWO_SURVIVORS = (
    f"{5 * S + 10},send,w1-p1,w1-p1/4,,{5 * S + 10},,10,",
    f"{5 * S + 11},publish_ok,w1-p1,w1-p1/4,m4,,,,",
    f"{5 * S + 12},deliver,w3-c1,w1-p1/4,m4,,0,10,",
    f"{5 * S + 13},ack,w3-c1,w1-p1/4,m4,,,,",
    f"{5 * S + 14},deliver,w3-c2,w1-p1/4,m4,,0,10,",
    f"{5 * S + 15},ack,w3-c2,w1-p1/4,m4,,,,",
)


def killed_run(*extra: str, **manifest: Any) -> dict[str, Any]:
    run: dict[str, Any] = {"completed": False, "drained": False, "workers_lost": NEW_SHAPE}
    run.update(manifest)
    return summary_of(*KILLED, *extra, **run)


def test_what_the_dead_consumer_held_is_redelivered_not_duplicated() -> None:
    summary = killed_run()
    assert summary["delivery"]["duplicated"] == 0
    assert summary["delivery"]["redelivered"] == 1
    assert summary["messages"]["examples"]["redelivered"] == ["w1-p1/0"]
    assert summary["messages"]["redelivery_explained"]["holder_left"] == 1


def test_without_the_lost_worker_the_same_log_reads_as_a_broker_fault() -> None:
    """The premise of the tests above: the log alone shows a duplicate and a lost message."""
    summary = summary_of(*KILLED, completed=True, drained=True)
    assert (summary["delivery"]["duplicated"], summary["delivery"]["lost"]) == (1, 1)
    assert summary["verdict"] == "fail"


def test_published_before_the_loss_and_never_delivered_is_indeterminate_and_the_run_inconclusive() -> None:
    summary = killed_run()
    assert summary["delivery"]["lost"] == 0
    assert summary["delivery"]["indeterminate"] == 1
    assert summary["messages"]["examples"]["indeterminate"] == ["w1-p1/2"]
    assert summary["messages"]["loss_effects"]["indeterminate_at_loss"] == 1
    assert (summary["verdict"], summary["exit_code"]) == ("inconclusive", 2)
    reason, held, unfair = summary["reasons"]
    assert reason == (
        "worker w2 lost at 00:00:04 UTC: its consumers w2-c1 taken as left at 00:00:02 UTC, "
        "so redeliveries of what they held are explained (holder left)"
    )
    assert held == (
        "1 message published before a worker was lost and never seen delivered is indeterminate: "
        "a lost consumer may have acked it unrecorded"
    )
    # Two deliveries each, in 2 s and 5 s connected: unfair on paper, but the dead consumer's count is cut short.
    assert unfair == "Jain's fairness index 0.845 below 0.9, but a worker was lost"


def test_a_message_published_after_the_loss_and_never_delivered_is_still_lost() -> None:
    late = (
        f"{LOST_AT + 10},send,w1-p1,w1-p1/9,,{LOST_AT + 10},,10,",
        f"{LOST_AT + 11},publish_ok,w1-p1,w1-p1/9,m9,,,,",
    )
    summary = killed_run(*late)
    assert summary["delivery"]["lost"] == 1 and summary["messages"]["examples"]["lost"] == ["w1-p1/9"]


def test_two_survivors_acking_one_message_still_fails() -> None:
    summary = killed_run(*ACKED_BY_TWO_SURVIVORS)
    assert (summary["verdict"], summary["exit_code"]) == ("fail", 1)
    assert summary["reasons"][0] == "1 duplicated among surviving consumers"
    assert summary["messages"]["examples"]["duplicated"] == ["w1-p1/4"]


def test_a_survivor_receiving_an_unexpected_message_still_fails() -> None:
    stray = (f"{5 * S},deliver,w3-c1,w9-p1/0,mx,,0,10,", f"{5 * S + 1},ack,w3-c1,w9-p1/0,mx,,,,")
    summary = killed_run(*stray)
    assert summary["verdict"] == "fail" and summary["reasons"][0] == "1 unexpected"


def test_a_duplicate_the_dead_consumers_missing_rows_may_explain_is_inconclusive() -> None:
    # A survivor acked m5, then the dead consumer got it too. The duplicate rests on a row of the dead
    # worker, whose clock offset was never measured at the end of the run: not among survivors alone.
    doubtful = (
        f"{S},send,w1-p1,w1-p1/5,,{S},,10,",
        f"{S + 1},publish_ok,w1-p1,w1-p1/5,m5,,,,",
        f"{S + 2},deliver,w3-c1,w1-p1/5,m5,,0,10,",
        f"{S + 3},ack,w3-c1,w1-p1/5,m5,,,,",
        f"{S + 4},deliver,w2-c1,w1-p1/5,m5,,0,10,",
    )
    summary = killed_run(*doubtful)
    assert summary["delivery"]["duplicated"] == 1
    assert summary["messages"]["loss_effects"]["duplicated_with_lost"] == 1
    assert summary["verdict"] == "inconclusive"
    assert "1 duplicated involving consumers of a lost worker" in summary["reasons"]


def test_a_lost_producers_unrecorded_send_is_recovered_not_unexpected() -> None:
    unrecorded = (f"{5 * S},deliver,w3-c1,w2-p1/0,mz,,0,10,", f"{5 * S + 1},ack,w3-c1,w2-p1/0,mz,,,,")
    summary = killed_run(*unrecorded)
    assert (summary["delivery"]["unexpected"], summary["delivery"]["recovered"]) == (0, 1)
    assert summary["messages"]["loss_effects"]["sent_unrecorded"] == 1
    assert summary_of(*KILLED, *unrecorded, completed=False)["delivery"]["unexpected"] == 1


def test_connected_time_of_the_dead_consumer_ends_at_its_departure() -> None:
    consumers = {c["consumer"]: c for c in killed_run()["fairness"]["consumers"]}
    start = 10  # the first send
    assert consumers["w2-c1"]["connected_s"] == round((2 * S + 2 - start) / S, 6)
    assert consumers["w3-c1"]["connected_s"] == round((5 * S + 1 - start) / S, 6)
    before = {c["consumer"]: c for c in summary_of(*KILLED, completed=False)["fairness"]["consumers"]}
    assert before["w2-c1"]["connected_s"] == consumers["w3-c1"]["connected_s"]


def test_departure_is_the_loss_time_when_that_comes_first() -> None:
    log = log_of(*KILLED)
    early = departures(log, (LostWorker("w2", S),))
    code = log.actors.index("w2-c1")
    assert early.at_ns == {code: S}
    connected = intervals(log, [code], 0, 6 * S, early.at_ns)
    assert connected.by_actor[code] == [(0, S)]
    assert departures(log, (LostWorker("w2"),)).at_ns == {code: 2 * S + 2}
    assert departures(log, ()).at_ns == {}


def test_a_consumer_without_connect_rows_is_connected_until_it_left() -> None:
    log = log_of(*KILLED[2:])
    code = log.actors.index("w2-c1")
    gone = departures(log, (LostWorker("w2", LOST_AT),), gather(log).deliveries)
    assert intervals(log, [code], 0, 6 * S, gone.at_ns).by_actor[code] == [(0, 2 * S + 2)]
    assert gone.workers[0].consumers == (code,)


def test_a_dead_consumers_ack_written_long_before_a_real_disconnect_still_counts() -> None:
    """Only the synthetic departure waives the ack grace; an earlier real close is judged as ever."""
    rows = (
        "10,send,w1-p1,w1-p1/0,,10,,10,",
        "11,publish_ok,w1-p1,w1-p1/0,m0,,,,",
        "12,deliver,w2-c1,w1-p1/0,m0,,0,10,",
        "13,ack,w2-c1,w1-p1/0,m0,,,,",
        f"{2 * S},disconnect,w2-c1,,,,,,closed by peer (1006)",
        f"{2 * S + 5},deliver,w3-c1,w1-p1/0,m0,,0,10,",
        f"{2 * S + 6},ack,w3-c1,w1-p1/0,m0,,,,",
        f"{3 * S},connect,w2-c1,,,,,,Shared",
    )
    log = log_of(*rows)
    m = gather(log)
    gone = departures(log, (LostWorker("w2", LOST_AT),), m.deliveries)
    assert classify(log, m, departures=gone).counts["duplicated"] == 1


def test_endpoint_lost_with_published_messages_missing_fails() -> None:
    lost = message("w0-p1/0", 10)[:2]
    summary = summary_of(*lost, completed=False, drained=True, endpoint_lost=ENDPOINT_LOST)
    assert (summary["verdict"], summary["exit_code"]) == ("fail", 1)
    assert summary["reasons"] == ["1 lost", ENDPOINT_LINE]
    # Without the record, an interrupted run's missing messages may still have been on their way.
    assert summary_of(*lost, completed=False)["verdict"] == "inconclusive"


ENDPOINT_LOST = {
    "bound_s": 5.0,
    "first_ns": 5 * S,
    "outages": [
        {"from_ns": 5 * S, "to_ns": 14 * S + S // 10, "seconds": 9.1, "producers": 2, "consumers": 2},
        {"from_ns": 20 * S, "to_ns": None, "seconds": 6.0, "producers": 1, "consumers": 0},
    ],
    "longest_s": 9.1,
    "schedule_shortfall": 0.73,
}
ENDPOINT_LINE = (
    "endpoint lost at 00:00:05 UTC for 9.1 s at most, in 2 outages, and not back by the end of the run "
    "(2 producers, 2 consumers cut off); 73% of the schedule not sent"
)


@pytest.mark.parametrize("completed", [True, False])
def test_endpoint_lost_without_missing_messages_is_inconclusive_never_pass(completed: bool) -> None:
    clean = message("w0-p1/0", 10)
    assert summary_of(*clean, completed=completed)["verdict"] == "pass"
    summary = summary_of(*clean, completed=completed, endpoint_lost=ENDPOINT_LOST)
    assert (summary["verdict"], summary["exit_code"], summary["reasons"]) == ("inconclusive", 2, [ENDPOINT_LINE])


def test_endpoint_lost_with_a_duplicate_fails() -> None:
    clean = message("w0-p1/0", 10)
    again = ("20,deliver,w0-c2,w0-p1/0,m-w0-p1/0,,0,10,", "21,ack,w0-c2,w0-p1/0,m-w0-p1/0,,,,")
    summary = summary_of(*clean, *again, completed=False, endpoint_lost=ENDPOINT_LOST)
    assert summary["verdict"] == "fail" and summary["reasons"] == ["1 duplicated", ENDPOINT_LINE]


def test_the_reports_show_the_loss_records() -> None:
    summary = killed_run(endpoint_lost={"first_ns": 5 * S, "longest_s": 6.0})
    assert summary["run"]["endpoint_lost"]["longest_s"] == 6.0
    assert summary["run"]["workers_lost"] == [
        {"worker": "w2", "lost_ns": LOST_AT, "left_ns": 2 * S + 2, "consumers": ["w2-c1"], "actors": 1}
    ]
    console = render_summary(summary)
    assert "  endpoint lost at 00:00:05 UTC for 6.0 s\n" in console
    assert "\n  worker w2 lost at 00:00:04 UTC: its consumers w2-c1" in console
    page = render_html(summary, [], "t")
    assert "endpoint lost at 00:00:05 UTC for 6.0 s" in page and "worker w2 lost at 00:00:04 UTC" in page


def test_run_info_reads_both_shapes_of_workers_lost_leniently() -> None:
    info = run_info({"workers_lost": ["w2", {"worker": "w3", "lost_ns": 7}, {"worker": "w2", "lost_ns": 9}]})
    assert info.workers_lost == (LostWorker("w2"), LostWorker("w3", 7))
    odd = [
        5,
        "",
        None,
        {"lost_ns": 3},
        {"worker": 4},
        {"worker": "w4", "lost_ns": "soon"},
        {"worker": "w5", "lost_ns": float("nan")},
    ]
    assert run_info({"workers_lost": odd}).workers_lost == (LostWorker("w4"), LostWorker("w5"))
    for value in (None, "w2", {"worker": "w2"}, 3):
        assert run_info({"workers_lost": value}).workers_lost == ()


def test_run_info_reads_endpoint_lost_leniently() -> None:
    info = run_info({"endpoint_lost": ENDPOINT_LOST})
    assert info.endpoint_lost == EndpointLost(
        bound_s=5.0,
        first_ns=5 * S,
        outages=(Outage(5 * S, 14 * S + S // 10, 9.1, 2, 2), Outage(20 * S, None, 6.0, 1, 0)),
        longest_s=9.1,
        schedule_shortfall=0.73,
    )
    assert run_info({}).endpoint_lost is None
    assert run_info({"endpoint_lost": None}).endpoint_lost is None
    assert run_info({"endpoint_lost": True}).endpoint_lost == EndpointLost()
    broken = run_info(
        {"endpoint_lost": {"first_ns": "x", "outages": [1, {"seconds": True}], "longest_s": float("inf")}}
    )
    assert broken.endpoint_lost == EndpointLost(outages=(Outage(),))


def test_the_old_plain_tag_shape_still_reads_and_uses_the_last_row() -> None:
    """No lost_ns: the worker left just after its last row, and held nothing published after that."""
    summary = killed_run(workers_lost=["w2"])
    assert summary["run"]["workers_lost"][0]["left_ns"] == 2 * S + 2
    assert summary["delivery"]["redelivered"] == 1 and summary["delivery"]["duplicated"] == 0
    assert summary["messages"]["examples"]["lost"] == ["w1-p1/2"]  # published at 3 s, after the last row
    assert summary["verdict"] == "inconclusive"
    assert summary["reasons"][0] == "1 published messages were never delivered, but the run stopped before its drain"
    assert summary["reasons"][1].startswith("worker w2 lost: its consumers w2-c1 taken as left at 00:00:02 UTC")


def test_a_worker_that_left_no_row_may_have_held_anything() -> None:
    rows = (*message("w1-p1/0", 10, consumer="w3-c1", producer="w1-p1"), *message("w1-p1/1", 20)[:2])
    summary = summary_of(*rows, completed=False, workers_lost=["w2"])
    assert (summary["delivery"]["lost"], summary["delivery"]["indeterminate"]) == (0, 1)
    assert (
        summary["reasons"][0]
        == "worker w2 lost: none of its rows reached the log, so what its consumers took is unknown"
    )
    # A lost worker that left only producer rows held nothing: its never-delivered messages are lost.
    producer_only = (*rows, "5,connect,w2-p1,,,,,,")
    assert summary_of(*producer_only, completed=False, workers_lost=["w2"])["delivery"]["lost"] == 1


def test_every_lost_worker_is_named_and_its_consumers_sorted() -> None:
    rows = (*KILLED, "1,connect,w2-c2,,,,,,Shared", "1,connect,w4-c1,,,,,,Shared")
    summary = killed_run(*rows[len(KILLED) :], workers_lost=[*NEW_SHAPE, {"worker": "w4", "lost_ns": 3 * S}])
    assert [(w["worker"], w["consumers"]) for w in summary["run"]["workers_lost"]] == [
        ("w2", ["w2-c1", "w2-c2"]),
        ("w4", ["w4-c1"]),
    ]
    assert [r.split(":")[0] for r in summary["reasons"][:2]] == [
        "worker w2 lost at 00",
        "worker w4 lost at 00",
    ]


def test_a_lost_producers_unrecorded_send_counts_as_sent() -> None:
    unrecorded = (f"{5 * S},deliver,w3-c1,w2-p1/0,mz,,0,10,", f"{5 * S + 1},ack,w3-c1,w2-p1/0,mz,,,,")
    messages = killed_run(*unrecorded)["messages"]
    assert (messages["sent"], messages["delivered_once"]) == (5, 3)
    assert killed_run()["messages"]["sent"] == 4
