"""``streamharness analyze | report | compare``: the checker's commands, thin over pure functions.

``analyze`` checks a run folder, writes ``summary.json``, the plots and ``report.html``, prints
the console summary (or the summary as JSON) and exits with the verdict: 0 pass, 1 violation,
2 inconclusive. ``report`` rewrites the report only; ``compare`` prints the change in every
headline figure between two runs.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from harness.analysis.verdict import Thresholds
from harness.argtypes import MAX_SECONDS, existing_file, fraction, non_negative_int, non_negative_number, number_between
from harness.errors import HarnessError, one_line
from harness.settings import option_dest

#: The shortest window of figures over time: a shorter one would make a window per row (or more).
MIN_WINDOW_S = 0.001

#: The verdict's thresholds as options (flag, type, help); each sets the Thresholds field of its name.
THRESHOLD_OPTIONS = (
    ("--max-lost", int, "Lost messages allowed (default 0)."),
    ("--max-duplicated", int, "Duplicated messages allowed (default 0)."),
    ("--max-unexpected", int, "Unexpected messages allowed (default 0)."),
    ("--max-rejected-delivered", int, "Rejected-but-delivered allowed (default 0)."),
    ("--max-order-violations", int, "Order violations allowed, Exclusive/Failover (0)."),
    ("--min-jain", fraction, "Lowest Jain's fairness index that passes, Shared (default 0.9)."),
    ("--max-p99-ms", float, "Highest end-to-end p99 in ms that passes (default: no limit)."),
    ("--max-starved", int, "Starved consumers allowed (default: not judged)."),
    ("--max-unacked", int, "Delivered but never acked messages allowed (default: not judged)."),
)


def register(subparsers: Any) -> None:
    analyze_parser = subparsers.add_parser("analyze", help="Check a run folder, write its summary and report.")
    analyze_parser.add_argument("run_dir", type=Path, help="A run folder, e.g. reports/<run-id>.")
    analyze_parser.add_argument("--json", action="store_true", help="Print summary.json instead of the table.")
    analyze_parser.add_argument("--no-report", action="store_true", help="Skip the plots and report.html.")
    _add_analysis_options(analyze_parser)
    analyze_parser.set_defaults(
        run=lambda args: analyze(args.run_dir, args.json, options_from(args), write_report=not args.no_report)
    )

    report_parser = subparsers.add_parser("report", help="Write a run folder's plots and report.html.")
    report_parser.add_argument("run_dir", type=Path, help="A run folder, e.g. reports/<run-id>.")
    _add_analysis_options(report_parser)
    report_parser.set_defaults(run=lambda args: report(args.run_dir, options_from(args)))

    compare_parser = subparsers.add_parser("compare", help="Print the change in every headline figure of two runs.")
    compare_parser.add_argument("run_a", type=Path, help="The baseline run folder (or its summary.json).")
    compare_parser.add_argument("run_b", type=Path, help="The run to compare with it.")
    compare_parser.add_argument("--json", action="store_true", help="Print the comparison as JSON.")
    compare_parser.set_defaults(run=lambda args: compare(args.run_a, args.run_b, args.json))


def _add_analysis_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("analysis")
    group.add_argument(
        "--window-s",
        type=number_between(MIN_WINDOW_S, MAX_SECONDS, " s"),
        default=10.0,
        help=f"Window for figures over time, {MIN_WINDOW_S:g} s or more (10 s).",
    )
    group.add_argument(
        "--starvation-s",
        type=number_between(MIN_WINDOW_S, MAX_SECONDS, " s"),
        default=5.0,
        help="Silence with a backlog that counts as starved (5 s).",
    )
    group.add_argument(
        "--ack-grace-ms",
        type=number_between(0, MAX_SECONDS * 1000, " ms"),
        default=1000.0,
        help="An ack this close before its consumer disconnected may not have arrived (1000 ms).",
    )
    limits = parser.add_argument_group("thresholds (a violation beyond one fails the run)")
    limits.add_argument(
        "--thresholds", type=existing_file, help="TOML file with threshold values ([thresholds] or top-level)."
    )
    add_threshold_options(limits)


def add_threshold_options(group: Any, flags: Collection[str] | None = None) -> None:
    """The threshold options (those in ``flags``, or all) on an argparse group; every one finite and >= 0."""
    for flag, kind, text in THRESHOLD_OPTIONS:
        if flags is None or flag in flags:
            parse = non_negative_int if kind is int else non_negative_number if kind is float else kind
            group.add_argument(flag, type=parse, help=text)


def given_thresholds(args: argparse.Namespace) -> dict[str, float]:
    """The threshold options given on the command line, by Thresholds field name."""
    values = {option_dest(flag): getattr(args, option_dest(flag), None) for flag, _, _ in THRESHOLD_OPTIONS}
    return {name: value for name, value in values.items() if value is not None}


def options_from(args: argparse.Namespace) -> Any:
    """Analysis options from parsed arguments: a thresholds file first, then single options over it."""
    from harness.analysis.summary import Options
    from harness.analysis.verdict import load_thresholds

    limits = load_thresholds(args.thresholds) if args.thresholds else Thresholds()
    limits = limits.updated(given_thresholds(args), "command line")
    return Options(
        window_s=args.window_s, starvation_s=args.starvation_s, ack_grace_ms=args.ack_grace_ms, thresholds=limits
    )


def analyze(run_dir: Path, as_json: bool = False, options: Any = None, write_report: bool = True) -> int:
    """Load, check, write summary.json (and the report), print; returns the verdict's exit code."""
    from harness.report.console import render_summary

    summary, report_path = _check(run_dir, options, write_report)
    if as_json:
        print(json.dumps(summary, indent=1))
    else:
        print(render_summary(summary))
        print(f"run folder: {run_dir}")
        if report_path is not None:
            print(f"report: {report_path}")
    code: int = summary["exit_code"]
    return code


def report(run_dir: Path, options: Any = None) -> int:
    """Re-analyse a run folder and write summary.json, the plots and report.html; 0 once written."""
    summary, report_path = _check(run_dir, options, with_report=True)
    print(f"report: {report_path}")
    print(f"verdict: {summary['verdict'].upper()}")
    return 0


def _check(run_dir: Path, options: Any, with_report: bool) -> tuple[dict[str, Any], Path | None]:
    """Check the run folder and write summary.json there (and the report, when asked)."""
    from harness.analysis.load import load_run
    from harness.analysis.summary import summarize, write_summary

    summary = summarize(load_run(run_dir), options)
    try:
        write_summary(run_dir, summary)
        if not with_report:
            return summary, None
        from harness.report.html import write_report  # matplotlib: only when plots are drawn

        return summary, write_report(run_dir, summary)
    except OSError as exc:  # a read-only run folder, a file where the report goes: one line, exit 2
        raise HarnessError(f"{run_dir}: cannot write the summary or report there ({one_line(exc)})") from None


def compare(run_a: Path, run_b: Path, as_json: bool = False) -> int:
    """Print the change in every headline figure from ``run_a`` to ``run_b``."""
    from harness.analysis.compare import compare_summaries, read_summary
    from harness.report.console import render_comparison

    rows = compare_summaries(read_summary(run_a), read_summary(run_b))
    if as_json:
        print(json.dumps([row.as_dict() for row in rows], indent=1))
    else:
        print(render_comparison(str(run_a), str(run_b), rows))
    return 0


__all__ = ["analyze", "compare", "report"]
