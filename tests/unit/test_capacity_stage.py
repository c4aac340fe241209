"""A capacity stage's window figures from literal logs: rates, backlog slope, latency, saturation."""

from __future__ import annotations

from harness.analysis.capacity import Slo, judge_stage, stage_metrics
from harness.analysis.summary import Options, analyse
from tests.checker_logs import MS, S, loaded, message


def clean_stage(rate: int, seconds: int, delivered_every: int = 1, lag_ns: int = 0) -> list[str]:
    """``rate`` msg/s for ``seconds``; only every ``delivered_every``-th message is delivered."""
    rows: list[str] = []
    step = S // rate
    for k in range(rate * seconds):
        t = S + k * step
        uid = f"w0-p1/{k}"
        send, publish, deliver, ack = message(uid, t, consumer=f"w0-c{k % 2 + 1}")
        send = f"{t + lag_ns},send,w0-p1,{uid},,{t},,10,"
        rows += [send, publish]
        if k % delivered_every == 0:
            rows += [
                deliver.replace(f"{t + 2},", f"{t + lag_ns + 2 * MS},", 1),
                ack.replace(f"{t + 3},", f"{t + lag_ns + 3 * MS},", 1),
            ]
    return rows


def stage(rows: list[str], rate: float, **manifest: object):
    run = loaded(
        *rows,
        settings={"producers": 1, "rate": rate, "consumers": 2},
        producing_started_ns=S,
        producing_stopped_ns=S + 4 * S,
        **manifest,
    )
    return stage_metrics(run, analyse(run, Options(thresholds=Slo().thresholds())), warmup_s=1.0)


def test_a_clean_stage_measures_its_window_after_the_warm_up() -> None:
    m = stage(clean_stage(100, 4), 100)
    assert 99 <= m.delivered_rate <= 101 and 99 <= (m.sent_rate or 0) <= 101
    assert abs(m.backlog_growth_rate) < 1
    assert m.p99_ms is not None and 1.9 <= m.p99_ms <= 2.1
    assert not m.generator_saturated and m.checker_verdict == "pass"
    assert judge_stage(m, Slo(p99_ms=10)).holds


def test_an_endpoint_delivering_half_grows_its_backlog_and_fails() -> None:
    m = stage(clean_stage(100, 4, delivered_every=2), 100, drained=False, completed=True)
    assert 49 <= m.delivered_rate <= 51
    assert 45 <= m.backlog_growth_rate <= 55, m.backlog_growth_rate
    judgement = judge_stage(m, Slo())
    assert not judgement.holds and not judgement.limited_by_generator
    assert any("delivered 50/s" in r for r in judgement.reasons)


def test_sends_persistently_10_ms_late_mark_the_generator_saturated() -> None:
    m = stage(clean_stage(100, 4, lag_ns=20 * MS), 100)
    assert m.schedule_lag_p99_ms is not None and 19 <= m.schedule_lag_p99_ms <= 21
    assert m.generator_saturated


def test_a_lag_spike_in_the_tail_alone_is_not_saturation() -> None:
    rows = clean_stage(100, 4)
    late = [i for i, row in enumerate(rows) if ",send," in row][200:208]  # 8 of ~300 window sends, 50 ms late
    for i in late:
        t, rest = rows[i].split(",", 1)
        rows[i] = f"{int(t) + 50 * MS},{rest}"
    m = stage(rows, 100)
    assert m.schedule_lag_p99_ms is not None and m.schedule_lag_p99_ms > 10
    assert not m.generator_saturated


def test_a_generator_sending_less_than_offered_is_saturated() -> None:
    m = stage(clean_stage(100, 4), 200)  # asked for 200/s, sent 100/s
    assert m.generator_saturated
    judgement = judge_stage(m, Slo())
    assert not judgement.holds and judgement.limited_by_generator


def test_generator_cpu_over_the_line_marks_it_saturated() -> None:
    m = stage(clean_stage(100, 4), 100, generator={"cpu_percent_max": 97.0, "saturated": False})
    assert m.generator_saturated and m.generator_cpu_max == 97.0


def test_a_producer_the_endpoint_dropped_is_late_because_of_the_endpoint() -> None:
    """Late sends after a producer's socket closed mid-stage are the endpoint's doing, not saturation."""
    rows = clean_stage(100, 4, lag_ns=20 * MS)
    rows += [f"{2 * S},disconnect,w0-p1,,,,,,closed by the endpoint", f"{2 * S + 5 * MS},connect,w0-p1,,,,,,"]
    m = stage(rows, 200)  # behind its schedule and sending half of the offered rate
    assert m.producer_disconnects == 1 and not m.generator_saturated
    judgement = judge_stage(m, Slo())
    assert not judgement.holds and not judgement.limited_by_generator
    # a consumer's disconnect says nothing about the producers
    rows = clean_stage(100, 4, lag_ns=20 * MS) + [f"{2 * S},disconnect,w0-c1,,,,,,"]
    assert stage(rows, 100).producer_disconnects == 0 and stage(rows, 100).generator_saturated


def test_a_producer_dropped_mid_stage_still_counts_a_saturated_cpu() -> None:
    rows = clean_stage(100, 4) + [f"{2 * S},disconnect,w0-p1,,,,,,", f"{2 * S + 5 * MS},connect,w0-p1,,,,,,"]
    assert stage(rows, 100, generator={"cpu_percent_max": 97.0}).generator_saturated


def test_a_moment_of_queueing_at_the_end_of_the_window_is_not_growth() -> None:
    """Deliveries held up in the last 300 ms of the window (a busy machine), caught up after it."""
    rows = clean_stage(200, 4)
    window_end = 5 * S  # producing stopped at 5 s
    held_from, released = window_end - 300 * MS, window_end + 100 * MS
    for i, row in enumerate(rows):
        t, kind, rest = row.split(",", 2)
        if kind in ("deliver", "ack") and held_from <= int(t) < window_end + 10 * MS:
            rows[i] = f"{released + (MS if kind == 'ack' else 0)},{kind},{rest}"
    m = stage(rows, 200)
    assert abs(m.backlog_growth_rate) < 1, m.backlog_growth_rate
