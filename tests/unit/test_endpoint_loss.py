"""The bookkeeping behind run.json's ``endpoint_lost``: who was cut off, for how long, and what went unsent.

Pure functions with the times passed in: no Locust, no clock.
"""

from __future__ import annotations

from harness.events.schema import ENDPOINT_LOST_BOUND_S
from harness.load.outages import (
    SHORTFALL_TOLERANCE,
    UNANSWERED,
    EndpointWatch,
    OutageBook,
    Span,
    merge,
    schedule_shortfall,
    scheduled_sends,
    summary_line,
)
from harness.load.stages import Stage
from harness.load.stats import ProcessCounters

S = 1_000_000_000
T0 = 1_700_000_000 * S
BOUND_NS = int(ENDPOINT_LOST_BOUND_S * S)


def book() -> OutageBook:
    return OutageBook(BOUND_NS)


def test_a_short_gap_leaves_no_outage_and_a_long_one_is_kept() -> None:
    b = book()
    b.cut("w0-p1", T0)
    b.restore("w0-p1", T0 + 2 * S)  # back within the bound: a blip
    b.cut("w0-c1", T0 + 10 * S)
    b.restore("w0-c1", T0 + 16 * S)
    assert b.open == {}
    assert b.closed == [("w0-c1", T0 + 10 * S, T0 + 16 * S)]


def test_an_outage_keeps_its_first_start_across_failed_attempts() -> None:
    b = book()
    for attempt in range(5):  # each failed connect attempt cuts again: the start stays the first
        b.cut("w0-c1", T0 + attempt * S)
    b.restore("w0-c1", T0 + 7 * S)
    assert b.closed == [("w0-c1", T0, T0 + 7 * S)]


def test_restoring_an_actor_never_cut_off_changes_nothing() -> None:
    b = book()
    b.restore("w0-p1", T0 + 100 * S)
    assert b.open == {} and b.closed == []


def test_the_status_carries_the_book_and_the_sends_so_far() -> None:
    counters = ProcessCounters()
    counters.sent = 42
    counters.outages.cut("w1-c2", T0)
    counters.outages.cut("w1-p1", T0 - 10 * S)
    counters.outages.restore("w1-p1", T0 - 2 * S)
    status = counters.status()
    assert status["sent"] == 42
    assert status["cut_off"] == {"w1-c2": T0}
    assert status["outages"] == [["w1-p1", T0 - 10 * S, T0 - 2 * S]]


