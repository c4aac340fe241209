"""The load side's pure pieces: stamps, histograms, live view, stages, schedules, clocks, shipping."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pytest

from harness.analysis.capacity import generator_cpu_saturated, offered_load_not_sent
from harness.events import schema
from harness.events.saturation import lag_is_sustained
from harness.events.shipping import MAX_BATCH_ROWS, ChannelSink, EventStore
from harness.events.writer import CsvFileSink, EventWriter
from harness.load.clocks import clock_record
from harness.load.generator import GeneratorMonitor, combine
from harness.load.ledger import DrainLedger, SeqDeltas, SeqSet
from harness.load.pacing import Schedule
from harness.load.stages import Stage, stages_from_settings
from harness.load.stamp import PayloadSource, decoded_size, read_stamp, stamp_properties
from harness.load.stats import Histogram, LiveView, ProcessCounters, jain_index
from harness.settings import LoadSettings


def b64(body: bytes) -> str:
    """A payload as the WebSocket proxy carries it."""
    return base64.b64encode(body).decode("ascii")


def test_stamp_round_trips_through_properties_and_header() -> None:
    props = stamp_properties("r 1", "w1-p2/7", intended_ns=100, sent_ns=150)
    header = b64(PayloadSource("fill", 120).with_header_raw(7, "r 1", "w1-p2/7", 100, 150))
    assert read_stamp(props, "") == read_stamp({}, header)
    stamp = read_stamp(props, "")
    assert (stamp.run, stamp.uid, stamp.intended_ns, stamp.sent_ns) == ("r 1", "w1-p2/7", 100, 150)


def test_a_stamp_without_a_run_id_belongs_to_no_run() -> None:
    assert read_stamp({"sh-uid": "w0-p1/3", "sh-sent-ns": "5"}, "").run == ""


@pytest.mark.parametrize("pattern", ["fill", "random", "zeros"])
def test_header_payload_keeps_the_size_and_the_pattern_tail(pattern: str) -> None:
    source = PayloadSource(pattern, 200, seed=3)
    body = source.with_header_raw(5, "20261127-194916-1b18", "w0-p1/5", 1, 2)
    payload, size = b64(body), len(body)
    assert size == 200 == decoded_size(payload)
    small_body = PayloadSource(pattern, 10).with_header_raw(0, "r", "w0-p1/0", 1, 2)
    small, small_size = b64(small_body), len(small_body)
    assert small_size > 10 and decoded_size(small) == small_size  # never cut the header


def test_a_foreign_payload_has_no_stamp() -> None:
    assert read_stamp({}, "aGVsbG8gd29ybGQ=").uid == ""
    assert read_stamp({}, "!!not base64!!").uid == ""


def test_histogram_percentiles_and_merge() -> None:
    a, b = Histogram(), Histogram()
    for ms in (0.05, 1.0, 1.04, 2.0):
        a.add(ms)
    for ms in (150.7, 3.0):
        b.add(ms)
    a.merge(b.counts)
    assert a.total == 6
    assert a.percentile(0.5) == 1.0 and a.percentile(1.0) == 150.0
    assert Histogram().percentile(0.99) is None


def test_jain_index() -> None:
    assert jain_index([5, 5, 5]) == 1.0
    assert jain_index([9, 0, 0]) == pytest.approx(1 / 3)
    assert jain_index([]) is None


def test_live_view_folds_deltas_from_several_processes() -> None:
    now = [100.0]
    view = LiveView(window_s=10, clock=lambda: now[0])
    workers = [ProcessCounters(), ProcessCounters()]
    for i, counters in enumerate(workers):
        c = counters.consumer(f"w{i}-c1")
        c.delivered, c.acked, c.redelivered = 10 + i, 9, 1
        counters.sent, counters.published, counters.publish_errors = 20, 19, 1
        for seq in range(19):
            counters.seqs.publish(f"w{i}-p1", seq)
        counters.e2e.add(2.0)
        view.merge(counters.take_delta())
        view.statuses[f"w{i}"] = counters.status()
        view.ledger.fold(counters.seqs.take())
    assert workers[0].take_delta()["consumers"] == {}  # nothing new since the last report
    rows = {r["name"]: r for r in view.rows()}
    assert rows["w1-c1"]["delivered"] == 11
    total = rows["all consumers"]
    assert (total["delivered"], total["sent"], total["publish_errors"], total["in_flight"]) == (21, 40, 2, 38)
    assert total["e2e_p50_ms"] == "2.0"
    now[0] += 11  # the latency window moves on
    assert {r["name"]: r for r in view.rows()}["all consumers"]["e2e_p99_ms"] == ""


def test_seq_set_counts_distinct_numbers() -> None:
    seen = SeqSet()
    assert [seen.add(n) for n in (5, 0, 5, 1000, 0)] == [True, True, False, True, False]
    assert seen.count == 3 and 1000 in seen and 999 not in seen and 10**6 not in seen


def test_drain_ledger_counts_distinct_acks_of_published_messages_across_processes() -> None:
    ledger = DrainLedger()
    worker0, worker1 = SeqDeltas(), SeqDeltas()
    for seq in range(4):
        worker0.publish("w0-p1", seq)
    worker1.ack("w0-p1/0")
    worker1.ack("w0-p1/0")  # a second ack after a redelivery settles nothing more
    worker0.ack("w0-p1/0")  # nor does an ack of the same message by another process
    worker1.ack("w0-p1/9")  # acked before its publish ack was counted (or never published)
    ledger.fold(worker1.take())
    ledger.fold(worker0.take())
    assert (ledger.published, ledger.settled, ledger.unsettled) == (4, 1, 3)
    for seq in (1, 2, 3):
        worker0.ack(f"w0-p1/{seq}")
    ledger.fold(worker0.take())
    assert ledger.unsettled == 0
    assert worker0.take() == {"published": {}, "acked": {}}


def test_schedule_retimes_without_jumping_back() -> None:
    schedule = Schedule(rate=10, start=0.0)
    faster = schedule.retimed(100, seq=5, now=0.3)  # message 5 was due at 0.5: keep that
    assert faster.due(5) == 0.5 and faster.due(6) == pytest.approx(0.51)
    late = schedule.retimed(100, seq=5, now=0.9)  # already late: start now, no burst of the old backlog
    assert late.due(5) == 0.9
    assert schedule.retimed(10, seq=5, now=0.9) is schedule


def test_stages_from_the_rate_profile() -> None:
    assert stages_from_settings(LoadSettings(rate=50, duration=9)) == [Stage(9, 50)]
    steps = LoadSettings(rate_profile="step", step_rates="10, 20,40", step_seconds=5)
    assert stages_from_settings(steps) == [Stage(5, 10), Stage(5, 20), Stage(5, 40)]
    ramp = stages_from_settings(LoadSettings(rate_profile="ramp", rate=100, ramp_from=10, duration=4))
    assert [s.rate for s in ramp] == [10, 40, 70, 100] and sum(s.seconds for s in ramp) == 4


class FakeClock:
    """A monotonic clock the test moves: the monitor reads it when a send is counted."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def paced(
    rate: float, seconds: float, send_cost_s: float = 0.0, stall: tuple[float, float] | None = None
) -> Iterator[tuple[float, float]]:
    """(send time, lag ms) of an open-model producer: each send takes ``send_cost_s``; during
    ``stall`` (start, length), relative to the first due time, the process does nothing."""
    sent_at = 0.0
    for i in range(int(rate * seconds)):
        due = i / rate
        sent_at = max(due, sent_at + send_cost_s)
        if stall is not None and stall[0] <= sent_at < stall[0] + stall[1]:
            sent_at = stall[0] + stall[1]
        yield sent_at, (sent_at - due) * 1000.0


