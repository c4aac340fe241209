"""Which rate a capacity search offers next, without I/O.

Rates grow geometrically from the start rate until a stage fails; then the bracket between the
highest rate that held and the lowest that failed narrows to a relative resolution. An overloaded
stage still delivers about the endpoint's capacity, so the narrowing tries that delivered rate
first (or a step just above the holding rate when the two are close) and falls back to bisection;
that settles in two or three stages where bisection alone needs five or six.

A stage the generator could not drive (saturated) is an upper bound for the search, not an
endpoint failure: the search narrows below it. If the endpoint fails below that bound, the
capacity is real; if not, the result is "limited by the load generator" and no capacity is
claimed, only the highest rate that held as a lower bound. Every search is bounded in stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.analysis.capacity import StageJudgement

#: No search runs more stages than this, whatever the plan (a bound, not a target).
MAX_STAGES = 40


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
    resolution: float = 0.05  # narrowing stops when the bracket is narrower than this fraction
    size: int = 100  # payload bytes
    drain_timeout: float = 20.0


@dataclass
class RateSearch:
    """The search's state: rates tried, the bracket, and what to try next."""

    plan: SearchPlan
    holding: float | None = None  # highest rate that held
    failing: float | None = None  # lowest rate at which the endpoint failed
    failing_delivered: float | None = None  # what that stage delivered
    generator_ceiling: float | None = None  # lowest rate the generator could not drive
    tried: list[tuple[float, StageJudgement]] = field(default_factory=list)

    @property
    def upper(self) -> float | None:
        """The lowest rate known not to hold, whoever was at fault."""
        bounds = [b for b in (self.failing, self.generator_ceiling) if b is not None]
        return min(bounds) if bounds else None

    def next_rate(self) -> float | None:
        """The rate of the next stage, or None when the search is over."""
        if len(self.tried) >= MAX_STAGES:
            return None
        upper = self.upper
        if upper is None:
            if self.holding is None:
                return self.plan.start_rate if not self.tried else None
            nxt = min(self.holding * self.plan.growth, self.plan.max_rate)
            return nxt if nxt > self.holding else None
        low = self.holding
        if low is None or (upper - low) <= self.plan.resolution * low:
            return None
        step = low * (1 + self.plan.resolution)
        estimate = self.failing_delivered if upper == self.failing else None
        if estimate is not None and low < estimate < upper:
            guess = max(estimate, step)
        elif estimate is not None and estimate <= low:
            guess = step  # the endpoint delivered about what already held: probe just above it
        else:
            guess = (low + upper) / 2
        for candidate in (round(guess), round((low + upper) / 2)):
            if low < candidate < upper and all(candidate != rate for rate, _ in self.tried):
                return float(candidate)
        return None  # whole messages per second cannot split the bracket further

    def record(self, rate: float, judgement: StageJudgement, delivered_rate: float | None = None) -> None:
        self.tried.append((rate, judgement))
        if judgement.holds:
            self.holding = rate if self.holding is None else max(self.holding, rate)
        elif judgement.limited_by_generator:
            self.generator_ceiling = rate if self.generator_ceiling is None else min(self.generator_ceiling, rate)
        elif self.failing is None or rate < self.failing:
            self.failing = rate
            self.failing_delivered = delivered_rate

    @property
    def outcome(self) -> str:
        """``found``, ``above max rate``, ``below start rate``, ``limited by the load generator`` or
        ``stopped at the stage limit`` (still growing after MAX_STAGES stages)."""
        endpoint_bound = self.failing is not None and (
            self.generator_ceiling is None or self.failing < self.generator_ceiling
        )
        if endpoint_bound:
            return "found" if self.holding is not None else "below start rate"
        if self.generator_ceiling is not None:
            return "limited by the load generator"
        if self.holding is not None and self.holding >= self.plan.max_rate:
            return "above max rate"
        return "stopped at the stage limit"

    @property
    def capacity(self) -> float | None:
        """The highest offered rate that held, when the search can stand behind it as the capacity."""
        return self.holding if self.outcome in ("found", "above max rate") else None
