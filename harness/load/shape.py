"""A LoadTestShape that runs the harness's users for as long as the run's timeline needs them.

Locust asks the shape for a user count once a second. The count is fixed (every producer and
consumer, spawned at once); what changes over a run is the offered rate, which the run
controller takes from :attr:`StreamShape.stages` (or from ``--rate-profile`` when that is None) and
sends to every worker. When the controller is done (drained or timed out) the shape returns None,
so Locust stops, or quits when headless.
"""

from __future__ import annotations

from locust import LoadTestShape

from typing import ClassVar

from harness.load.runtime import Phase, runtime_of
from harness.load.stages import Stage


class StreamShape(LoadTestShape):
    """Every producer and consumer for the whole run; the rate per stage comes from :attr:`stages`."""

    #: Stages to run instead of the ``--rate-profile`` ones; a capacity search sets these.
    stages: ClassVar[list[Stage] | None] = None

    def reset_time(self) -> None:
        """Locust calls this when a run starts; a finished run's DONE must not end the next one at once."""
        super().reset_time()
        if self.runner is not None:
            runtime = runtime_of(self.runner.environment)
            if runtime.phase is Phase.DONE:
                runtime.phase = Phase.IDLE

    def tick(self) -> tuple[int, float] | None:
        runner = self.runner
        if runner is None:
            return None
        runtime = runtime_of(runner.environment)
        settings = runtime.settings
        if settings is None or runtime.phase is Phase.DONE:
            return None
        users = max(1, settings.producers + settings.consumers)
        return (users if runtime.users_wanted else 0), float(users)
