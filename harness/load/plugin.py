"""The harness's Locust listeners, attached explicitly with :func:`register` (never on import).

On the master (or the only process) ``init`` validates the settings and prepares the target
(starting the emulator if that is the target), so bad input stops the run before any load.
Each ``test_start`` opens a new run folder; the event writer is flushed every half second, when
the run stops, when Locust quits (SIGINT and SIGTERM included) and at interpreter exit.
"""

from __future__ import annotations

from locust.env import Environment
from locust.event import Events
from locust.runners import MasterRunner, Runner, WorkerRunner

import atexit
import logging
import sys
import time
from pathlib import Path
from typing import Any

import gevent

from harness.errors import HarnessError
from harness.events.runfolder import RunFolder, new_run_id, versions
from harness.events.schema import SCHEMA_VERSION
from harness.events.writer import CsvFileSink, EventWriter
from harness.load import options
from harness.load.controller import control_run
from harness.load.runtime import ActiveRun, Runtime, attach, runtime_of
from harness.load.users import Consumer, Producer
from harness.settings import LoadSettings
from harness.targets import make_target

log = logging.getLogger("harness.load")

FLUSH_INTERVAL_S = 0.5


def register(events: Events) -> None:
    """Attach every streamharness listener to Locust's events."""
    events.init_command_line_parser.add_listener(options.add_locust_options)
    events.init.add_listener(_on_init)
    events.test_start.add_listener(_on_test_start)
    events.test_stop.add_listener(_on_test_stop)
    events.quitting.add_listener(_on_quitting)


def _role(runner: Runner | None) -> str:
    if isinstance(runner, MasterRunner):
        return "master"
    if isinstance(runner, WorkerRunner):
        return "worker"
    return "local"


def _fail(message: str) -> None:
    print(f"streamharness: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def _on_init(environment: Environment, runner: Runner | None = None, **_: Any) -> None:
    runtime = Runtime(environment, _role(runner))
    attach(environment, runtime)
    atexit.register(_close, runtime)
    if runtime.role == "worker":
        return  # settings arrive from the master with the first spawn message
    try:
        settings = LoadSettings.from_namespace(environment.parsed_options)
        target = make_target(settings)
        target.prepare()
    except HarnessError as exc:
        _fail(str(exc))
        return
    runtime.settings, runtime.target = settings, target
    if environment.parsed_options is not None:
        environment.parsed_options.url = target.base_url  # workers learn the endpoint from the master


def _on_test_start(environment: Environment, **_: Any) -> None:
    runtime = runtime_of(environment)
    try:
        settings = LoadSettings.from_namespace(environment.parsed_options)
    except HarnessError as exc:
        log.error("streamharness: %s; the run records nothing", exc)
        return
    if runtime.role == "worker":
        runtime.target = make_target(settings)
        runner = environment.runner
        runtime.worker_tag = f"w{getattr(runner, 'worker_index', 0)}"
    else:
        Producer.fixed_count = settings.producers
        Consumer.fixed_count = settings.consumers
    run_id = settings.run_id or new_run_id()
    if runtime.run is not None and runtime.run.folder.run_id == run_id:
        run_id = new_run_id()  # a second run from the web UI gets a folder of its own
    runtime.settings = settings
    folder = RunFolder.create(Path(settings.reports_dir), run_id)
    writer = None if runtime.role == "master" else EventWriter(CsvFileSink(folder.events_file(runtime.process_name)))
    manifest: dict[str, Any] = {
        "run_id": run_id,
        "schema_version": SCHEMA_VERSION,
        "settings": settings.as_dict(),
        "versions": versions(),
        "target": runtime.target.describe() if runtime.target else {},
        "role": runtime.role,
        "started_ns": time.time_ns(),
        "completed": False,
    }
    run = ActiveRun(folder, writer, manifest)
    runtime.begin_run(run)
    if runtime.role != "worker":
        folder.write_manifest(manifest)
        gevent.spawn(control_run, runtime)
    if writer is not None:
        gevent.spawn(_flush_periodically, runtime, run)


def _flush_periodically(runtime: Runtime, run: ActiveRun) -> None:
    while runtime.run is run and run.writer is not None and not run.writer.closed:
        gevent.sleep(FLUSH_INTERVAL_S)
        run.writer.flush()


def _on_test_stop(environment: Environment, **_: Any) -> None:
    runtime = runtime_of(environment)
    if runtime.run is not None:
        runtime.run.finish(completed=True, drained=False)  # no-op if the controller finished it


def _on_quitting(environment: Environment, **_: Any) -> None:
    runtime = runtime_of(environment)
    if runtime.run is not None:
        runtime.run.finish(completed=False)
    if runtime.target is not None:
        runtime.target.close()


def _close(runtime: Runtime) -> None:
    """At interpreter exit: the last events (users' disconnects) reach the file; the emulator stops."""
    if runtime.run is not None:
        runtime.run.close()
    if runtime.target is not None:
        runtime.target.close()
