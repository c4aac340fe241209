"""The run's timeline: wait for consumers, produce for ``duration``, drain, stop.

Locust's own ``--run-time`` stops every user at once, so messages still in flight would look
lost. This controller stops the producers first and lets the consumers empty the backlog (up to
``drain_timeout``) before the runner stops.
"""

from __future__ import annotations

import logging
import time

import gevent

from harness.events import schema
from harness.load.runtime import Phase, Runtime

log = logging.getLogger("harness.load")

CONSUMER_WAIT_S = 15.0
POLL_S = 0.05


def control_run(runtime: Runtime) -> None:
    """Drive one run from WAITING to DONE, then stop (or, headless, quit) the runner."""
    settings = runtime.settings
    assert settings is not None
    deadline = time.monotonic() + CONSUMER_WAIT_S
    while runtime.tracker.consumers_connected < settings.consumers and time.monotonic() < deadline:
        gevent.sleep(POLL_S)
    if runtime.tracker.consumers_connected < settings.consumers:
        message = f"only {runtime.tracker.consumers_connected} of {settings.consumers} consumers connected"
        log.warning("%s; producing anyway", message)
        runtime.record(schema.ERROR, "controller", detail=message)
    runtime.phase = Phase.PRODUCING
    _note(runtime, producing_started_ns=time.time_ns())
    if settings.duration <= 0:
        return  # until the user stops the run
    gevent.sleep(settings.duration)

    runtime.phase = Phase.DRAINING
    _note(runtime, producing_stopped_ns=time.time_ns())
    deadline = time.monotonic() + settings.drain_timeout
    while not runtime.tracker.drained and time.monotonic() < deadline:
        gevent.sleep(POLL_S)
    drained = runtime.tracker.drained
    if not drained:
        log.warning(
            "drain timed out after %g s: %d messages published but not acknowledged",
            settings.drain_timeout,
            len(runtime.tracker.in_flight),
        )
    runtime.phase = Phase.DONE
    if runtime.run is not None:
        runtime.run.finish(completed=True, drained=drained, drain_ended_ns=time.time_ns())
    runner = runtime.environment.runner
    assert runner is not None
    options = runtime.environment.parsed_options
    if options is not None and getattr(options, "headless", False):
        runner.quit()
    else:
        runner.stop()


def _note(runtime: Runtime, **marks: int) -> None:
    if runtime.run is not None:
        runtime.run.manifest.update(marks)
        runtime.run.folder.write_manifest(runtime.run.manifest)
