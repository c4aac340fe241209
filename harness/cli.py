"""The ``streamharness`` command: a thin layer over the emulator, the load run and the analysis.

Every error a user can cause ends in one line on stderr and exit code 2; the analysis exits 0
(pass), 1 (delivery violated) or 2 (inconclusive).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from harness.errors import HarnessError
from harness.settings import LoadSettings, add_options, secret_environment, to_arguments

PROG = "streamharness"


class _Parser(argparse.ArgumentParser):
    """argparse, but bad usage is one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Load tests for shared-subscription streams.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    emulator = commands.add_parser("emulator", help="Run the emulated GDN / Pulsar WebSocket endpoint.")
    emulator.add_argument("--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1).")
    emulator.add_argument("--port", type=int, default=8080, help="Port to bind; 0 picks a free one.")

    load = commands.add_parser("load", help="Run a load test with Locust, then analyse it.")
    add_options(load)

    analyze = commands.add_parser("analyze", help="Check a run folder's event log and print the verdict.")
    analyze.add_argument("run_dir", type=Path, help="A run folder, e.g. reports/<run-id>.")
    analyze.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "emulator":
            return _emulator(args)
        if args.command == "load":
            return _load(args)
        return _analyze(args.run_dir, as_json=args.json)
    except HarnessError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def _emulator(args: argparse.Namespace) -> int:
    from harness.emulator.process import run

    return run(args.host, args.port)


def locustfile_path() -> Path:
    path = Path(__file__).resolve().parent.parent / "locustfile.py"
    if not path.exists():
        raise HarnessError(f"cannot find the harness's locustfile at {path}")
    return path


def _load(args: argparse.Namespace) -> int:
    from harness.events.runfolder import new_run_id
    from harness.targets import make_target

    settings = LoadSettings.from_namespace(args)
    make_target(settings).check()  # fail before Locust starts, in one line
    settings = dataclasses.replace(settings, run_id=settings.run_id or new_run_id())
    users = max(1, settings.producers + settings.consumers)
    command = [sys.executable, "-m", "locust", "-f", str(locustfile_path()), "--headless", "--only-summary"]
    command += ["-u", str(users), "-r", str(users), *to_arguments(settings)]
    env = {**os.environ, **secret_environment(settings)}
    process = subprocess.Popen(command, env=env)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        code = process.wait()
    run_dir = Path(settings.reports_dir) / settings.run_id
    if not (run_dir / "run.json").exists():
        return code if code else 2  # Locust refused to start; it said why
    print()
    return _analyze(run_dir, as_json=False)


def _analyze(run_dir: Path, as_json: bool) -> int:
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
