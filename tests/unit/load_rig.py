"""Producers and consumers run in-process on the in-memory driver, for unit tests that take milliseconds.

A real Locust ``Environment`` and the harness's real users, runtime, event writer and counters;
only the endpoint is the in-memory broker. Every wait is bounded in time.
"""

from __future__ import annotations

from locust.env import Environment

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import gevent
from gevent.pool import Group

from harness.drivers.memory import MemoryBroker, MemoryDriver
from harness.events import schema
from harness.events.runfolder import RunFolder
from harness.events.writer import EventWriter, Row
from harness.load.consumer import Consumer
from harness.load.ledger import DrainLedger
from harness.load.producer import Producer
from harness.load.runtime import ActiveRun, Runtime, attach
from harness.load.users import StreamUser
from harness.settings import LoadSettings

WAIT_LIMIT_S = 5.0


class ListSink:
    """Rows kept in a list, in order."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def write_rows(self, rows: Sequence[Row]) -> None:
        self.rows.extend(rows)

    def close(self) -> None:
        pass


@dataclass
class Rig:
    runtime: Runtime
    broker: MemoryBroker
    sink: ListSink
    users: list[StreamUser] = field(default_factory=list)
    group: Group = field(default_factory=Group)
    ledger: DrainLedger = field(default_factory=DrainLedger)

    def start(self, producers: int, consumers: int) -> None:
        environment = self.runtime.environment
        for user in [
            *(Consumer(environment) for _ in range(consumers)),
            *(Producer(environment) for _ in range(producers)),
        ]:
            user.start(self.group)
            self.users.append(user)

    def wait_for(self, condition: Callable[[], bool], limit_s: float = WAIT_LIMIT_S) -> bool:
        deadline = time.monotonic() + limit_s
        while not condition() and time.monotonic() < deadline:
            gevent.sleep(0.005)
        return condition()

    def produce_for(self, seconds: float, rate: float) -> None:
        self.runtime.phases.produce(rate)
        gevent.sleep(seconds)
        self.runtime.phases.drain()

    def settled(self) -> bool:
        """Every publish answered and every published message acknowledged (the drain's own test)."""
        self.ledger.fold(self.runtime.counters.seqs.take())
        return self.runtime.counters.awaiting_publish_ack == 0 and self.ledger.unsettled == 0

    def stop(self) -> None:
        self.runtime.phases.done()
        for user in self.users:
            user.stop(force=True)
        self.group.join(timeout=WAIT_LIMIT_S)
        run = self.runtime.run
        assert run is not None and run.writer is not None
        run.writer.flush()

    def rows(self, kind: str) -> list[Row]:
        run = self.runtime.run
        assert run is not None and run.writer is not None
        run.writer.flush()
        return [row for row in self.sink.rows if row[1] == kind]

    def per_uid(self, kind: str) -> Counter[str]:
        return Counter(row[3] for row in self.rows(kind))


def rig(tmp_path: Path, broker: MemoryBroker | None = None, **options: object) -> Rig:
    """A runtime in WAITING with the given settings, on ``broker`` (a fresh one by default)."""
    settings = LoadSettings(**options)  # type: ignore[arg-type]
    settings.validate()
    environment = Environment(user_classes=[Producer, Consumer])
    runtime = Runtime(environment, "local")
    attach(environment, runtime)
    runtime.settings = settings
    broker = broker or MemoryBroker(settings.receiver_queue_size, nack_delay_s=settings.nack_delay_ms / 1000.0)
    runtime.driver = MemoryDriver(broker)
    sink = ListSink()
    runtime.begin_run(ActiveRun(RunFolder(tmp_path / "unit-run"), EventWriter(sink), {}))
    return Rig(runtime, broker, sink)


def sends(rig_: Rig) -> set[str]:
    return {row[3] for row in rig_.rows(schema.SEND)}
