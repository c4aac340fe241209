"""The load side's state for one Locust process: settings, target, the current run and its phase.

Locust users are created and killed by the runner; what outlives them (the event writer, the
run folder, the counters the drain waits on) lives here, one :class:`Runtime` per environment.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gevent
from gevent import Greenlet

from harness.events.runfolder import RunFolder
from harness.events.writer import EventWriter
from harness.load.clocks import ClockAnchor
from harness.load.generator import GeneratorMonitor
from harness.load.phases import Phase, RunPhase
from harness.load.stats import LiveView, ProcessCounters
from harness.settings import LoadSettings
from harness.targets.base import Target

if TYPE_CHECKING:
    from locust.env import Environment

    from harness.drivers.base import Driver
    from harness.load.controller import Coordinator


CONTROLLER_KILL_WAIT_S = 2.0


@dataclass
class ActiveRun:
    """One run's output: its folder, its event writer (None on a master) and its manifest."""

    folder: RunFolder
    writer: EventWriter | None
    manifest: dict[str, Any]
    anchor: ClockAnchor = field(default_factory=ClockAnchor.now)
    finished: bool = False
    controller: Greenlet | None = None  # the greenlet driving this run's timeline (master or local only)

    def stop_controller(self) -> None:
        """Kill this run's controller (unless it is the caller): a stopped run's timeline ends here."""
        controller, self.controller = self.controller, None
        if controller is not None and controller is not gevent.getcurrent():
            controller.kill(block=True, timeout=CONTROLLER_KILL_WAIT_S)

    def finish(self, completed: bool, **extra: Any) -> None:
        """Flush the events and record how the run ended; only the first call counts."""
        if self.writer is not None:
            self.writer.flush()
        if self.finished:
            return
        self.finished = True
        self.manifest.update(extra, completed=completed, stopped_ns=time.time_ns())
        if self.writer is not None and "events_recorded" not in extra:
            self.manifest["events_recorded"] = self.writer.recorded
        self.write()

    def write(self) -> None:
        """Rewrite run.json; a worker keeping its events locally has no run.json of its own."""
        if self.manifest.get("role") != "worker":
            self.folder.write_manifest(self.manifest)

    def note(self, **marks: Any) -> None:
        self.manifest.update(marks)
        self.write()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Runtime:
    """Everything one Locust process knows about the harness."""

    def __init__(self, environment: Environment, role: str) -> None:
        self.environment = environment
        self.role = role  # "local", "master" or "worker"
        self.settings: LoadSettings | None = None
        self.target: Target | None = None
        self.run: ActiveRun | None = None
        self.phases = RunPhase()  # the one writer of the phase and rate (see harness.load.phases)
        self.driver: Driver | None = None  # this process's wire to the endpoint, while a run with users is on
        self.counters = ProcessCounters()
        self.monitor = GeneratorMonitor()
        self.live = LiveView()  # read on the master (or local process) only
        self.coordinator: Coordinator | None = None  # the master's (or local process's) view of its workers
        self.worker_tag = "w0"
        self.secrets: dict[str, str] = {}  # secret settings as given at start (the web form shows them blank)
        self.users_wanted = True  # the shape spawns every user until the controller stops them
        self.finishing = False  # the controller is stopping the runner itself (test_stop is then expected)
        self.refusal = ""  # why the run being started was refused (bad input from the web UI form)
        self._actors = {"p": 0, "c": 0}

    @property
    def phase(self) -> Phase:
        """The run's phase, read-only: :attr:`phases` changes it."""
        return self.phases.phase

    @property
    def rate(self) -> float:
        """Messages/s per producer in the current stage."""
        return self.phases.rate

    @property
    def process_name(self) -> str:
        return f"{self.worker_tag}-{os.getpid()}"

    def new_actor(self, kind: str) -> str:
        """A producer (``p``) or consumer (``c``) id unique across workers: ``w0-p1``."""
        self._actors[kind] += 1
        return f"{self.worker_tag}-{kind}{self._actors[kind]}"

    def record(self, kind: str, actor: str, **fields: Any) -> None:
        run = self.run
        if run is not None and run.writer is not None:
            run.writer.record(kind, actor, **fields)

    def settings_for_run(self) -> LoadSettings:
        """The settings a run starting now uses: Locust's options as the web form left them. Raises HarnessError.

        The form shows secrets blank, and a blank secret keeps the value the process started with.
        """
        parsed = self.environment.parsed_options
        if self.role != "worker" and parsed is not None:
            for name, value in self.secrets.items():
                if getattr(parsed, name, "") == "":
                    setattr(parsed, name, value)
                else:
                    self.secrets[name] = getattr(parsed, name)
        return LoadSettings.from_namespace(parsed)

    def begin_run(self, run: ActiveRun) -> None:
        if self.run is not None:
            self.run.stop_controller()
            self.run.finish(completed=False)
            self.run.close()
        self.run = run
        self.counters = ProcessCounters()
        self.monitor = GeneratorMonitor()
        self.live.reset()
        self._actors = {"p": 0, "c": 0}
        self.finishing = False
        self.users_wanted = True
        self.phases.begin()

    def open_driver(self, index: int, count: int) -> Driver:
        """This process's driver for the run's target, opened on first use (a master without users needs none)."""
        if self.driver is None:
            from harness.drivers import Placement, make_driver

            assert self.target is not None and self.settings is not None
            self.driver = make_driver(self.target, self.settings, Placement(index, count))
        return self.driver

    def close_driver(self) -> None:
        """Release the driver (its sessions are closed by then: the users stopped)."""
        driver, self.driver = self.driver, None
        if driver is not None:
            driver.close()


_RUNTIMES: dict[int, Runtime] = {}


def attach(environment: Environment, runtime: Runtime) -> None:
    _RUNTIMES[id(environment)] = runtime


def runtime_of(environment: Environment) -> Runtime:
    """The runtime attached to this environment by the plugin's ``init`` listener."""
    try:
        return _RUNTIMES[id(environment)]
    except KeyError:
        raise RuntimeError("streamharness is not registered on this Locust environment") from None