def monitored(sends: Iterable[tuple[float, float]], clock: FakeClock | None = None) -> GeneratorMonitor:
    clock = clock or FakeClock()
    monitor = GeneratorMonitor(clock=clock)
    start = clock.now
    for at, lag_ms in sends:
        clock.now = start + at
        monitor.add_send(lag_ms)
    return monitor


def test_generator_record_keeps_cpu_and_lag_figures() -> None:
    ticks = iter([0.0, 1.0, 2.0])
    cpu = iter([0.0, 0.5, 1.5])
    monitor = GeneratorMonitor(clock=lambda: next(ticks), cpu=lambda: next(cpu))
    assert monitor.sample() == 50.0 and monitor.sample() == 100.0
    record = combine({"w0": monitor.summary()})
    assert record["cpu_percent_max"] == 100.0 and record["cpu_percent_mean"] == 75.0
    assert "lag_histogram" not in record["per_worker"]["w0"]


def test_a_generator_that_cannot_keep_up_is_saturated() -> None:
    """200 msg/s asked of a process that sends at most 150/s: its lag grows for the whole run."""
    record = combine({"w0": monitored(paced(200, 5, send_cost_s=1 / 150)).summary()})
    assert record["saturated"] is True and record["late_sends"] > 500
    # one of three processes behind makes the run saturated: each process is a generator of its own
    idle, behind = monitored(paced(200, 5)).summary(), monitored(paced(200, 5, send_cost_s=1 / 150)).summary()
    assert combine({"w0": idle, "w1": behind, "w2": idle})["saturated"]
    assert not combine({"w0": idle, "w1": idle})["saturated"]


