"""The absolute schedule: intended send times never drift, late messages go at once."""

from __future__ import annotations

import pytest

from harness.load.clocks import ClockAnchor
from harness.load.pacing import Schedule


def test_due_times_are_absolute() -> None:
    schedule = Schedule(rate=4, start=10.0)
    assert [schedule.due(i) for i in range(4)] == [10.0, 10.25, 10.5, 10.75]


def test_wait_and_lag() -> None:
    schedule = Schedule(rate=10, start=0.0)
    assert schedule.wait(3, now=0.1) == pytest.approx(0.2)
    assert schedule.wait(3, now=0.5) == 0.0
    assert schedule.lag(3, now=0.5) == pytest.approx(0.2)


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Schedule(rate=0, start=0.0)


def test_anchor_converts_monotonic_to_wall_clock() -> None:
    anchor = ClockAnchor(wall_ns=1_000_000_000, mono=5.0)
    assert anchor.wall_ns_at(5.25) == 1_250_000_000
