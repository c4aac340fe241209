"""The limit on logged bad requests: a burst per window, then one line counting what was left out."""

from __future__ import annotations

import logging

import pytest

from harness.emulator.ratelog import RateLimitedLog
from tests.unit.emulator_helpers import Clock


def test_a_flood_logs_a_burst_per_window_and_then_counts_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(0.0)
    limited = RateLimitedLog(logging.getLogger("test.ratelog"), clock, burst=3, window_s=10.0)
    with caplog.at_level(logging.WARNING, logger="test.ratelog"):
        for n in range(10):
            limited.warning("bad request %d", n)
        assert caplog.messages == ["bad request 0", "bad request 1", "bad request 2"]
        clock.now = 9.9
        limited.warning("bad request %d", 10)
        assert len(caplog.messages) == 3
        clock.now = 10.0
        limited.warning("bad request %d", 11)
    assert caplog.messages[3:] == ["8 more bad requests were not logged", "bad request 11"]