def test_a_single_stall_moves_the_p99_but_is_not_saturation() -> None:
    """The slow machine's failure: 150 ms without a send in an 8 s run at 200/s, 11-20% CPU."""
    record = combine({"w0": monitored(paced(200, 8, stall=(6.0, 0.15))).summary()})
    assert record["schedule_lag_p99_ms"] > schema.SATURATION_LAG_MS  # what used to mark it saturated
    assert record["saturated"] is False and 25 <= record["late_sends"] <= 35
    # a stall of 1.2 s leaves seconds around it on time
    assert not combine({"w0": monitored(paced(100, 10, stall=(4.5, 1.2))).summary()})["saturated"]


def test_lag_held_for_seconds_is_saturation_wherever_it_falls() -> None:
    """Three seconds in a row mostly late: saturated, at the start, in the middle or at the end of a run."""
    for stall_at in (0.0, 4.5, 7.0):
        monitor = monitored(paced(100, 10, stall=(stall_at, 3.5)))
        assert monitor.summary()["saturated"], stall_at
    assert not monitored(paced(100, 10, stall=(4.5, 2.5))).summary()["saturated"]  # two seconds and halves
    # a run shorter than the window is judged whole
    assert monitored(paced(100, 1, stall=(0.0, 0.7))).summary()["saturated"]
    assert not monitored(paced(100, 1, stall=(0.0, 0.3))).summary()["saturated"]


def test_catch_up_sends_are_not_the_generators_lag() -> None:
    clock = FakeClock()
    monitor = monitored(paced(100, 3), clock)
    for ms in [1900.0 - 10 * i for i in range(150)]:  # the burst after a 1.9 s reconnect, all at once
        monitor.add_send(ms, catch_up=True)
    record = combine({"w0": monitor.summary()})
    assert record["saturated"] is False and record["catch_up_sends"] == 150 and record["late_sends"] == 0
    assert record["schedule_lag_p99_ms"] < schema.SATURATION_LAG_MS
    assert record["per_worker"]["w0"]["catch_up_lag_max_ms"] == 1900.0


