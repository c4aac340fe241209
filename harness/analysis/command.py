"""``streamharness analyze``: check a run folder's event log and print the verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("analyze", help="Check a run folder's event log and print the verdict.")
    parser.add_argument("run_dir", type=Path, help="A run folder, e.g. reports/<run-id>.")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    parser.set_defaults(run=lambda args: analyze(args.run_dir, as_json=args.json))


def analyze(run_dir: Path, as_json: bool) -> int:
    """Load, count, judge and print; returns the verdict's exit code."""
    from harness.analysis.delivery import count_delivery
    from harness.analysis.load import load_run
    from harness.analysis.verdict import judge
    from harness.report.console import render_summary

    run = load_run(run_dir)
    counts = count_delivery(run.events)
    verdict = judge(counts)
    if as_json:
        document = {
            "run": str(run_dir),
            "verdict": verdict.outcome,
            "reasons": verdict.reasons,
            "delivery": counts.as_dict(),
            "problems": run.problems,
        }
        print(json.dumps(document, indent=2))
    else:
        print(render_summary(run_dir.name, counts, verdict, run.problems))
        print(f"run folder: {run_dir}")
    return verdict.exit_code


__all__ = ["analyze"]
