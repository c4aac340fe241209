"""The harness's Locust listeners, attached explicitly with :func:`register` (never on import).

On the master (or the only process) ``init`` validates the settings and prepares the target
(starting the emulator if that is the target), so bad input stops the run before any load, and
``test_start`` opens a run folder and starts the run controller. Workers get the settings with
the first spawn message and send their events to the master (or keep them on disk). Event writers
are flushed every 0.2 s, when the run stops, when Locust quits (SIGINT and SIGTERM
included) and at interpreter exit.
"""

from __future__ import annotations

from locust.env import Environment
from locust.event import Events
from locust.runners import MasterRunner, Runner, WorkerRunner

import atexit
import contextlib
import logging
import os
import signal
import sys
import time
import weakref
from pathlib import Path
from typing import Any

import gevent
import psutil

from harness.errors import HarnessError, one_line
from harness.events.runfolder import RunFolder, check_run_location, new_run_id, versions
from harness.events.schema import SCHEMA_VERSION
from harness.events.shipping import ChannelSink, EventStore
from harness.events.writer import CsvFileSink, EventWriter, RowSink
from harness.load import channel, live, options
from harness.load.consumer import Consumer
from harness.load.controller import Coordinator, control_run
from harness.load.phases import Phase
from harness.load.producer import Producer
from harness.load.runtime import ActiveRun, Runtime, attach, runtime_of
from harness.load.stages import Stage, stages_from_settings
from harness.settings import LOAD_OPTIONS, LoadSettings
from harness.targets import make_target

log = logging.getLogger("harness.load")

FLUSH_INTERVAL_S = 0.2
CHILDREN_EXIT_WAIT_S = 5.0
#: Rows written per step of a periodic flush; other greenlets run between steps.
FLUSH_CHUNK_ROWS = 1000
#: A headless run's folder, claimed at init (so a folder in use is refused before any user starts).
_CLAIMED: weakref.WeakKeyDictionary[Environment, RunFolder] = weakref.WeakKeyDictionary()


def register(events: Events) -> None:
    """Attach every streamharness listener to Locust's events."""
    events.init_command_line_parser.add_listener(options.add_locust_options)
    events.init.add_listener(_on_init)
    events.test_start.add_listener(_on_test_start)
    events.test_stop.add_listener(_on_test_stop)
    events.quitting.add_listener(_on_quitting)


def _fail(message: str, runner: Runner | None = None) -> None:
    """One error line and exit code 2; a master first ends the worker processes ``--processes`` forked."""
    print(f"streamharness: error: {message}", file=sys.stderr, flush=True)
    logging.disable(logging.WARNING)  # the refusal is the one line: not Locust's news of workers joining meanwhile
    if isinstance(runner, MasterRunner):
        _end_children()
    raise SystemExit(2)


def _end_children() -> None:
    """SIGTERM to each child of this process by PID, SIGKILL to any still there after a few seconds.

    A master that exits during ``init`` leaves its forked workers waiting for it until their
    heartbeat times out, a minute later; they (and an emulator a failed prepare may have left)
    are this process's children.

    Ended children are not reaped here: Locust's own exit handler waits for the workers it forked,
    and one already reaped makes it log a traceback per poll for seconds.
    """
    children = psutil.Process().children()
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    alive = _until_ended(children, CHILDREN_EXIT_WAIT_S)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()
    _until_ended(alive, CHILDREN_EXIT_WAIT_S)


def _until_ended(children: list[psutil.Process], seconds: float) -> list[psutil.Process]:
    """Wait up to ``seconds`` for ``children`` to end, without reaping them; those still running."""
    deadline = time.monotonic() + seconds
    alive = children
    while alive:
        alive = [child for child in alive if _running(child)]
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return alive


