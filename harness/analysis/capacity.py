"""One capacity stage, without I/O: what it measured over its window, and whether it holds.

A stage is a load run at one offered rate. It is measured after its warm-up, up to when producing
stopped; it holds when the checker passes it under the region's SLO, at least 97% of the offered
rate was delivered, the backlog did not grow (by more than 1% of the offered rate per second),
and p99 meets the SLO. A stage whose generator was
saturated (behind its schedule or over 90% CPU for seconds on end, or sending less than it was asked to)
says nothing about the endpoint, and is marked so; a producer whose socket closed mid-stage falls
behind because of the endpoint, so then only the CPU counts. A lag spike in the tail alone is jitter from a
busy machine, not saturation: the offered load still went out. Being behind is judged by the same
rule as the load run's own record (:func:`~harness.events.saturation.lag_is_sustained`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.analysis import eventlog as el
from harness.analysis.eventlog import MISSING, NO_CODE, EventLog
from harness.analysis.load import LoadedRun
from harness.analysis.messages import Messages, rows_of
from harness.analysis.quantiles import describe
from harness.analysis.runinfo import RunInfo, run_info
from harness.analysis.summary import Analysis
from harness.analysis.throughput import Backlog, producing_span
from harness.analysis.verdict import Thresholds
from harness.events.saturation import lag_is_sustained
from harness.events.schema import SATURATION_CPU_PERCENT, SATURATION_LAG_MS

NS_PER_S = 1_000_000_000

#: A stage holds only if at least this share of the offered rate was delivered ...
MIN_DELIVERED_SHARE = 0.97
#: ... and the backlog grew by at most this share of the offered rate per second (or the floor
#: below): a stage past the endpoint's capacity delivers nearly all of it while its backlog
#: grows by the excess, so this share bounds how far a found capacity can overshoot the real one.
MAX_BACKLOG_GROWTH_SHARE = 0.01
#: Backlog growth (messages/s) that is noise at any rate: a held stage's slope stays well inside it.
BACKLOG_GROWTH_FLOOR = 1.0
#: A generator that sent less than this share of the offered rate could not offer the load.
MIN_SENT_SHARE = 0.97
#: Samples of the backlog over the window for its slope.
BACKLOG_SAMPLES = 50


@dataclass(frozen=True)
class Slo:
    """What a stage must meet to hold."""

    p99_ms: float | None = None  # end-to-end p99 ceiling; None = no ceiling
    max_lost: int = 0
    max_duplicated: int = 0
    min_jain: float = 0.9

    def thresholds(self) -> Thresholds:
        """The checker's thresholds for a stage run (p99 is judged on the window, not by the checker)."""
        return Thresholds(max_lost=self.max_lost, max_duplicated=self.max_duplicated, min_jain=self.min_jain)


@dataclass(frozen=True)
class StageMetrics:
    """What one stage measured over its window (after the warm-up)."""

    offered_rate: float
    delivered_rate: float
    backlog_growth_rate: float  # messages/s, slope of the backlog over the window
    p50_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    lost: int
    duplicated: int
    unexpected: int
    jain: float | None
    checker_verdict: str  # the checker's verdict on the whole stage run, under the SLO's thresholds
    generator_saturated: bool
    checker_reasons: tuple[str, ...] = ()
    schedule_lag_p99_ms: float | None = None
    generator_cpu_max: float | None = None
    sent_rate: float | None = None  # what the generator actually sent over the window
    drained: bool | None = None  # whether the consumers emptied the backlog before the drain timeout
    producer_disconnects: int = 0  # producer sockets that closed while producing (endpoint's doing)


@dataclass(frozen=True)
class StageJudgement:
    holds: bool
    reasons: tuple[str, ...] = ()
    limited_by_generator: bool = False


def judge_stage(metrics: StageMetrics, slo: Slo) -> StageJudgement:
    """A stage holds when the checker passes it, it keeps up with the offered rate and meets the SLO."""
    reasons: list[str] = []
    if metrics.checker_verdict != "pass":
        reasons += [f"checker {metrics.checker_verdict}: {r}" for r in metrics.checker_reasons] or [
            f"checker {metrics.checker_verdict}"
        ]
        if metrics.drained is False:
            reasons.append("backlog not drained before the drain timeout")
    if metrics.delivered_rate < MIN_DELIVERED_SHARE * metrics.offered_rate:
        share = metrics.delivered_rate / metrics.offered_rate if metrics.offered_rate else 0.0
        reasons.append(f"delivered {metrics.delivered_rate:,.0f}/s = {share:.0%} of offered")
    if metrics.backlog_growth_rate > max(MAX_BACKLOG_GROWTH_SHARE * metrics.offered_rate, BACKLOG_GROWTH_FLOOR):
        reasons.append(f"backlog grew {metrics.backlog_growth_rate:,.0f}/s")
    if slo.p99_ms is not None and (metrics.p99_ms is None or metrics.p99_ms > slo.p99_ms):
        shown = "no deliveries" if metrics.p99_ms is None else f"{metrics.p99_ms:,.1f} ms"
        reasons.append(f"p99 {shown} > {slo.p99_ms:g} ms")
    holds = not reasons
    limited = not holds and metrics.generator_saturated
    if limited:
        reasons.append("the load generator was saturated")
    return StageJudgement(holds, tuple(reasons), limited_by_generator=limited)


def stage_window(info: RunInfo, m: Messages, warmup_s: float) -> tuple[int, int]:
    """The stage's measured window in ns: from the end of the warm-up to when producing stopped."""
    started, stopped = producing_span(info, m)
    start = started or 0
    return start + int(warmup_s * NS_PER_S), stopped or start


