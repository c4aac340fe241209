"""Checking the checker: the emulator injects each fault at known counts; the checker must report
exactly what the truth log holds, in the right class, and nothing else.

Needs the emulator's ``--fault``, ``--fault-seed`` and ``--truth-log`` options.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis.delivery import classify
from harness.analysis.load import load_run
from harness.analysis.messages import gather
from harness.analysis.runinfo import run_info
from harness.analysis.summary import summarize
from harness.analysis.truth import checker_view, compare_truth, read_truth
from harness.targets.emulator import EmulatorProcess
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

CASES = [
    # (fault spec, subscription type, expected exit code, class the faulted messages land in)
    ("drop=0.02", "Shared", 1, "lost"),
    ("duplicate=0.02", "Shared", 1, "duplicated"),
    ("misroute=0.02", "Shared", 1, "duplicated"),
    ("delay=0.05,ms=200", "Shared", 0, "ok"),
    ("reorder=0.02", "Shared", 0, "ok"),
    ("reorder=0.02", "Exclusive", 1, "ok"),
    ("disconnect,every=1s", "Shared", 0, None),
    ("skew=0.8", "Shared", 1, "ok"),
]


def run_with_fault(tmp_path: Path, spec: str, subscription_type: str) -> tuple[Path, Path, int, str]:
    truth = tmp_path / "truth.jsonl"
    extra = ["--fault", spec, "--fault-seed", "7", "--truth-log", str(truth)]
    # On Exclusive one producer, so every swap the emulator makes breaks that producer's order.
    consumers = producers = "1" if subscription_type == "Exclusive" else "2"
    with EmulatorProcess(extra_args=extra) as emulator:
        result = run_cli(
            [
                "load",
                "--target",
                "emulator",
                "--url",
                emulator.url,
                "--subscription-type",
                subscription_type,
                "--consumers",
                consumers,
                "--producers",
                producers,
                "--duration",
                "3",
                "--drain-timeout",
                "3",  # dropped messages never arrive: the drain would wait out its whole timeout
                "--rate",
                "100" if producers == "1" else "50",
                "--reports-dir",
                str(tmp_path),
                "--run-id",
                "run",
            ],
            seconds=120,
        )
    return tmp_path / "run", truth, result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize(("spec", "subscription_type", "exit_code", "landing"), CASES)
def test_checker_reports_exactly_the_injected_faults(
    tmp_path: Path, spec: str, subscription_type: str, exit_code: int, landing: str | None
) -> None:
    run_dir, truth, code, output = run_with_fault(tmp_path, spec, subscription_type)
    faults, problems = read_truth(truth)
    assert problems == []
    kind = spec.split("=")[0].split(",")[0]
    injected = [f for f in faults if f.fault == kind]
    assert injected, f"the emulator injected no {kind} fault:\n{output}"

    run = load_run(run_dir)
    assert not run.data_skipped, run.problems
    m = gather(run.log)
    info = run_info(run.manifest)
    result = classify(run.log, m, info.ack_timeout_ms, ordered=info.ordered)
    mismatches = compare_truth(faults, checker_view(run.log, m, result, faults))
    assert [str(x) for x in mismatches] == []

    counts = result.counts
    if landing == "lost":
        assert counts["lost"] == len({f.uid for f in injected})
    if landing == "duplicated":
        assert counts["duplicated"] == len({f.uid for f in injected})
    if landing in ("ok", None):
        assert counts["lost"] == counts["duplicated"] == counts["unexpected"] == 0
    if kind == "reorder" and subscription_type == "Exclusive":
        assert result.order_violations == len(injected)
    if kind == "skew":
        jain = summarize(run)["fairness"]["jain"]
        assert jain is not None and jain < 0.9
    assert code == exit_code, output
