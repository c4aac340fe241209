"""The offered rate over time: a list of stages, each a duration and a rate per producer.

``--rate-profile constant`` is one stage; ``ramp`` climbs from ``--ramp-from`` to ``--rate`` in
one-second stages over ``--duration``; ``step`` holds each of ``--step-rates`` for
``--step-seconds``. (A capacity search runs each of its stages as a run of its own, with a
constant rate.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.settings import LoadSettings


@dataclass(frozen=True)
class Stage:
    """Produce at ``rate`` messages/s per producer for ``seconds`` (0 = until stopped)."""

    seconds: float
    rate: float


def stages_from_settings(settings: LoadSettings) -> list[Stage]:
    if settings.rate_profile == "step":
        return [Stage(settings.step_seconds, rate) for rate in settings.step_rate_list()]
    if settings.rate_profile == "ramp":
        steps = max(1, math.ceil(settings.duration))
        start = settings.ramp_from if settings.ramp_from > 0 else settings.rate / steps
        seconds = settings.duration / steps
        return [Stage(seconds, start + (settings.rate - start) * i / max(1, steps - 1)) for i in range(steps)]
    return [Stage(settings.duration, settings.rate)]