def stage_metrics(run: LoadedRun, analysis: Analysis, warmup_s: float) -> StageMetrics:
    """A stage run's figures over its window, with the checker's verdict on the whole run.

    Rates, latency and the generator's schedule lag count only messages sent after the warm-up;
    lost and duplicated messages count over the whole run (a loss during the warm-up is a loss).
    """
    info = run_info(run.manifest)
    summary, m, queue = analysis
    start, end = stage_window(info, m, warmup_s)
    seconds = max(end - start, 1) / NS_PER_S
    offered = float(info.offered_rate or 0.0)
    sent_in_window = (m.send_ns >= start) & (m.send_ns < end)
    first = m.first_deliver_ns
    delivered_in_window = (first != MISSING) & (first >= start) & (first < end)
    e2e = (first - m.send_ns)[sent_in_window & (first != MISSING)]
    quantiles = describe(e2e) if len(e2e) else {}
    intended = m.intended_ns[sent_in_window]
    timed = intended != MISSING
    due = intended[timed]
    lag = m.send_ns[sent_in_window][timed] - due
    lag_figures = describe(lag) if len(lag) else {}
    lag_p99 = lag_figures.get("p99")
    sent_rate = float(np.count_nonzero(sent_in_window)) / seconds
    cpu_max = info.generator.get("cpu_percent_max")
    dropped = producer_disconnects(run.log, m, start - int(warmup_s * NS_PER_S), end)
    # a producer whose socket the endpoint dropped sends nothing, then catches up late: the
    # endpoint's doing, so only the generator's CPU can then say it was saturated
    behind = dropped == 0 and (_lag_is_sustained(due - start, lag) or offered_load_not_sent(due, start, end, offered))
    saturated = behind or generator_cpu_saturated(info.generator)
    delivery = summary["delivery"]
    return StageMetrics(
        offered_rate=offered,
        delivered_rate=float(np.count_nonzero(delivered_in_window)) / seconds,
        backlog_growth_rate=_backlog_slope(queue, start, end),
        p50_ms=quantiles.get("p50"),
        p99_ms=quantiles.get("p99"),
        p999_ms=quantiles.get("p999"),
        lost=int(delivery.get("lost", 0)),
        duplicated=int(delivery.get("duplicated", 0)),
        unexpected=int(delivery.get("unexpected", 0)),
        jain=summary["fairness"].get("jain"),
        checker_verdict=str(summary["verdict"]),
        checker_reasons=tuple(summary.get("reasons") or ()),
        generator_saturated=saturated,
        schedule_lag_p99_ms=lag_p99,
        generator_cpu_max=cpu_max,
        sent_rate=sent_rate,
        drained=info.drained,
        producer_disconnects=dropped,
    )


def generator_cpu_saturated(generator: dict[str, object]) -> bool:
    """The generator record's sustained-CPU judgement; a run.json from before it had one has only
    the busiest second to go by."""
    judged = generator.get("cpu_saturated")
    if isinstance(judged, bool):
        return judged
    cpu_max = generator.get("cpu_percent_max")
    return isinstance(cpu_max, int | float) and cpu_max > SATURATION_CPU_PERCENT


def offered_load_not_sent(due_ns: np.ndarray, start: int, end: int, offered: float) -> bool:
    """Whether less than MIN_SENT_SHARE of the offered rate went out (a producer that never started,
    sends held back), counted by due time up to the last due time the sends reached: what a brief
    stall kept back when producing stopped was late, not unsent, and the lag rule judges lateness.
    Counted by send time, a 60 ms stall at the end of a 1.5 s window was a 4% shortfall."""
    if offered <= 0:
        return False
    due = due_ns[(due_ns >= start) & (due_ns < end)]
    if not len(due):
        return True
    reached_s = max(int(due.max()) - start, 1) / NS_PER_S
    return len(due) / reached_s < MIN_SENT_SHARE * offered


def _lag_is_sustained(due_ns: np.ndarray, lag_ns: np.ndarray) -> bool:
    """The generator's rule over the window's sends, each in the second of the window it was due
    (``due_ns`` from the window's start; a send due before it counts in its first second)."""
    if not len(lag_ns):
        return False
    second = np.maximum(due_ns, 0) // NS_PER_S
    sends = np.bincount(second)
    late = np.bincount(second, weights=lag_ns > SATURATION_LAG_MS * 1_000_000, minlength=len(sends))
    return lag_is_sustained(sends.tolist(), late.astype(np.int64).tolist())


def producer_disconnects(log: EventLog, m: Messages, start: int, end: int) -> int:
    """Disconnects of producers (actors that sent) from ``start`` until producing stopped at ``end``."""
    disconnects = rows_of(log, el.DISCONNECT)
    producers = np.unique(m.producer[m.producer != NO_CODE])
    times = disconnects.t_ns
    dropped = np.isin(disconnects.actor, producers) & (times >= start) & (times < end)
    return int(np.count_nonzero(dropped))


def _backlog_slope(queue: Backlog, start: int, end: int) -> float:
    """The backlog's growth over the window, messages per second: the median of the slopes between
    every pair of samples (Theil-Sen). Steady growth gives its rate; a stall that queues messages
    for a moment (a busy machine) moves few pairs, where a least-squares line would tilt with it."""
    if end <= start:
        return 0.0
    times = np.linspace(start, end, BACKLOG_SAMPLES).astype(np.int64)
    levels = queue.at(times).astype(np.float64)
    seconds = (times - start) / NS_PER_S
    first, second = np.triu_indices(len(times), k=1)
    slopes = (levels[second] - levels[first]) / (seconds[second] - seconds[first])
    return float(np.median(slopes))