def _running(child: psutil.Process) -> bool:
    try:
        return bool(child.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _on_init(environment: Environment, runner: Runner | None = None, web_ui: Any = None, **_: Any) -> None:
    runtime = Runtime(environment, channel.role_of(runner))
    attach(environment, runtime)
    atexit.register(_close, runtime)
    assert runner is not None
    if runtime.role == "worker":
        runtime.worker_tag = f"w{max(0, getattr(runner, 'worker_index', 0))}"
        channel.register_worker_side(runtime, runner)

        def report(client_id: str, data: dict[str, Any], **_: Any) -> None:
            data["streamharness"] = runtime.counters.take_delta()  # the master's Delivery tab folds these

        environment.events.report_to_master.add_listener(report)
        return  # settings arrive from the master with the first spawn message
    headless = bool(getattr(environment.parsed_options, "headless", False))
    try:
        settings = LoadSettings.from_namespace(environment.parsed_options)
        check_run_location(Path(settings.reports_dir), settings.run_id)
        target = make_target(settings)
        if headless and environment.parsed_options is not None:
            run_id = settings.run_id or new_run_id()  # claimed before any emulator starts: a clash ends nothing
            _CLAIMED[environment] = RunFolder.create(Path(settings.reports_dir), run_id)
            environment.parsed_options.run_id = run_id
        target.prepare()
    except (HarnessError, OSError) as exc:
        claimed = _CLAIMED.pop(environment, None)
        if claimed is not None:
            claimed.release_if_unused()
        _fail(one_line(exc), runner)
        return
    runtime.settings, runtime.target = settings, target
    Producer.fixed_count, Consumer.fixed_count = settings.producers, settings.consumers
    runtime.secrets = {spec.dest: getattr(settings, spec.dest) for spec in LOAD_OPTIONS if spec.secret}
    if environment.parsed_options is not None:
        environment.parsed_options.url = target.base_url  # workers learn the endpoint from the master
    if headless:
        # Headless with a shape, Locust's main waits for the shape before it installs its SIGTERM
        # handler, so SIGTERM would kill the process outright: take Ctrl-C's orderly path instead.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    coordinator = Coordinator(runtime)
    coordinator.register(runner)
    runtime.coordinator = coordinator

    def fold(client_id: str, data: dict[str, Any], **_: Any) -> None:
        if data.get("streamharness"):
            runtime.live.merge(data["streamharness"])

    environment.events.worker_report.add_listener(fold)
    if runtime.role == "local":
        channel.register_worker_side(runtime, runner)
    if web_ui is not None:
        live.install(environment, runtime, web_ui)


def _on_test_start(environment: Environment, **_: Any) -> None:
    runtime = runtime_of(environment)
    runner = environment.runner
    try:
        settings = runtime.settings_for_run()
    except HarnessError as exc:  # the shape refuses bad input first; this covers runs without it
        log.error("streamharness: error: %s; the run is refused", exc)
        if runtime.role != "worker" and runner is not None:
            gevent.spawn(runner.stop)
        return
    if runtime.role == "worker":
        runtime.target = make_target(settings)
        runtime.worker_tag = f"w{max(0, getattr(runner, 'worker_index', 0))}"
        run_id = settings.run_id or new_run_id()
    else:
        Producer.fixed_count, Consumer.fixed_count = settings.producers, settings.consumers
        run_id = settings.run_id or new_run_id()
        if runtime.run is not None and runtime.run.folder.run_id == run_id:
            run_id = new_run_id()  # a second run from the web UI gets a folder of its own
        if environment.parsed_options is not None:
            environment.parsed_options.run_id = run_id  # the spawn messages carry it to the workers
    runtime.settings = settings
    if runtime.role != "master":
        runtime.close_driver()  # an earlier run's; this run's settings may differ
        try:
            runtime.open_driver(*_placement(environment))
        except HarnessError as exc:  # users would fail every connect: refuse the run in one line instead
            _refuse_run(environment, runtime, exc)
            return
    try:
        folder = _run_folder(environment, runtime.role, settings, run_id)
    except HarnessError as exc:  # a folder in use (another run with this id) is never appended to
        _refuse_run(environment, runtime, exc)
        return
    writer = _writer(runtime, folder, settings) if runtime.role != "master" else None
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
        run.write()
        coordinator = runtime.coordinator
        assert coordinator is not None
        coordinator.begin(EventStore(folder.events_dir) if runtime.role == "master" else None, run_id)
        run.controller = gevent.spawn(_drive, runtime, coordinator, stages_from_settings(settings), run)
    if writer is not None:
        assert runner is not None
        gevent.spawn(_flush_periodically, runtime, run)
        gevent.spawn(channel.report_status, runtime, runner)


def _refuse_run(environment: Environment, runtime: Runtime, exc: HarnessError) -> None:
    """A run that cannot start: one error line, no users (the shape spawns none), exit code 2 when headless."""
    log.error("streamharness: error: %s; the run is refused", exc)
    runtime.refusal = str(exc)
    if getattr(environment.parsed_options, "headless", False):
        environment.process_exit_code = 2  # the web UI stays up for the next run; a headless run is over
    runner = environment.runner
    if runtime.role != "worker" and runner is not None:
        gevent.spawn(runner.stop)


def _placement(environment: Environment) -> tuple[int, int]:
    """This process's index among the run's load processes, and their count (``--processes``; 1 locally)."""
    runner = environment.runner
    index = max(0, getattr(runner, "worker_index", 0)) if isinstance(runner, WorkerRunner) else 0
    processes = int(getattr(environment.parsed_options, "processes", 0) or 0)
    count = processes if processes > 0 else (os.cpu_count() or 1) if processes < 0 else 1
    return index, max(count, index + 1)


def _run_folder(environment: Environment, role: str, settings: LoadSettings, run_id: str) -> RunFolder:
    """The run's folder: the one claimed at init, a new claim, or (a worker) the master's."""
    reports_dir = Path(settings.reports_dir)
    if role == "worker":
        return RunFolder.join(reports_dir, run_id) if settings.events_to == "local" else RunFolder(reports_dir / run_id)
    claimed = _CLAIMED.pop(environment, None)
    if claimed is not None and claimed.run_id == run_id:
        return claimed
    if claimed is not None:
        claimed.release_if_unused()
    return RunFolder.create(reports_dir, run_id)


def _writer(runtime: Runtime, folder: RunFolder, settings: LoadSettings) -> EventWriter:
    sink: RowSink
    runner = runtime.environment.runner
    if runtime.role == "worker" and settings.events_to == "master":
        assert runner is not None
        sink = ChannelSink(runtime.process_name, lambda batch: runner.send_message(channel.EVENTS, batch))
    else:
        sink = CsvFileSink(folder.events_file(runtime.process_name))
    return EventWriter(sink)


def _drive(runtime: Runtime, coordinator: Coordinator, stages: list[Stage], run: ActiveRun) -> None:
    control_run(runtime, coordinator, stages, run)
    if runtime.environment.web_ui is not None and runtime.run is run and runtime.phase is Phase.DONE:
        live.start_analysis(runtime, run)


def _flush_periodically(runtime: Runtime, run: ActiveRun) -> None:
    while runtime.run is run and run.writer is not None and not run.writer.closed:
        gevent.sleep(FLUSH_INTERVAL_S)
        run.writer.flush(FLUSH_CHUNK_ROWS, pause=_yield)


def _yield() -> None:
    # a timed sleep, not sleep(0): only a pass through the event loop lets due timers (the producers'
    # schedules) and sockets run between chunks
    gevent.sleep(0.0005)


def _on_test_stop(environment: Environment, **_: Any) -> None:
    runtime = runtime_of(environment)
    run = runtime.run
    if run is None:
        return
    if runtime.role == "worker":
        run.finish(completed=True)  # flushes the last rows (the users' disconnects) to the master
        runtime.phases.done()
        runtime.close_driver()
        return
    if runtime.finishing:
        if run.writer is not None:
            run.writer.flush()
        runtime.close_driver()
        return
    if run.finished:
        return  # a run refused at its start stops too; the one before it is over already
    run.stop_controller()  # stopped by hand: this run's timeline must not go on into the next run
    run.finish(completed=False, stopped_early=True)  # stopped before the drain: in-flight messages look lost
    runtime.phases.done()
    runtime.close_driver()
    if environment.web_ui is not None:
        live.start_analysis(runtime, run)


def _on_quitting(environment: Environment, **_: Any) -> None:
    claimed = _CLAIMED.pop(environment, None)
    if claimed is not None:
        claimed.release_if_unused()  # quit before the run began: no empty folder stays behind
    runtime = runtime_of(environment)
    if runtime.run is not None:
        runtime.run.finish(completed=False)
        runtime.run.close()
    if runtime.coordinator is not None:
        runtime.coordinator.begin(None)
    runtime.close_driver()
    if runtime.target is not None:
        runtime.target.close()


def _close(runtime: Runtime) -> None:
    """At interpreter exit: the last events (users' disconnects) reach the file; the emulator stops."""
    if runtime.run is not None:
        runtime.run.close()
    if runtime.target is not None:
        runtime.target.close()
