"""Two runs on one durable subscription: the second must tell the first one's leftovers from its own messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.analysis.load import load_run
from harness.events import schema
from harness.targets.emulator import EmulatorProcess
from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def test_an_earlier_runs_leftovers_are_unexpected_not_duplicates(tmp_path: Path) -> None:
    common = ["--reports-dir", str(tmp_path), "--subscription", "kept", "--producers", "2"]
    with EmulatorProcess() as emulator:
        # r1: one slow consumer and a short drain leave most of the backlog on the subscription
        first = run_cli(
            ["load", "--url", emulator.url, *common, "--run-id", "r1", "--consumers", "1", "--processing-ms", "20"]
            + ["--rate", "100", "--duration", "2", "--drain-timeout", "1"],
            seconds=120,
        )
        assert first.returncode in (1, 2), first.stdout[-2000:] + first.stderr[-2000:]
        assert json.loads((tmp_path / "r1" / "run.json").read_text())["drained"] is False
        # r2: the same subscription; its uids (w0-p1/0, ...) are the same as r1's
        second = run_cli(
            ["load", "--url", emulator.url, *common, "--run-id", "r2", "--consumers", "2", "--rate", "50"]
            + ["--duration", "2"],
            seconds=120,
        )
    assert second.returncode == 1, second.stdout[-3000:] + second.stderr[-2000:]
    run = load_run(tmp_path / "r2")
    deliveries = run.events[run.events["kind"] == schema.DELIVER]
    leftovers = deliveries[deliveries["uid"] == ""]
    assert len(leftovers) > 50, "r1 left messages behind for r2"
    assert leftovers["detail"].str.match(r"not sent by this run: run r1, uid w0-p\d/\d+$").all()
    acked = run.events[(run.events["kind"] == schema.ACK) & (run.events["uid"] == "")]
    assert set(acked["msg_id"]) == set(leftovers["msg_id"]), "every leftover is acknowledged, so it goes away"
    summary = json.loads((tmp_path / "r2" / "summary.json").read_text())
    delivery = summary["delivery"]
    assert delivery["unexpected"] == len(leftovers), delivery
    assert delivery["duplicated"] == delivery["lost"] == 0, delivery
    assert summary["latency_ms"]["e2e"]["negative"] == 0
    assert summary["verdict"] == "fail" and any("unexpected" in reason for reason in summary["reasons"])
    assert run.manifest["drained"] is True  # the leftovers did not hold up r2's drain
