"""``streamharness load``: run Locust headless with the harness's options, then the analysis.

Locust runs as a child process (its gevent monkey-patching must not touch this one); secrets go
to it through the environment, never on its command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.settings import LoadSettings, add_options, secret_environment, to_arguments


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("load", help="Run a load test with Locust, then analyse it.")
    add_options(parser)
    parser.set_defaults(run=run)


def locustfile_path() -> Path:
    path = Path(__file__).resolve().parents[2] / "locustfile.py"
    if not path.exists():
        raise HarnessError(f"cannot find the harness's locustfile at {path}")
    return path


def run(args: argparse.Namespace) -> int:
    from harness.analysis.command import analyze
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
    return analyze(run_dir, as_json=False)