def test_an_endpoint_down_to_the_end_is_one_open_outage_counting_who_was_cut_off() -> None:
    watch = EndpointWatch(ENDPOINT_LOST_BOUND_S)
    cut = {"w0-p1": T0, "w0-p2": T0 + S // 10, "w0-c1": T0 + S // 5, "w0-c2": T0 + S // 5}
    watch.fold("w0", {"cut_off": cut, "outages": [], "sent": 500})
    record = watch.record(T0 + 9 * S, scheduled=2000, producing_stopped_ns=T0 + 8 * S)
    assert record is not None
    assert record["bound_s"] == ENDPOINT_LOST_BOUND_S and record["first_ns"] == T0
    assert record["outages"] == [
        {"from_ns": T0, "to_ns": None, "seconds": 9.0, "producers": 2, "consumers": 2},
    ]
    assert record["longest_s"] == 9.0
    assert record["schedule_shortfall"] == 0.75


def test_outages_on_two_workers_that_overlap_merge_and_later_ones_stay_apart() -> None:
    watch = EndpointWatch(ENDPOINT_LOST_BOUND_S)
    watch.fold("w1", {"cut_off": {}, "outages": [["w1-c1", T0, T0 + 6 * S]], "sent": 0})
    watch.fold("w2", {"cut_off": {}, "outages": [["w2-p1", T0 + 4 * S, T0 + 12 * S]], "sent": 0})
    watch.fold("w3", {"cut_off": {}, "outages": [["w3-c1", T0 + 20 * S, T0 + 26 * S]], "sent": 0})
    record = watch.record(T0 + 30 * S, scheduled=None)
    assert record is not None
    assert record["outages"] == [
        {"from_ns": T0, "to_ns": T0 + 12 * S, "seconds": 12.0, "producers": 1, "consumers": 1},
        {"from_ns": T0 + 20 * S, "to_ns": T0 + 26 * S, "seconds": 6.0, "producers": 0, "consumers": 1},
    ]
    assert record["first_ns"] == T0 and record["longest_s"] == 12.0
    assert record["schedule_shortfall"] is None  # no schedule known (a stage without end)


def test_actors_cut_off_within_the_bound_are_no_loss() -> None:
    watch = EndpointWatch(ENDPOINT_LOST_BOUND_S)
    watch.fold("w0", {"cut_off": {"w0-c1": T0}, "outages": [], "sent": 1000})
    assert watch.record(T0 + 4 * S, scheduled=1000, producing_stopped_ns=T0 + 3 * S) is None
    assert watch.record(T0 + 6 * S, scheduled=1000, producing_stopped_ns=T0 + 3 * S) is not None


def test_a_lost_workers_open_cut_offs_are_its_own_loss_but_its_past_outages_count() -> None:
    watch = EndpointWatch(ENDPOINT_LOST_BOUND_S)
    watch.fold("w1", {"cut_off": {"w1-c1": T0}, "outages": [], "sent": 0})
    assert watch.record(T0 + 20 * S, scheduled=None, gone=frozenset({"w1"})) is None
    watch.fold("w1", {"cut_off": {"w1-c1": T0}, "outages": [["w1-c2", T0, T0 + 8 * S]], "sent": 0})
    record = watch.record(T0 + 20 * S, scheduled=None, gone=frozenset({"w1"}))
    assert record is not None and record["outages"][0]["to_ns"] == T0 + 8 * S


def test_a_schedule_cut_short_by_producers_down_as_producing_stopped_is_a_loss() -> None:
    watch = EndpointWatch(ENDPOINT_LOST_BOUND_S)
    # the endpoint went 2 s before producing stopped, and the drain ended 1 s later: no outage over the bound
    watch.fold("w0", {"cut_off": {"w0-p1": T0 + 8 * S, "w0-c1": T0 + 8 * S}, "outages": [], "sent": 800})
    record = watch.record(T0 + 11 * S, scheduled=1000, producing_stopped_ns=T0 + 10 * S)
    assert record is not None
    assert record["outages"] == [] and record["first_ns"] is None and record["longest_s"] == 0.0
    assert record["schedule_shortfall"] == 0.2


def test_a_shortfall_with_every_producer_connected_is_not_the_endpoints_doing() -> None:
    watch = EndpointWatch(ENDPOINT_LOST_BOUND_S)
    watch.fold("w0", {"cut_off": {"w0-c1": T0 + 8 * S}, "outages": [], "sent": 800})  # only a consumer is cut off
    assert watch.record(T0 + 11 * S, scheduled=1000, producing_stopped_ns=T0 + 10 * S) is None


def test_a_shortfall_within_the_tolerance_is_no_loss() -> None:
    watch = EndpointWatch(ENDPOINT_LOST_BOUND_S)
    watch.fold("w0", {"cut_off": {"w0-p1": T0 + 9 * S}, "outages": [], "sent": 995})
    assert schedule_shortfall(1000, 995) <= SHORTFALL_TOLERANCE  # type: ignore[operator]
    assert watch.record(T0 + 11 * S, scheduled=1000, producing_stopped_ns=T0 + 10 * S) is None


def test_sends_are_summed_over_workers_and_never_go_down() -> None:
    watch = EndpointWatch(ENDPOINT_LOST_BOUND_S)
    watch.fold("w1", {"sent": 300})
    watch.fold("w2", {"sent": 200})
    watch.fold("w1", {"sent": 250})  # an older status arriving late
    assert watch.sent() == 500


def test_schedule_figures() -> None:
    assert scheduled_sends([Stage(10.0, 100.0), Stage(5.0, 50.0)], producers=2) == 2500.0
    assert scheduled_sends([Stage(0.0, 100.0)], producers=2) is None  # produce until stopped
    assert schedule_shortfall(1000, 270) == 0.73
    assert schedule_shortfall(1000, 1200) == 0.0
    assert schedule_shortfall(None, 5) is None and schedule_shortfall(0, 0) is None


def test_merge_of_nested_and_touching_spans() -> None:
    spans = [Span("w0-c1", T0, T0 + 10 * S), Span("w0-c2", T0 + 2 * S, T0 + 3 * S), Span("w0-p1", T0 + 10 * S, None)]
    (outage,) = merge(spans, T0 + 15 * S)
    assert outage == {"from_ns": T0, "to_ns": None, "seconds": 15.0, "producers": 1, "consumers": 2}


def test_summary_line_says_how_long_who_and_how_much_went_unsent() -> None:
    watch = EndpointWatch(ENDPOINT_LOST_BOUND_S)
    watch.fold("w0", {"cut_off": {"w0-p1": T0, "w0-c1": T0}, "sent": 270})
    record = watch.record(T0 + 9 * S + S // 10, scheduled=1000, producing_stopped_ns=T0 + 8 * S)
    assert record is not None
    line = summary_line(record)
    assert line.startswith("endpoint lost at ") and "for 9.1 s (1 producers, 1 consumers cut off)" in line
    assert line.endswith("73% of the schedule not sent")


def test_requests_unanswered_past_the_bound_cut_an_actor_off_with_its_socket_open() -> None:
    counters = ProcessCounters()
    oldest: list[float | None] = [100.0]  # perf_counter time of the producer's oldest unanswered send
    counters.answers["w0-p1"] = lambda: oldest[0]
    counters.book_unanswered(now=104.0, now_ns=T0 + 4 * S)  # waiting 4 s: within the bound
    assert counters.outages.open == {}
    counters.book_unanswered(now=106.0, now_ns=T0 + 6 * S)  # 6 s: cut off since the send went out
    assert counters.outages.open == {"w0-p1" + UNANSWERED: T0}
    oldest[0] = None  # answered (or the socket dropped and its sends were given up)
    counters.book_unanswered(now=109.0, now_ns=T0 + 9 * S)
    assert counters.outages.open == {}
    assert counters.outages.closed == [("w0-p1" + UNANSWERED, T0, T0 + 9 * S)]


def test_a_silent_spell_and_the_socket_drop_after_it_are_one_outage_of_one_actor() -> None:
    watch = EndpointWatch(ENDPOINT_LOST_BOUND_S)
    status = {"cut_off": {"w0-p1": T0 + 9 * S}, "outages": [["w0-p1" + UNANSWERED, T0, T0 + 9 * S]], "sent": 0}
    watch.fold("w0", status)
    record = watch.record(T0 + 20 * S, scheduled=None)
    assert record is not None
    assert record["outages"] == [{"from_ns": T0, "to_ns": None, "seconds": 20.0, "producers": 1, "consumers": 0}]
