"""Capacity search, without I/O: does a stage hold, and which rate to offer next.

The search offers a geometric series of rates until a stage fails, then narrows the bracket
between the last rate that held and the lowest that failed, down to a relative resolution. An
overloaded stage still delivers at about the endpoint's capacity, so the narrowing tries that
delivered rate first (or a step just above the holding rate when the two are close) and falls back
to plain bisection when the estimate is of no use; that settles in two or three stages where pure
bisection needs five or six. A stage that fails while
the load generator itself was saturated says nothing about the endpoint: the search then stops and
reports the generator as the limit, never a capacity it did not observe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.analysis.eventlog import MISSING
from harness.analysis.load import LoadedRun
from harness.analysis.messages import Messages, gather
from harness.analysis.quantiles import describe
from harness.analysis.runinfo import RunInfo, run_info
from harness.analysis.throughput import Backlog, backlog

NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class Slo:
    """What a stage must meet to hold."""

    p99_ms: float | None = None  # end-to-end p99 ceiling; None = no ceiling
    max_lost: int = 0
    max_duplicated: int = 0
    min_jain: float = 0.9


@dataclass(frozen=True)
class SearchPlan:
    """How the offered rate grows from stage to stage, and when the search stops."""

    start_rate: float = 500.0  # messages/s offered in the first stage, all producers together
    growth: float = 2.0  # each stage offers this many times the last holding rate
    stage_seconds: float = 10.0  # measured time per stage, after the warm-up
    warmup_seconds: float = 2.0  # time at the stage's rate before measuring
    max_rate: float = 20_000.0  # the search never offers more
    producers: int = 2
    consumers: int = 2
    resolution: float = 0.05  # bisection stops when the bracket is narrower than this fraction
    size: int = 100  # payload bytes
    drain_timeout: float = 20.0


#: No search runs more stages than this, whatever the plan (a bound, not a target).
MAX_STAGES = 40
#: A stage holds only if at least this share of the offered rate was delivered.
MIN_DELIVERED_SHARE = 0.97
#: ... and the backlog grew by at most this share of the offered rate per second.
MAX_BACKLOG_GROWTH_SHARE = 0.03


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
    checker_verdict: str  # the checker's verdict on the whole stage run
    generator_saturated: bool
    schedule_lag_p99_ms: float | None = None
    generator_cpu_max: float | None = None
    sent_rate: float | None = None  # what the generator actually sent over the window
    drained: bool | None = None  # whether the consumers emptied the backlog before the drain timeout


@dataclass(frozen=True)
class StageJudgement:
    holds: bool
    reasons: tuple[str, ...] = ()
    limited_by_generator: bool = False


def judge_stage(metrics: StageMetrics, slo: Slo) -> StageJudgement:
    """A stage holds when delivery is correct, keeps up with the offered rate and meets the SLO."""
    reasons: list[str] = []
    if metrics.lost > slo.max_lost:
        undrained = metrics.drained is False
        reasons.append(f"{metrics.lost} undelivered when the drain timed out" if undrained else f"{metrics.lost} lost")
    if metrics.duplicated > slo.max_duplicated:
        reasons.append(f"{metrics.duplicated} duplicated")
    if metrics.unexpected:
        reasons.append(f"{metrics.unexpected} unexpected")
    if metrics.jain is not None and metrics.jain < slo.min_jain:
        reasons.append(f"fairness {metrics.jain:.3f} < {slo.min_jain:g}")
    if metrics.delivered_rate < MIN_DELIVERED_SHARE * metrics.offered_rate:
        share = metrics.delivered_rate / metrics.offered_rate if metrics.offered_rate else 0.0
        reasons.append(f"delivered {metrics.delivered_rate:,.0f}/s = {share:.0%} of offered")
    if metrics.backlog_growth_rate > MAX_BACKLOG_GROWTH_SHARE * metrics.offered_rate:
        reasons.append(f"backlog grew {metrics.backlog_growth_rate:,.0f}/s")
    if slo.p99_ms is not None and (metrics.p99_ms is None or metrics.p99_ms > slo.p99_ms):
        shown = "no deliveries" if metrics.p99_ms is None else f"{metrics.p99_ms:,.1f} ms"
        reasons.append(f"p99 {shown} > {slo.p99_ms:g} ms")
    if metrics.checker_verdict == "inconclusive":
        reasons.append("checker inconclusive")
    holds = not reasons
    return StageJudgement(holds, tuple(reasons), limited_by_generator=not holds and metrics.generator_saturated)


@dataclass
class RateSearch:
    """The search's state: rates tried, the bracket, and what to try next."""

    plan: SearchPlan
    holding: float | None = None  # highest rate that held
    failing: float | None = None  # lowest rate that failed
    failing_delivered: float | None = None  # what the lowest failing stage delivered
    limited_by_generator: bool = False
    tried: list[tuple[float, StageJudgement]] = field(default_factory=list)

    def next_rate(self) -> float | None:
        """The rate of the next stage, or None when the search is over."""
        if self.limited_by_generator or len(self.tried) >= MAX_STAGES:
            return None
        if self.failing is None:
            if self.holding is None:
                return self.plan.start_rate if not self.tried else None
            nxt = min(self.holding * self.plan.growth, self.plan.max_rate)
            return nxt if nxt > self.holding else None
        if self.holding is None:
            return None  # the first stage failed: capacity is below the start rate
        low, high = self.holding, self.failing
        if (high - low) <= self.plan.resolution * low:
            return None
        step = low * (1 + self.plan.resolution)
        estimate = self.failing_delivered
        if estimate is not None and low < estimate < high:
            guess = max(estimate, step)
        elif estimate is not None and estimate <= low:
            guess = step  # the endpoint delivered about what already held: probe just above it
        else:
            guess = (low + high) / 2
        for candidate in (round(guess), round((low + high) / 2)):
            if low < candidate < high and all(candidate != rate for rate, _ in self.tried):
                return float(candidate)
        return None  # whole messages per second cannot split the bracket further

    def record(self, rate: float, judgement: StageJudgement, delivered_rate: float | None = None) -> None:
        self.tried.append((rate, judgement))
        if judgement.limited_by_generator:
            self.limited_by_generator = True
        elif judgement.holds:
            self.holding = rate if self.holding is None else max(self.holding, rate)
        elif self.failing is None or rate < self.failing:
            self.failing = rate
            self.failing_delivered = delivered_rate

    @property
    def outcome(self) -> str:
        """``found``, ``above max rate``, ``below start rate``, ``limited by the load generator``, or
        ``stopped at the stage limit`` (still growing after MAX_STAGES stages)."""
        if self.limited_by_generator:
            return "limited by the load generator"
        if self.holding is None:
            return "below start rate"
        if self.failing is None:
            return "above max rate" if self.holding >= self.plan.max_rate else "stopped at the stage limit"
        return "found"

    @property
    def capacity(self) -> float | None:
        """The highest offered rate that held, when the search found one it can stand behind."""
        return None if self.limited_by_generator else self.holding


