"""The harness's messages between the master and its workers, over Locust's own channel.

Master to workers: ``sh_phase`` (the phase and rate every producer and consumer follows),
``sh_ping`` (clock offset estimation) and ``sh_finish`` (send your final figures). Workers to
master: ``sh_status`` (cumulative counts, five times a second, so the master knows when every
consumer is connected and when the backlog is drained, with the sequence numbers newly published
and acknowledged, see :mod:`harness.load.ledger`), ``sh_events`` (event rows in bounded batches),
``sh_pong`` and ``sh_final``. A LocalRunner delivers each message to itself, so one
code path serves local and distributed runs.
"""

from __future__ import annotations

from locust.runners import MasterRunner, Runner, WorkerRunner

import time
from typing import Any

import gevent

from harness.load.phases import Phase
from harness.load.runtime import Runtime

PHASE, PING, FINISH = "sh_phase", "sh_ping", "sh_finish"
STATUS, EVENTS, PONG, FINAL = "sh_status", "sh_events", "sh_pong", "sh_final"

STATUS_INTERVAL_S = 0.2
CPU_SAMPLE_INTERVAL_S = 1.0


def register_worker_side(runtime: Runtime, runner: Runner) -> None:
    """Handlers of the master's messages, on a worker or the local runner."""

    def on_phase(msg: Any, **_: Any) -> None:
        data = msg.data or {}
        runtime.phases.follow(str(data.get("phase", runtime.phase.value)), float(data.get("rate", runtime.rate)))

    def on_ping(msg: Any, **_: Any) -> None:
        runner.send_message(PONG, {"tag": runtime.worker_tag, "t0": msg.data["t0"], "t1": time.time_ns()})

    def on_finish(msg: Any, **_: Any) -> None:
        run = runtime.run
        if run is not None and run.writer is not None:
            run.writer.flush()  # the master counts the rows it stored, all of them by now
        runner.send_message(FINAL, {"tag": runtime.worker_tag, "generator": runtime.monitor.summary()})

    runner.register_message(PHASE, on_phase)
    runner.register_message(PING, on_ping)
    runner.register_message(FINISH, on_finish)


def report_status(runtime: Runtime, runner: Runner) -> None:
    """Send this process's counts to the master until the run changes; sample CPU meanwhile."""
    run = runtime.run
    assert run is not None
    next_cpu = time.monotonic() + CPU_SAMPLE_INTERVAL_S
    while runtime.run is run and runtime.phase not in (Phase.IDLE, Phase.DONE):
        counters = runtime.counters
        status = {"tag": runtime.worker_tag, "run": run.folder.run_id, "phase": runtime.phase.value}
        runner.send_message(STATUS, {**status, **counters.status(), "seqs": counters.seqs.take()})
        if time.monotonic() >= next_cpu:
            next_cpu += CPU_SAMPLE_INTERVAL_S
            runtime.monitor.sample(keep=runtime.phase is Phase.PRODUCING)
        gevent.sleep(STATUS_INTERVAL_S)


def role_of(runner: Runner | None) -> str:
    if isinstance(runner, MasterRunner):
        return "master"
    if isinstance(runner, WorkerRunner):
        return "worker"
    return "local"
