"""The checker against pulsar-lite, a real Pulsar-protocol broker: where it misbehaves, and across processes.

pulsar-lite 0.2.0's Shared dispatcher stops rotating with three consumers: measured, its round-robin
index moves on by three per message dispatched (and by one more on each flow command), so with three
consumers it keeps picking the same one until that consumer's client grants more permits, which the
C++ client does after receiving receiverQueueSize / 2 messages. Pulsar rotates after every pick
(AbstractDispatcherMultipleConsumers.getNextConsumer). Timing moves the phase now and then, so how
uneven the totals come out varies from run to run; the runs of consecutive deliveries to one
consumer are long in every run, and that is what is asserted. The churn and SIGKILL runs against
pulsar-lite live in test_conformance.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.target_runs import FAIL, PASS, TARGETS, run_load

pytestmark = pytest.mark.slow

#: One producer at 200 msg/s for 3 s, three Shared consumers with the default receiverQueueSize (1000).
STICKY_SCENARIO = ("--producers", "1", "--consumers", "3", "--rate", "200", "--duration", "3")


@pytest.mark.parametrize("target", TARGETS)
def test_three_shared_consumers_get_runs_of_deliveries_on_pulsar_lite_and_a_round_robin_on_the_emulator(
    tmp_path: Path, target: str
) -> None:
    run = run_load(tmp_path, target, *STICKY_SCENARIO)
    summary = run.summary
    delivery = summary["delivery"]
    assert delivery["lost"] == delivery["duplicated"] == delivery["unexpected"] == 0, delivery
    assert delivery["ok"] >= 550, delivery
    fairness = summary["fairness"]
    runs = fairness["round_robin"]
    counts = sorted(consumer["delivered"] for consumer in fairness["consumers"])
    figures = (fairness["jain"], counts, runs)
    assert fairness["applies"] is True and len(counts) == 3, figures
    if target == "emulator":
        # one message at a time, each to the next consumer: runs of one, a few longer where two
        # publishes met in one read (at most a dispatcherMaxRoundRobinBatchSize chunk of 20)
        assert runs["mean"] <= 1.5 and runs["max"] <= 20, figures
        assert fairness["jain"] >= 0.97 and counts[0] >= 0.28 * sum(counts), figures
        assert summary["verdict"] == "pass" and run.returncode == PASS, run.tail()
    else:
        # Measured over six runs (loaded 2-core machine): mean run 7.7-75 deliveries, longest 55-495,
        # Jain 0.47-0.99 (four of six below the 0.9 threshold: FAIL), the least-served consumer 2-190
        # of 600. Asserted with margin: a mean run of 3 or more and a longest of 25 or more, where a
        # round robin gives 1 and 1-4.
        assert runs["mean"] >= 3 and runs["max"] >= 25, figures
        if fairness["jain"] < 0.9:
            assert summary["verdict"] == "fail" and run.returncode == FAIL, run.tail()
            assert any("Jain" in reason for reason in summary["reasons"]), summary["reasons"]
    print(f"{target}: Jain {fairness['jain']}, delivered {counts}, round-robin runs {runs}")


def test_four_consumers_in_two_processes_get_every_message_exactly_once(tmp_path: Path) -> None:
    """Native driver, --processes 2: pulsar-lite keys consumers by the client's consumer id, so each
    process's consumers must get ids no other process uses (the driver's workaround), end to end."""
    args = ["--processes", "2", "--producers", "2", "--consumers", "4", "--rate", "100", "--duration", "3"]
    run = run_load(tmp_path, "pulsar-lite", *args)
    assert run.returncode == PASS and run.summary["verdict"] == "pass", run.tail()
    manifest = run.run.manifest
    assert manifest["completed"] is True and manifest["drained"] is True
    assert "endpoint_lost" not in manifest and not manifest.get("workers_lost")
    delivery, messages = run.summary["delivery"], run.summary["messages"]
    assert delivery["lost"] == delivery["duplicated"] == delivery["unexpected"] == delivery["indeterminate"] == 0
    assert messages["sent"] == messages["published"] == messages["delivered_once"] == delivery["ok"] >= 550
    assert messages["delivered_more"] == 0, messages
    consumers = {consumer["consumer"]: consumer["delivered"] for consumer in run.summary["fairness"]["consumers"]}
    assert sorted(consumers) == ["w0-c1", "w0-c2", "w1-c1", "w1-c2"], consumers
    assert min(consumers.values()) > 0, consumers
    assert sorted(f.name.split("-")[0] for f in run.run.files) == ["w0", "w1"]
