"""``streamharness load`` (Locust headless, then the analysis) and ``streamharness collect``.

Locust runs as a child process (its gevent monkey-patching must not touch this one); secrets go
to it through the environment, never on its command line. SIGINT or SIGTERM to this command
reaches Locust as one SIGINT, which takes its orderly path (events flushed, run.json marked
incomplete); the analysis then runs on what was recorded. The analysis runs as a child process
too (load generation never imports it), with the verdict options given to ``load``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.analysis.command import add_threshold_options
from harness.argtypes import existing_file, whole_number_between
from harness.errors import HarnessError, one_line
from harness.events.schema import COLUMNS, EVENTS_DIR, RUN_JSON
from harness.load.relay import RELAY, Interrupted
from harness.settings import (
    LoadSettings,
    add_options,
    environment_without_secrets,
    option_dest,
    secret_environment,
    to_arguments,
)
from harness.targets.child import free_port


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("load", help="Run a load test with Locust, then analyse it.")
    add_options(parser)
    parser.add_argument(
        "--processes",
        type=whole_number_between(0, MAX_PROCESSES),
        default=0,
        help=f"Locust worker processes on this machine (0 = one process; at most {MAX_PROCESSES}).",
    )
    verdict = parser.add_argument_group("verdict (passed to the checker that ends the run)")
    verdict.add_argument("--thresholds", type=existing_file, help="TOML file of thresholds, as for analyze.")
    add_threshold_options(verdict, VERDICT_FLAGS)
    parser.set_defaults(run=run)
    collect = subparsers.add_parser(
        "collect", help="Merge events files that distributed workers kept on their own disks into a run folder."
    )
    collect.add_argument("run_dir", type=Path, help="The master's run folder (holds run.json).")
    collect.add_argument("sources", type=Path, nargs="+", help="Workers' copies of the run folder (or events folders).")
    collect.set_defaults(run=run_collect)


#: More Locust processes than any one machine could use: a sane bound.
MAX_PROCESSES = 1024

#: Verdict thresholds ``load`` hands to ``analyze`` (which defines and documents them all).
VERDICT_FLAGS = ("--max-lost", "--max-duplicated", "--max-unexpected", "--min-jain", "--max-p99-ms")


def verdict_arguments(args: argparse.Namespace) -> list[str]:
    """The verdict options given to ``load``, as ``analyze`` arguments."""
    arguments = ["--thresholds", str(args.thresholds)] if getattr(args, "thresholds", None) else []
    for flag in VERDICT_FLAGS:
        value = getattr(args, option_dest(flag), None)
        if value is not None:
            arguments += [flag, str(value)]
    return arguments


#: Locust's exit code when the harness (or Locust's own parser) refused the run before it began.
LOCUST_REFUSED = 2


def locustfile_path() -> Path:
    path = Path(__file__).resolve().parents[2] / "locustfile.py"
    if not path.exists():
        raise HarnessError(f"cannot find the harness's locustfile at {path}")
    return path


def run(args: argparse.Namespace) -> int:
    from harness.analysis.verdict import load_thresholds
    from harness.events.runfolder import check_run_location, new_run_id
    from harness.targets import make_target

    settings = LoadSettings.from_namespace(args)
    if args.thresholds:
        load_thresholds(args.thresholds)  # a bad file is refused now, not after the load
    check_run_location(Path(settings.reports_dir), settings.run_id)  # Locust claims the folder; this says why early
    target = make_target(settings)
    target.check()  # fail before Locust starts, in one line: unreachable, then refused credentials
    target.check_access()
    settings = dataclasses.replace(settings, run_id=settings.run_id or new_run_id())
    try:
        code = run_locust(settings, processes=args.processes)
    except Interrupted as stop:
        code = stop.code  # the incomplete run is analysed like any other
    run_dir = Path(settings.reports_dir) / settings.run_id
    if code == LOCUST_REFUSED or not (run_dir / RUN_JSON).exists():
        # Locust refused the run and said why. Its folder may be another run's (one started at once
        # with this run id, which claimed it first): it is not this run's to analyse.
        return code if code else 2
    print(flush=True)
    analyze = [sys.executable, "-m", "harness", "analyze", str(run_dir), *verdict_arguments(args)]
    return subprocess.run(analyze, env=environment_without_secrets()).returncode


def run_locust(settings: LoadSettings, processes: int = 0, quiet: bool = False) -> int:
    """Run Locust headless with ``settings`` (which must carry a run id) until it exits; its exit code.

    ``quiet`` sends Locust's own output to /dev/null, for callers that run many short runs.
    Locust runs in a session of its own, so a Ctrl-C at the terminal reaches it once, through
    :data:`~harness.load.relay.RELAY`: SIGINT and SIGTERM here reach it as SIGINT, and this waits.
    """
    command = [sys.executable, "-m", "locust", "-f", str(locustfile_path()), "--headless", "--only-summary"]
    if processes:
        port = str(free_port())  # not Locust's shared default 5557: another run may hold it
        command += ["--processes", str(processes), "--master-bind-host", "127.0.0.1", "--master-bind-port", port]
        command += ["--master-host", "127.0.0.1", "--master-port", port]
    command += to_arguments(settings)
    env = {**os.environ, **secret_environment(settings)}
    output = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen(command, env=env, stdout=output, stderr=output, start_new_session=True)
    with RELAY.installed(), RELAY.watching(process):
        code = process.wait()
        interrupted = bool(RELAY.received)
    if interrupted:
        raise Interrupted(code)
    return code


def run_collect(args: argparse.Namespace) -> int:
    copied = collect(args.run_dir, args.sources)
    print(f"collected {len(copied)} events files into {args.run_dir / EVENTS_DIR}")
    return 0


def collect(run_dir: Path, sources: list[Path]) -> list[Path]:
    """Copy every source's ``events/*.csv`` into the run folder; refuses clashes and foreign files."""
    if not (run_dir / RUN_JSON).is_file():
        raise HarnessError(f"{run_dir}: not a run folder (no {RUN_JSON})")
    header = ",".join(COLUMNS)
    target_dir = run_dir / EVENTS_DIR
    try:
        target_dir.mkdir(exist_ok=True)
    except OSError as exc:
        raise HarnessError(f"{run_dir}: cannot make its {EVENTS_DIR} folder ({one_line(exc)})") from None
    if not target_dir.is_dir() or not os.access(target_dir, os.W_OK | os.X_OK):
        raise HarnessError(f"{target_dir}: not a writable folder")
    plan: list[tuple[Path, Path]] = []
    for source in sources:
        events = source / EVENTS_DIR if (source / EVENTS_DIR).is_dir() else source
        if not events.is_dir():
            raise HarnessError(f"{source}: no such folder")
        if events.resolve() == target_dir.resolve():
            continue  # workers on this machine wrote into the run folder already
        if source.name != run_dir.name and events.parent.name != run_dir.name and source.name != EVENTS_DIR:
            raise HarnessError(f"{source}: belongs to run {source.name!r}, not {run_dir.name!r}")
        for file in sorted(events.glob("*.csv")):
            if not file.is_file():  # a FIFO would block the read forever, /dev/zero would never end
                raise HarnessError(f"{file}: not an events file (not a regular file)")
            try:
                with file.open(encoding="utf-8", errors="replace") as handle:
                    first = handle.readline(len(header) + 2).strip()
            except OSError as exc:
                raise HarnessError(f"{file}: cannot read it ({one_line(exc)})") from None
            if first != header:
                raise HarnessError(f"{file}: not an events file of schema v1 (header {first[:60]!r})")
            destination = target_dir / file.name
            if destination.exists() and destination.read_bytes() != file.read_bytes():
                raise HarnessError(f"{destination} exists with other content; refusing to overwrite it")
            plan.append((file, destination))
    for file, destination in plan:
        try:
            shutil.copyfile(file, destination)
        except OSError as exc:
            raise HarnessError(f"cannot copy {file} into {target_dir} ({one_line(exc)})") from None
    return [destination for _, destination in plan]
