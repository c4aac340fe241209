"""The real producers and consumers on the in-memory driver: event rows and counters, in well under a second each.

The scenarios live in :mod:`tests.unit.load_scenarios` and run in one child process (Locust's
monkey-patching must not leak into this one); each test here reads its scenario's outcome.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = [
    "a_clean_run_publishes_delivers_and_acks_every_message_once",
    "both_consumers_share_the_subscription",
    "churn_gives_held_messages_to_the_other_consumer_and_the_ledger_stays_exact",
    "a_nacked_message_comes_back_with_its_redelivery_count_raised",
    "a_busy_refusal_does_not_cut_the_consumer_off",
    "an_endpoint_that_drops_its_sessions_cuts_users_off_until_they_return",
]
CHILD_LIMIT_S = 120


@pytest.fixture(scope="module")
def outcomes() -> dict[str, str]:
    child = subprocess.run(
        [sys.executable, "-m", "tests.unit.load_scenarios", *SCENARIOS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=CHILD_LIMIT_S,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    result: dict[str, str] = orjson.loads(child.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario(name: str, outcomes: dict[str, str]) -> None:
    assert outcomes.get(name) == "ok", outcomes.get(name, "scenario did not run")