def test_cpu_is_saturated_only_when_busy_for_seconds_in_a_row() -> None:
    ticks = iter(float(t) for t in range(9))
    cpu = iter([0.0, 0.95, 1.05, 1.96, 2.97, 3.1, 4.05, 5.0, 5.96])  # 95 %, then 10, 91, 101, 13, 95, 95, 96 %
    monitor = GeneratorMonitor(clock=lambda: next(ticks), cpu=lambda: next(cpu))
    for _ in range(4):
        monitor.sample()
    assert monitor.summary()["cpu_saturated"] is False  # busy seconds, but never three in a row
    monitor.sample()
    assert monitor.summary()["cpu_saturated"] is False
    for _ in range(3):
        monitor.sample()
    record = combine({"w0": monitor.summary(), "w1": GeneratorMonitor().summary()})
    assert record["cpu_saturated"] is True and record["cpu_percent_max"] > 99
    # the capacity judge goes by that judgement, not by the busiest second; older records have only that
    assert not generator_cpu_saturated({"cpu_percent_max": 97.0, "cpu_saturated": False})
    assert generator_cpu_saturated({"cpu_percent_max": 97.0, "cpu_saturated": True})
    assert generator_cpu_saturated({"cpu_percent_max": 97.0}) and not generator_cpu_saturated({})


def test_a_stage_short_of_its_offered_rate_only_when_sends_are_missing_not_late() -> None:
    """Two producers at 500/s each over a 1.5 s window; due times in ns from 0."""
    start, end = 0, 1_500_000_000
    due = np.arange(0, end, 1_000_000, dtype=np.int64)  # 1,000/s, every message sent
    assert not offered_load_not_sent(due, start, end, 1000.0)
    # a 60 ms stall when producing stopped: the last 60 sends were never sent, which counted by send
    # time was a 4% shortfall; they were late, and the lag rule judges lateness
    assert not offered_load_not_sent(due[due < end - 60_000_000], start, end, 1000.0)
    assert offered_load_not_sent(due[::2], start, end, 1000.0)  # one producer never sent
    assert offered_load_not_sent(due[:0], start, end, 1000.0) and not offered_load_not_sent(due, start, end, 0.0)


@pytest.mark.parametrize(
    ("sends", "late", "sustained"),
    [
        ([100] * 10, [0] * 4 + [60] * 6, True),  # the last six seconds mostly late
        ([100] * 10, [0] * 4 + [40] * 6, False),  # often late, but never most of a second
        ([100] * 10, [0] * 4 + [100, 100, 0, 100] + [0] * 2, False),  # two seconds, then one: no three in a row
        ([100] * 10, [0] * 4 + [51, 100, 100] + [0] * 3, True),
        ([100] * 10, [100] * 2 + [0] * 8, False),  # a two-second stall at the start
        ([100, 0, 100, 100], [100, 0, 100, 100], False),  # a second without sends ends a streak
        ([50, 50], [30, 30], True),  # shorter than the window: every second counts
        ([50, 50], [30, 10], False),
        ([], [], False),
    ],
)
def test_lag_is_sustained(sends: list[int], late: list[int], sustained: bool) -> None:
    assert lag_is_sustained(sends, late) is sustained


def test_clock_record_averages_start_and_end() -> None:
    record = clock_record({"w1": (1000, 200)}, {"w1": (3000, 100)})
    assert record["clock_offsets_ns"] == {"w1": 2000}
    assert record["clock_uncertainty_ns"] == {"w1": 200 + 1000}


def test_shipped_batches_rebuild_the_same_file(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "master")
    sent: list[dict[str, object]] = []

    def ship(batch: dict[str, object]) -> None:
        sent.append(batch)
        store.receive(batch)

    writer = EventWriter(ChannelSink("w1-42", ship))
    local = EventWriter(CsvFileSink(tmp_path / "l.csv"))
    for i in range(MAX_BATCH_ROWS + 10):
        for w in (writer, local):
            w.record(schema.SEND, "w1-p1", uid=f"w1-p1/{i}", intended_ns=i, size=100, t_ns=i)
    writer.close()
    local.close()
    store.close()
    assert len(sent) == 2 and max(len(b["rows"]) for b in sent) == MAX_BATCH_ROWS  # type: ignore[arg-type]
    assert (tmp_path / "master" / "w1-42.csv").read_text() == (tmp_path / "l.csv").read_text()
    with pytest.raises(ValueError):
        store.receive({"name": "../evil", "rows": []})
