"""When a load generator counts as saturated: one rule for the run's own record and the capacity judge.

It lives with the contract between the two halves (the run's ``generator`` record is written by
the load side and judged again by the analysis), so neither half imports the other for it. The
thresholds are :mod:`harness.events.schema`'s ``SATURATION_*`` constants.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.events.schema import SATURATION_CPU_PERCENT, SATURATION_LATE_SHARE, SATURATION_SUSTAINED_S


def sustained(flags: Sequence[bool]) -> bool:
    """Whether :data:`SATURATION_SUSTAINED_S` seconds in a row were flagged (every second, when fewer)."""
    needed = min(SATURATION_SUSTAINED_S, len(flags))
    streak = 0
    for flag in flags:
        streak = streak + 1 if flag else 0
        if streak >= needed > 0:
            return True
    return False


def lag_is_sustained(sends: Sequence[int], late: Sequence[int]) -> bool:
    """Whether :data:`SATURATION_SUSTAINED_S` consecutive seconds (every second, in a shorter run)
    each had more than :data:`SATURATION_LATE_SHARE` of their sends over the lag line.

    ``sends[i]`` and ``late[i]`` count the sends due in second ``i`` and those among them over
    :data:`SATURATION_LAG_MS`; a second without sends ends a streak. The run-level record and the
    capacity judge both decide by this, so they never disagree.
    """
    return sustained(
        [total > 0 and over > SATURATION_LATE_SHARE * total for total, over in zip(sends, late, strict=True)]
    )


def cpu_is_sustained(samples: Sequence[float]) -> bool:
    """Whether the once-a-second CPU samples stayed over :data:`SATURATION_CPU_PERCENT` for
    :data:`SATURATION_SUSTAINED_S` seconds in a row: one busy second (connecting users, a burst
    after a reconnect) is not a generator at the end of its core."""
    return sustained([sample > SATURATION_CPU_PERCENT for sample in samples])
