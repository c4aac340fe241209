"""The run's phase machine and the drain decision, with a fake clock: no Locust, no sleeping."""

from __future__ import annotations

from typing import Any

import pytest

from harness.load.drain import LOST_QUIET_S, QUIET_S, DrainJudge
from harness.load.phases import IllegalTransition, Phase, RunPhase


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def current(phases: RunPhase) -> Phase:
    """The phase, read afresh (mypy would keep the type it narrowed to before the last transition)."""
    return phases.phase


def test_a_run_goes_waiting_producing_draining_done_and_back_to_idle() -> None:
    phases = RunPhase()
    assert phases.phase is Phase.IDLE
    phases.begin()
    assert current(phases) is Phase.WAITING
    phases.produce(50.0)
    phases.produce(80.0)  # the next stage
    assert (phases.phase, phases.rate) == (Phase.PRODUCING, 80.0)
    phases.drain()
    assert (phases.phase, phases.rate) == (Phase.DRAINING, 80.0)
    phases.done()
    phases.done()  # idempotent: a run stopped by hand after it ended
    phases.reset()
    assert current(phases) is Phase.IDLE


@pytest.mark.parametrize(
    ("steps", "illegal"),
    [
        ([], "produce"),  # nothing to produce for before a run begins
        ([], "drain"),
        (["begin", "drain"], "produce"),  # producers never restart once draining
        (["begin", "drain"], "drain"),
        (["begin", "done"], "produce"),
        (["begin", "done"], "drain"),
        (["begin"], "reset"),  # only a finished run gives way
        (["begin", "produce"], "reset"),
    ],
)
def test_illegal_transitions_are_refused_and_change_nothing(steps: list[str], illegal: str) -> None:
    phases = RunPhase()
    for step in steps:
        getattr(phases, step)(*([10.0] if step == "produce" else []))
    before = (phases.phase, phases.rate)
    with pytest.raises(IllegalTransition):
        getattr(phases, illegal)(*([10.0] if illegal == "produce" else []))
    assert (phases.phase, phases.rate) == before


def test_a_new_run_may_begin_from_any_phase() -> None:
    phases = RunPhase()
    phases.begin()
    phases.produce(5.0)
    phases.begin()  # the web UI's next run replaces this one
    assert phases.phase is Phase.WAITING


def test_a_worker_follows_the_master_even_over_missed_steps() -> None:
    phases = RunPhase()
    phases.follow("draining", 30.0)
    assert (phases.phase, phases.rate) == (Phase.DRAINING, 30.0)
    with pytest.raises(IllegalTransition):
        phases.follow("paused", 1.0)
    assert phases.phase is Phase.DRAINING


def test_a_negative_rate_is_refused() -> None:
    phases = RunPhase()
    phases.begin()
    with pytest.raises(IllegalTransition):
        phases.produce(-1.0)


def status(phase: str = "draining", delivered: int = 0, awaiting: int = 0) -> dict[str, Any]:
    return {"phase": phase, "delivered": delivered, "awaiting": awaiting}


def test_the_drain_ends_only_after_a_quiet_spell() -> None:
    clock = FakeClock()
    judge = DrainJudge(clock)
    assert not judge.drained([status(delivered=10)], unsettled=0, worker_lost=False)  # deliveries just changed
    clock.now += QUIET_S - 0.01
    assert not judge.drained([status(delivered=10)], unsettled=0, worker_lost=False)
    clock.now += 0.02
    assert judge.drained([status(delivered=10)], unsettled=0, worker_lost=False)
    assert not judge.drained([status(delivered=11)], unsettled=0, worker_lost=False)  # a late delivery restarts it


def test_no_drain_while_any_process_has_not_heard_of_it_or_no_status_came() -> None:
    clock = FakeClock()
    judge = DrainJudge(clock)
    assert not judge.drained([], unsettled=0, worker_lost=False)
    clock.now += 10
    assert not judge.drained([status(), status(phase="producing")], unsettled=0, worker_lost=False)


def test_a_publish_still_awaiting_its_answer_holds_the_drain() -> None:
    clock = FakeClock()
    judge = DrainJudge(clock)
    judge.drained([status(delivered=5)], unsettled=0, worker_lost=False)
    clock.now += 10
    assert not judge.drained([status(delivered=5), status(awaiting=1)], unsettled=0, worker_lost=False)
    assert judge.drained([status(delivered=5), status()], unsettled=0, worker_lost=False)


def test_unsettled_messages_hold_the_drain_unless_a_worker_was_lost_and_the_longer_spell_passed() -> None:
    clock = FakeClock()
    judge = DrainJudge(clock)
    judge.drained([status(delivered=7)], unsettled=3, worker_lost=False)
    clock.now += LOST_QUIET_S * 10
    assert not judge.drained([status(delivered=7)], unsettled=3, worker_lost=False)  # no one to blame: wait on
    lost = DrainJudge(clock)
    lost.drained([status(delivered=7)], unsettled=3, worker_lost=True)
    clock.now += LOST_QUIET_S - 0.01
    assert not lost.drained([status(delivered=7)], unsettled=3, worker_lost=True)
    clock.now += 0.02
    assert lost.drained([status(delivered=7)], unsettled=3, worker_lost=True)


def test_reset_forgets_the_last_runs_delivery_count() -> None:
    clock = FakeClock()
    judge = DrainJudge(clock)
    judge.drained([status(delivered=0)], unsettled=0, worker_lost=False)
    clock.now += 10
    judge.reset()
    assert not judge.drained([status(delivered=0)], unsettled=0, worker_lost=False)  # the new run's spell starts now
