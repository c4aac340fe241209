"""The capacity search's rules: stage judgement, growth, narrowing, generator limits, bounds."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from harness.analysis.capacity import Slo, StageJudgement, StageMetrics, judge_stage
from harness.analysis.rate_search import MAX_STAGES, RateSearch, SearchPlan


def metrics(**overrides: object) -> StageMetrics:
    values: dict[str, object] = {
        "offered_rate": 1000.0,
        "delivered_rate": 1000.0,
        "backlog_growth_rate": 0.0,
        "p50_ms": 1.0,
        "p99_ms": 5.0,
        "p999_ms": 9.0,
        "lost": 0,
        "duplicated": 0,
        "unexpected": 0,
        "jain": 0.99,
        "checker_verdict": "pass",
        "generator_saturated": False,
    }
    values.update(overrides)
    return StageMetrics(**values)  # type: ignore[arg-type]


def test_a_clean_stage_holds() -> None:
    assert judge_stage(metrics(), Slo(p99_ms=10)) == StageJudgement(True)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"checker_verdict": "fail", "checker_reasons": ("3 lost",)}, "checker fail: 3 lost"),
        ({"checker_verdict": "fail", "checker_reasons": ("2 rejected by the endpoint but delivered",)}, "rejected"),
        ({"checker_verdict": "inconclusive"}, "checker inconclusive"),
        ({"checker_verdict": "fail", "drained": False}, "backlog not drained"),
        ({"delivered_rate": 960.0}, "delivered 960/s = 96% of offered"),
        ({"backlog_growth_rate": 40.0}, "backlog grew 40/s"),
        ({"p99_ms": 11.0}, "p99 11.0 ms > 10 ms"),
        ({"p99_ms": None}, "p99 no deliveries > 10 ms"),
    ],
)
def test_each_failure_reason(overrides: dict[str, object], reason: str) -> None:
    judgement = judge_stage(metrics(**overrides), Slo(p99_ms=10))
    assert not judgement.holds
    assert any(reason in r for r in judgement.reasons), judgement.reasons


def test_boundaries_hold() -> None:
    """Exactly 97% delivered and 1% backlog growth still hold; a little more does not."""
    assert judge_stage(metrics(delivered_rate=970.0, backlog_growth_rate=10.0), Slo()).holds
    assert not judge_stage(metrics(delivered_rate=970.0, backlog_growth_rate=10.5), Slo()).holds
    slow = metrics(offered_rate=20.0, delivered_rate=20.0)
    assert judge_stage(dataclasses.replace(slow, backlog_growth_rate=1.0), Slo()).holds, "noise floor"
    assert not judge_stage(dataclasses.replace(slow, backlog_growth_rate=1.2), Slo()).holds


@pytest.mark.parametrize("cap", [350.0, 550.0, 950.0, 2000.0, 4000.0, 6550.0])
def test_the_real_judge_never_finds_more_than_one_percent_over_a_hard_cap(cap: float) -> None:
    """An ideal endpoint capped at ``cap``: it delivers min(rate, cap) and queues the rest."""
    search = RateSearch(SearchPlan(start_rate=100, growth=2, max_rate=50_000, resolution=0.05))
    for _ in range(MAX_STAGES):
        rate = search.next_rate()
        if rate is None:
            break
        served = min(rate, cap)
        judged = judge_stage(
            metrics(offered_rate=rate, delivered_rate=served, backlog_growth_rate=rate - served), Slo()
        )
        search.record(rate, judged, served)
    assert search.outcome == "found" and search.capacity is not None
    assert cap * 0.95 <= search.capacity <= cap * 1.01, search.capacity


def test_the_slo_sets_the_checkers_thresholds() -> None:
    limits = Slo(max_lost=5, max_duplicated=2, min_jain=0.7).thresholds()
    assert (limits.max_lost, limits.max_duplicated, limits.min_jain) == (5, 2, 0.7)
    assert limits.max_unexpected == 0 and limits.max_rejected_delivered == 0 and limits.max_p99_ms is None


def test_failure_with_a_saturated_generator_is_the_generators() -> None:
    judgement = judge_stage(metrics(delivered_rate=500.0, generator_saturated=True), Slo())
    assert not judgement.holds and judgement.limited_by_generator
    assert "the load generator was saturated" in judgement.reasons
    assert not judge_stage(metrics(generator_saturated=True), Slo()).limited_by_generator


def run(
    search: RateSearch,
    holds: Callable[[float], bool],
    generator_limit: float | None = None,
    delivered: Callable[[float], float | None] = lambda rate: None,
) -> list[float]:
    rates: list[float] = []
    for _ in range(100):
        rate = search.next_rate()
        if rate is None:
            return rates
        rates.append(rate)
        limited = generator_limit is not None and rate > generator_limit
        ok = holds(rate) and not limited
        search.record(rate, StageJudgement(ok, () if ok else ("x",), limited_by_generator=limited), delivered(rate))
    raise AssertionError("the search did not end")


def test_grows_then_narrows_to_the_resolution() -> None:
    plan = SearchPlan(start_rate=100, growth=2, max_rate=10_000, resolution=0.05)
    search = RateSearch(plan)
    rates = run(search, lambda r: r <= 600)
    assert rates[:4] == [100, 200, 400, 800]
    assert search.outcome == "found"
    assert search.capacity is not None and 600 * 0.95 <= search.capacity <= 600
    assert search.failing is not None and (search.failing - search.capacity) <= 0.05 * search.capacity


def test_the_delivered_rate_of_an_overloaded_stage_guides_the_narrowing() -> None:
    """An endpoint capped at 600/s delivers 600/s when overloaded: two stages settle the bracket."""
    plan = SearchPlan(start_rate=100, growth=2, max_rate=10_000, resolution=0.05)
    search = RateSearch(plan)
    rates = run(search, lambda r: r <= 600, delivered=lambda r: min(r, 600.0))
    assert rates == [100, 200, 400, 800, 600, 630]
    assert search.capacity == 600 and search.outcome == "found"


def test_a_useless_estimate_falls_back_to_bisection() -> None:
    plan = SearchPlan(start_rate=100, growth=2, max_rate=10_000, resolution=0.05)
    search = RateSearch(plan)
    rates = run(search, lambda r: r <= 600, delivered=lambda r: r * 2)
    assert rates[:5] == [100, 200, 400, 800, 600]
    assert search.capacity is not None and 570 <= search.capacity <= 600


def test_the_search_ends_even_when_whole_rates_cannot_narrow_the_bracket() -> None:
    """Holding 1498 and failing 1573 is 5.006% apart: no whole rate in between may repeat forever."""
    plan = SearchPlan(start_rate=300, growth=2, max_rate=20_000, resolution=0.05)
    search = RateSearch(plan)
    rates = run(search, lambda r: r <= 1500, delivered=lambda r: min(r, 1500.0) - 2)
    assert len(rates) == len(set(rates)) <= 12
    assert search.capacity is not None and 1425 <= search.capacity <= 1500


def test_no_search_runs_past_the_stage_bound() -> None:
    search = RateSearch(SearchPlan(start_rate=1, growth=1.0001, max_rate=10**9, resolution=1e-12))
    assert len(run(search, lambda r: r < 2)) <= MAX_STAGES
    assert search.outcome == "stopped at the stage limit" and search.capacity is None


def test_never_offers_more_than_the_max_rate() -> None:
    search = RateSearch(SearchPlan(start_rate=100, growth=3, max_rate=500))
    assert run(search, lambda r: True) == [100, 300, 500]
    assert search.outcome == "above max rate" and search.capacity == 500


def test_first_stage_failing_means_below_start_rate() -> None:
    search = RateSearch(SearchPlan(start_rate=100))
    assert run(search, lambda r: False) == [100]
    assert search.outcome == "below start rate" and search.capacity is None


def test_a_generator_limit_below_the_endpoints_gives_no_capacity_only_a_lower_bound() -> None:
    """The generator gives out at 300 while the endpoint holds everything: no capacity is claimed."""
    search = RateSearch(SearchPlan(start_rate=100, growth=2, max_rate=10_000, resolution=0.05))
    rates = run(search, lambda r: True, generator_limit=300)
    assert rates[:3] == [100, 200, 400]
    assert all(r <= 400 for r in rates)
    assert search.outcome == "limited by the load generator" and search.capacity is None
    assert search.holding is not None and 285 <= search.holding <= 300


def test_an_endpoint_limit_found_below_a_generator_limit_is_a_capacity() -> None:
    """A saturated stage above the endpoint's knee only bounds the search; the knee below it is real."""
    search = RateSearch(SearchPlan(start_rate=100, growth=2, max_rate=10_000, resolution=0.05))
    run(search, lambda r: r <= 500, generator_limit=700, delivered=lambda r: min(r, 500.0))
    assert search.generator_ceiling == 800
    assert search.outcome == "found" and search.capacity == 500


def test_a_saturated_first_stage_is_the_generators_limit() -> None:
    search = RateSearch(SearchPlan(start_rate=100_000))
    assert run(search, lambda r: True, generator_limit=50_000) == [100_000]
    assert search.outcome == "limited by the load generator" and search.capacity is None