#: The generator counts as saturated when its schedule lag p99 exceeds this (ms) ...
SATURATED_LAG_P99_MS = 10.0
#: ... or when it sent less than this share of the offered rate.
SATURATED_SEND_SHARE = 0.97
#: Samples of the backlog over the window for its slope.
BACKLOG_SAMPLES = 50


def stage_window(info: RunInfo, m: Messages, warmup_s: float) -> tuple[int, int]:
    """The stage's measured window in ns: from the end of the warm-up to when producing stopped."""
    sends = m.send_ns[m.send_ns != MISSING]
    start = info.producing_started_ns or (int(sends.min()) if len(sends) else 0)
    end = info.producing_stopped_ns or (int(sends.max()) if len(sends) else start)
    return start + int(warmup_s * NS_PER_S), end


def stage_metrics(run: LoadedRun, summary: dict[str, Any], warmup_s: float) -> StageMetrics:
    """A stage run's figures over its window, with the checker's verdict on the whole run.

    Rates and latency count only messages sent after the warm-up; lost and duplicated messages
    count over the whole run (a loss during the warm-up is a loss too).
    """
    info = run_info(run.manifest)
    m = gather(run.log)
    start, end = stage_window(info, m, warmup_s)
    seconds = max(end - start, 1) / NS_PER_S
    offered = float(summary["throughput"].get("offered_rate") or info.offered_rate or 0.0)
    sent_in_window = (m.send_ns >= start) & (m.send_ns < end)
    first = m.first_deliver_ns
    delivered_in_window = (first != MISSING) & (first >= start) & (first < end)
    e2e = (first - m.send_ns)[sent_in_window & (first != MISSING)]
    quantiles = describe(e2e) if len(e2e) else {}
    sends = m.send_ns[sent_in_window]
    lag = sends - m.intended_ns[sent_in_window]
    lag_p99 = describe(lag[m.intended_ns[sent_in_window] != MISSING]).get("p99") if len(sends) else None
    sent_rate = len(sends) / seconds
    generator = summary["throughput"].get("generator") or {}
    saturated = bool(generator.get("saturated")) or (lag_p99 is not None and lag_p99 > SATURATED_LAG_P99_MS)
    saturated = saturated or (offered > 0 and sent_rate < SATURATED_SEND_SHARE * offered)
    delivery = summary["delivery"]
    return StageMetrics(
        offered_rate=offered,
        delivered_rate=float(np.count_nonzero(delivered_in_window)) / seconds,
        backlog_growth_rate=_backlog_slope(backlog(m), start, end),
        p50_ms=quantiles.get("p50"),
        p99_ms=quantiles.get("p99"),
        p999_ms=quantiles.get("p999"),
        lost=int(delivery.get("lost", 0)),
        duplicated=int(delivery.get("duplicated", 0)),
        unexpected=int(delivery.get("unexpected", 0)),
        jain=summary["fairness"].get("jain"),
        checker_verdict=str(summary["verdict"]),
        generator_saturated=saturated,
        schedule_lag_p99_ms=lag_p99,
        generator_cpu_max=generator.get("cpu_percent_max"),
        sent_rate=sent_rate,
        drained=info.drained,
    )


def _backlog_slope(queue: Backlog, start: int, end: int) -> float:
    """Least-squares slope of the backlog over the window, messages per second."""
    if end <= start:
        return 0.0
    times = np.linspace(start, end, BACKLOG_SAMPLES).astype(np.int64)
    levels = queue.at(times).astype(np.float64)
    slope = np.polyfit((times - start) / NS_PER_S, levels, 1)[0]
    return float(slope)
