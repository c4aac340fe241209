"""The load side's state for one Locust process: settings, target, the current run and its phase.

Locust users are created and killed by the runner; what outlives them (the event writer, the
run folder, the counters the drain waits on) lives here, one :class:`Runtime` per environment.
"""

from __future__ import annotations

import enum
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.events.runfolder import RunFolder
from harness.events.writer import EventWriter
from harness.load.clocks import ClockAnchor
from harness.settings import LoadSettings
from harness.targets.base import Target

if TYPE_CHECKING:
    from locust.env import Environment


class Phase(enum.Enum):
    """Where a run is: consumers subscribe first, producers send, then consumers drain."""

    IDLE = "idle"
    WAITING = "waiting"  # users connecting; producers hold back until every consumer has subscribed
    PRODUCING = "producing"
    DRAINING = "draining"  # producers stopped; consumers empty the backlog
    DONE = "done"


class DeliveryTracker:
    """What the drain waits for: messages published but not yet acknowledged by a consumer.

    A consumer can acknowledge a message before its producer has read the publish ack, so an ack
    for an unknown uid is remembered until the publish ack arrives.
    """

    def __init__(self) -> None:
        self.in_flight: set[str] = set()
        self._acked_early: set[str] = set()
        self.awaiting_publish_ack = 0
        self.consumers_connected = 0

    def sent(self) -> None:
        self.awaiting_publish_ack += 1

    def settled(self, count: int = 1) -> None:
        """Publish acks (or errors, or a disconnect) settled ``count`` sends."""
        self.awaiting_publish_ack = max(0, self.awaiting_publish_ack - count)

    def published(self, uid: str) -> None:
        if uid in self._acked_early:
            self._acked_early.discard(uid)
        else:
            self.in_flight.add(uid)

    def acked(self, uid: str) -> None:
        if uid in self.in_flight:
            self.in_flight.discard(uid)
        elif uid:
            self._acked_early.add(uid)

    @property
    def drained(self) -> bool:
        return self.awaiting_publish_ack == 0 and not self.in_flight


@dataclass
class ActiveRun:
    """One run's output: its folder, its event writer (None on a master) and its manifest."""

    folder: RunFolder
    writer: EventWriter | None
    manifest: dict[str, Any]
    anchor: ClockAnchor = field(default_factory=ClockAnchor.now)
    finished: bool = False

    def finish(self, completed: bool, **extra: Any) -> None:
        """Flush the events and record how the run ended; only the first call counts."""
        if self.writer is not None:
            self.writer.flush()
        if self.finished:
            return
        self.finished = True
        self.manifest.update(extra, completed=completed, stopped_ns=time.time_ns())
        if self.writer is not None:
            self.manifest["events_recorded"] = self.writer.recorded
        self.folder.write_manifest(self.manifest)

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
        self.phase = Phase.IDLE
        self.tracker = DeliveryTracker()
        self.worker_tag = "w0"
        self._actors = {"p": 0, "c": 0}

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

    def begin_run(self, run: ActiveRun) -> None:
        if self.run is not None:
            self.run.finish(completed=False)
            self.run.close()
        self.run = run
        self.tracker = DeliveryTracker()
        self._actors = {"p": 0, "c": 0}
        self.phase = Phase.WAITING


_RUNTIMES: dict[int, Runtime] = {}


def attach(environment: Environment, runtime: Runtime) -> None:
    _RUNTIMES[id(environment)] = runtime


def runtime_of(environment: Environment) -> Runtime:
    """The runtime attached to this environment by the plugin's ``init`` listener."""
    try:
        return _RUNTIMES[id(environment)]
    except KeyError:
        raise RuntimeError("streamharness is not registered on this Locust environment") from None
