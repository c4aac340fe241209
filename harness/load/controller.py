"""The run's timeline, decided on the master (or the only process): wait, produce, drain, finish.

Locust's own ``--run-time`` stops every user at once, so messages still in flight would look
lost. This controller waits until every consumer has subscribed, runs the producing stages, stops
the producers, lets the consumers empty the backlog (up to ``--drain-timeout``), collects each
worker's final figures and clock offset, writes run.json and only then stops the runner.

The backlog is empty when every message of this run that was published has been acknowledged
(distinct messages, see :mod:`harness.load.ledger`), no publish awaits its answer, and no delivery
came for :data:`QUIET_S`. One controller drives one run: it is killed when its run is stopped or a
new run begins, and it gives up by itself as soon as the runtime's run is no longer its own.

It is also the one place that decides whether the endpoint was lost (``endpoint_lost``, from the
cut-off actors every status reports, see :mod:`harness.load.outages`) and which workers were lost
(``workers_lost``, with when the master first saw each missing); either makes the run incomplete.
"""

from __future__ import annotations

from locust.runners import MasterRunner

import logging
import time
from typing import Any

import gevent

from harness.events.schema import ENDPOINT_LOST_BOUND_S, SATURATION_LAG_MS, SATURATION_SUSTAINED_S
from harness.events.shipping import EventStore
from harness.load import channel, generator
from harness.load.clocks import clock_record
from harness.load.drain import DrainJudge
from harness.load.outages import EndpointWatch, scheduled_sends, summary_line
from harness.load.runtime import ActiveRun, Runtime
from harness.load.stages import Stage

log = logging.getLogger("harness.load")

CONSUMER_WAIT_S = 15.0
POLL_S = 0.05
FINAL_WAIT_S = 5.0
USERS_STOP_WAIT_S = 10.0
LAST_ROWS_WAIT_S = 1.2
PING_ROUNDS = 5


