"""A LoadTestShape that runs the harness's users for as long as the run's timeline needs them.

Locust asks the shape for a user count once a second. The count is fixed (every producer and
consumer, spawned at once); what changes over a run is the offered rate, which the run
controller takes from the ``--rate-profile`` stages and sends to every worker. When the controller
is done (drained or timed out) the shape returns None, so Locust stops, or quits when headless.
"""

from __future__ import annotations

from locust import LoadTestShape

import logging

from harness.errors import HarnessError
from harness.load.phases import Phase
from harness.load.runtime import runtime_of

log = logging.getLogger("harness.load")


class StreamShape(LoadTestShape):
    """Every producer and consumer for the whole run; the rate per stage is the controller's business."""

    def reset_time(self) -> None:
        """Locust calls this when a run starts, before the first tick: check the settings the run will use.

        Bad input from the web UI form refuses the run: one error line (also in the UI's log tab),
        and the first tick returns None, so Locust stops before any user starts. A finished run's
        DONE must not end the next one at once.
        """
        super().reset_time()
        if self.runner is None:
            return
        runtime = runtime_of(self.runner.environment)
        if runtime.phase is Phase.DONE:
            runtime.phases.reset()
        runtime.refusal = ""
        try:
            runtime.settings_for_run()
        except HarnessError as exc:
            runtime.refusal = str(exc)
            log.error("streamharness: error: %s; the run is refused", exc)

    def tick(self) -> tuple[int, float] | None:
        runner = self.runner
        if runner is None:
            return None
        runtime = runtime_of(runner.environment)
        settings = runtime.settings
        if settings is None or runtime.refusal or runtime.phase is Phase.DONE:
            return None
        users = max(1, settings.producers + settings.consumers)
        return (users if runtime.users_wanted else 0), float(users)