class Coordinator:
    """The master's view of its workers: their statuses, events, clock pings and final figures."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.node_tags: dict[str, str] = {}  # node id -> worker tag, of the workers still reporting
        self.lost: dict[str, str] = {}  # node id -> worker tag, of workers Locust reports missing
        self.missing_since: dict[str, int] = {}  # node id -> wall ns when first seen missing
        self.watch = EndpointWatch(ENDPOINT_LOST_BOUND_S)  # who is cut off from the endpoint, by worker
        self.run_id = ""
        self.judge = DrainJudge(time.monotonic)
        self.pongs: dict[str, list[tuple[int, int]]] = {}  # tag -> [(offset_ns, half_rtt_ns)]
        self.finals: dict[str, dict[str, Any]] = {}
        self.store: EventStore | None = None

    # --- handlers (registered on the master or local runner) -------------------------------------

    def register(self, runner: Any) -> None:
        runner.register_message(channel.STATUS, lambda msg, **_: self.on_status(msg.node_id, msg.data))
        runner.register_message(channel.EVENTS, lambda msg, **_: self.on_events(msg.data))
        runner.register_message(channel.PONG, lambda msg, **_: self.on_pong(msg.data, time.time_ns()))
        runner.register_message(channel.FINAL, lambda msg, **_: self.finals.__setitem__(msg.data["tag"], msg.data))

    def on_status(self, node_id: str, data: dict[str, Any]) -> None:
        tag = str(data.pop("tag"))
        if data.pop("run", None) != self.run_id:
            return  # the last word of an earlier run
        seqs = data.pop("seqs", None)
        self.watch.fold(tag, data)
        data.pop("cut_off", None)
        data.pop("outages", None)
        self.node_tags[node_id] = tag
        self.lost.pop(node_id, None)
        self.missing_since.pop(node_id, None)
        live = self.runtime.live
        live.statuses[tag] = data
        if seqs:
            live.ledger.fold(seqs)

    def on_events(self, batch: dict[str, Any]) -> None:
        if self.store is None:
            log.warning("events arrived with no run open on the master; %d rows dropped", len(batch.get("rows", [])))
            return
        self.store.receive(batch)

    def on_pong(self, data: dict[str, Any], t2: int) -> None:
        t0, t1 = int(data["t0"]), int(data["t1"])
        self.pongs.setdefault(str(data["tag"]), []).append((t1 - (t0 + t2) // 2, (t2 - t0) // 2))

    def begin(self, store: EventStore | None, run_id: str = "") -> None:
        if self.store is not None:
            self.store.close()
        self.store = store
        self.run_id = run_id
        self.pongs.clear()
        self.finals.clear()
        self.lost.clear()
        self.missing_since.clear()
        self.watch = EndpointWatch(ENDPOINT_LOST_BOUND_S)
        self.judge.reset()

    def forget_lost(self) -> None:
        """Drop the last status of every worker Locust reports missing: it will never change again."""
        runner = self.runtime.environment.runner
        if not isinstance(runner, MasterRunner):
            return
        now_ns = time.time_ns()
        for node in runner.clients.missing:
            self.missing_since.setdefault(node.id, now_ns)
            tag = self.node_tags.pop(node.id, None)
            if tag is not None:
                self.lost[node.id] = tag
                self.runtime.live.statuses.pop(tag, None)

    # --- what the timeline asks ------------------------------------------------------------------

    def total(self, key: str) -> int:
        self.forget_lost()
        return sum(int(status.get(key, 0)) for status in self.runtime.live.statuses.values())

    def drained(self) -> bool:
        """Every publish answered, every published message of this run acknowledged, then a quiet spell.

        Workers that went missing count no more (see :class:`~harness.load.drain.DrainJudge`; run.json's
        ``unsettled`` then counts what the master never saw acknowledged).
        """
        self.forget_lost()
        live = self.runtime.live
        return self.judge.drained(list(live.statuses.values()), live.ledger.unsettled, bool(self.lost))

    def broadcast(self) -> None:
        """Tell every worker (and, locally, this process's own handler) the phase and rate now in force."""
        runtime = self.runtime
        runner = runtime.environment.runner
        assert runner is not None
        runner.send_message(channel.PHASE, {"phase": runtime.phase.value, "rate": runtime.rate})

    def measure_clocks(self) -> dict[str, tuple[int, int]]:
        """Best (lowest round trip) offset estimate per worker: (offset_ns, half_rtt_ns); local = 0."""
        runner = self.runtime.environment.runner
        if not isinstance(runner, MasterRunner):
            return {self.runtime.worker_tag: (0, 0)}
        self.pongs.clear()
        for _ in range(PING_ROUNDS):
            for node_id in list(self.node_tags):
                runner.send_message(channel.PING, {"t0": time.time_ns()}, client_id=node_id)
            gevent.sleep(0.02)
        deadline = time.monotonic() + 2.0
        while len(self.pongs) < len(self.node_tags) and time.monotonic() < deadline:
            gevent.sleep(POLL_S)
        gevent.sleep(0.05)
        return {tag: min(samples, key=lambda s: s[1]) for tag, samples in self.pongs.items()}

    def collect_finals(self) -> dict[str, dict[str, Any]]:
        runner = self.runtime.environment.runner
        assert runner is not None
        self.finals.clear()
        runner.send_message(channel.FINISH, {})
        self.forget_lost()
        expected = max(1, len(self.node_tags))
        deadline = time.monotonic() + FINAL_WAIT_S
        while len(self.finals) < expected and time.monotonic() < deadline:
            gevent.sleep(POLL_S)
        return dict(self.finals)

    def lost_workers(self) -> list[dict[str, Any]]:
        """run.json's ``workers_lost``: ``{"worker": tag, "lost_ns": first seen missing}`` per lost worker.

        A worker lost before its first status is named by its Locust node id.
        """
        self.forget_lost()
        records = {self.lost.get(node_id, node_id): since for node_id, since in self.missing_since.items()}
        return [{"worker": tag, "lost_ns": records[tag]} for tag in sorted(records)]

    def lost_tags(self) -> frozenset[str]:
        return frozenset(self.lost.values())

    def sleep_watching(self, seconds: float, run: ActiveRun) -> None:
        """Sleep ``seconds`` (or until ``run`` is no longer the runtime's), noting lost workers as they go.

        Only a master has workers to lose; a local process sleeps in one go, since a producer far
        behind its schedule yields so rarely that every extra wake-up would stretch the stage.
        """
        if not isinstance(self.runtime.environment.runner, MasterRunner):
            gevent.sleep(seconds)
            return
        deadline = time.monotonic() + seconds
        while self.runtime.run is run and (left := deadline - time.monotonic()) > 0:
            gevent.sleep(min(left, POLL_S * 4))
            self.forget_lost()

    def endpoint_lost(self, now_ns: int, stages: list[Stage], producing_stopped_ns: int) -> dict[str, Any] | None:
        """run.json's ``endpoint_lost`` as of ``now_ns`` (the drain's end), or None; logs one warning line."""
        settings = self.runtime.settings
        assert settings is not None
        scheduled = scheduled_sends(stages, settings.producers)
        record = self.watch.record(now_ns, scheduled, producing_stopped_ns, self.lost_tags())
        if record is not None:
            log.warning("%s; run.json marks the run incomplete", summary_line(record))
        return record


def control_run(runtime: Runtime, coordinator: Coordinator, stages: list[Stage], run: ActiveRun) -> None:
    """Drive ``run`` from WAITING to DONE, write run.json, then stop (or, headless, quit) the runner.

    Returns early, touching nothing, once ``run`` is no longer the runtime's run (stopped from the
    web UI, or replaced by the next one).
    """
    settings = runtime.settings
    assert settings is not None
    coordinator.broadcast()  # WAITING, since the run began
    deadline = time.monotonic() + CONSUMER_WAIT_S
    while coordinator.total("consumers") < settings.consumers and time.monotonic() < deadline:
        gevent.sleep(POLL_S)
        if runtime.run is not run:
            return
    connected = coordinator.total("consumers")
    if connected < settings.consumers:
        message = f"only {connected} of {settings.consumers} consumers connected"
        log.warning("%s; producing anyway", message)
        run.note(consumer_wait=message)
    clocks_at_start = coordinator.measure_clocks()
    if runtime.run is not run:
        return

    run.note(producing_started_ns=time.time_ns(), stages=[])
    for stage in stages:
        run.manifest["stages"].append({"started_ns": time.time_ns(), "seconds": stage.seconds, "rate": stage.rate})
        run.write()
        runtime.phases.produce(stage.rate or runtime.rate)
        coordinator.broadcast()
        if stage.seconds <= 0:
            return  # produce until the user stops the run
        coordinator.sleep_watching(stage.seconds, run)
        if runtime.run is not run:
            return

    runtime.phases.drain()
    coordinator.broadcast()
    producing_stopped_ns = time.time_ns()
    run.note(producing_stopped_ns=producing_stopped_ns)
    deadline = time.monotonic() + settings.drain_timeout
    while not coordinator.drained() and time.monotonic() < deadline:
        gevent.sleep(POLL_S)
        if runtime.run is not run:
            return
    drained = coordinator.drained()
    drain_ended_ns = time.time_ns()
    unsettled = runtime.live.ledger.unsettled
    if not drained:
        log.warning(
            "drain timed out after %g s: %d messages published but not acknowledged", settings.drain_timeout, unsettled
        )
    endpoint_lost = coordinator.endpoint_lost(drain_ended_ns, stages, producing_stopped_ns)
    marks = {"drained": drained, "drain_ended_ns": drain_ended_ns, "unsettled": unsettled}
    finish_run(runtime, run, coordinator, clocks_at_start, endpoint_lost=endpoint_lost, **marks)


def finish_run(
    runtime: Runtime,
    run: ActiveRun,
    coordinator: Coordinator,
    clocks_at_start: dict[str, tuple[int, int]],
    endpoint_lost: dict[str, Any] | None = None,
    **marks: Any,
) -> None:
    """Collect finals and clocks, stop the users (their last rows arrive), write run.json, end the run.

    With the harness's shape, users are stopped by asking the shape for zero users, and the run ends
    when the shape then returns None (Locust's headless main exits as soon as the shape does, so
    run.json must be complete before that). Without it, the runner is stopped directly.
    """
    runner = runtime.environment.runner
    assert runner is not None
    finals = coordinator.collect_finals()
    clocks = clock_record(clocks_at_start, coordinator.measure_clocks())
    if runtime.run is not run:
        return
    gen = generator.combine({tag: final.get("generator") or {} for tag, final in finals.items()})
    runtime.finishing = True
    uses_shape = runtime.environment.shape_class is not None
    if uses_shape:
        runtime.users_wanted = False
        deadline = time.monotonic() + USERS_STOP_WAIT_S
        while runner.user_count > 0 and time.monotonic() < deadline:
            gevent.sleep(POLL_S)
        gevent.sleep(LAST_ROWS_WAIT_S)  # the workers' flush loops ship the users' last rows
        if runtime.run is not run:
            return
    else:
        runner.stop()
    lost = coordinator.lost_workers()
    extra: dict[str, Any] = {"generator": gen, **clocks, **marks, "workers_lost": lost}
    if endpoint_lost is not None:
        extra["endpoint_lost"] = endpoint_lost
    if coordinator.store is not None:  # else finish() counts this process's writer, after its flush
        extra["events_recorded"] = coordinator.store.received
    run.finish(completed=not lost and endpoint_lost is None, **extra)
    if lost:
        tags = ", ".join(record["worker"] for record in lost)
        log.warning("workers %s went missing during the run; run.json marks it incomplete", tags)
    if gen["saturated"]:
        log.warning(
            "the load generator was the bottleneck: most sends over %.0f ms late for %d s in a row "
            "(schedule lag p99 %.1f ms); add workers (--processes) or lower the rate",
            SATURATION_LAG_MS,
            SATURATION_SUSTAINED_S,
            gen["schedule_lag_p99_ms"],
        )
    runtime.phases.done()  # the shape now returns None: Locust stops (or quits, headless)
    if not uses_shape:
        options = runtime.environment.parsed_options
        if options is not None and getattr(options, "headless", False):
            runner.quit()
