"""Which event times are believable for a run, so one absurd timestamp cannot stretch its time span.

Every span the analysis draws (windows, per-second rates, the backlog) runs from the first time to
the last, so a single corrupt row stamped at -5 or in the year 2500 would make it allocate by the
value's size. A row is kept only when its ``t_ns`` is positive and lies within the run: from
``run.json``'s start to its stop, each widened by :data:`MARGIN_NS`.
Where ``run.json`` does not say (a crashed run has no stop time, a bare events folder has no
manifest), the file's own rows say: their median, widened by :data:`SPREAD` times their
interquartile range and at least :data:`MEDIAN_REACH_NS`, which a quarter of the rows being
corrupt cannot move. That reach is wide on purpose: a crashed run's worker may have written most
rows early and its last ones hours later, and every span is bounded anyway (see
:mod:`harness.analysis.windows`); what must go is the row at -5 or in the year 2200.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from harness.analysis.eventlog import Bools, Ints

#: Slack around the run's start and stop: far beyond any clock offset or drain, far short of absurd.
MARGIN_NS: Final = 3600 * 1_000_000_000
#: Least reach either side of a file's median when run.json does not bound the run.
MEDIAN_REACH_NS: Final = 24 * MARGIN_NS
#: Interquartile ranges either side of the median that still count as the run (evenly spread rows
#: have an interquartile range of half the run, so this is two run lengths either way).
SPREAD: Final = 4
#: Rows, at least, whose quartiles stand for a file's (every n-th row of a larger one).
SAMPLE: Final = 1 << 16
#: run.json's start and stop marks, earliest and latest: any of them bounds the run.
START_KEYS: Final = ("started_ns", "producing_started_ns")
STOP_KEYS: Final = ("stopped_ns", "producing_stopped_ns", "drain_ended_ns")
INT64_MAX: Final = int(np.iinfo(np.int64).max)


@dataclass(frozen=True)
class TimeBounds:
    """The run's earliest and latest believable time (ns, master clock); None where run.json is silent."""

    lo: int | None = None
    hi: int | None = None

    def describe(self) -> str:
        known = [side for side, value in (("start", self.lo), ("stop", self.hi)) if value is not None]
        return f"run.json's {' and '.join(known)} times" if known else "the file's median time"


def run_bounds(manifest: dict[str, Any]) -> TimeBounds:
    """The run's start and stop from ``run.json``, each widened by :data:`MARGIN_NS`; unusable marks are ignored."""
    starts = [v for v in (_mark(manifest, key) for key in START_KEYS) if v is not None]
    stops = [v for v in (_mark(manifest, key) for key in STOP_KEYS) if v is not None]
    if starts and stops and max(stops) < min(starts):
        return TimeBounds()  # a stop before the start: neither mark can be trusted
    return TimeBounds(min(starts) - MARGIN_NS if starts else None, max(stops) + MARGIN_NS if stops else None)


def _mark(manifest: dict[str, Any], key: str) -> int | None:
    value = manifest.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < INT64_MAX - MARGIN_NS:
        return None
    return value


def implausible(t_ns: Ints, bounds: TimeBounds) -> tuple[Bools, bool]:
    """Rows whose times are not believable, and whether the file's median replaced run.json's bounds.

    When most of a file falls outside run.json's bounds it is run.json that disagrees (copied from
    another run, say), not most rows that are corrupt: the file is judged by its own median instead.
    """
    sample = t_ns[:: max(1, len(t_ns) // SAMPLE)]  # quartiles of a spread-out sample: as robust, far cheaper
    sample = sample[sample > 0]
    lo, hi = _filled(sample, bounds)
    bad = _outside(t_ns, lo, hi)
    replaced = False
    if (bounds.lo is not None or bounds.hi is not None) and int(bad.sum()) * 2 > len(t_ns):
        lo, hi = _filled(sample, TimeBounds())
        bad = _outside(t_ns, lo, hi)
        replaced = True
    return bad, replaced


def _outside(t_ns: Ints, lo: int, hi: int) -> Bools:
    """Times at or before zero or outside ``[lo, hi]``. ``intended_ns`` is not judged: it spans no
    window (a wrong one skews one latency value, which the percentiles show)."""
    bad: Bools = (t_ns <= 0) | (t_ns < lo) | (t_ns > hi)
    return bad


def _filled(times: Ints, bounds: TimeBounds) -> tuple[int, int]:
    """``bounds`` with each unknown side taken from the times' median and spread."""
    if bounds.lo is not None and bounds.hi is not None:
        return bounds.lo, bounds.hi
    if not len(times):
        return 1, INT64_MAX
    q1, median, q3 = (int(v) for v in np.quantile(times, (0.25, 0.5, 0.75), method="nearest"))
    reach = max(MEDIAN_REACH_NS, SPREAD * (q3 - q1))
    lo = bounds.lo if bounds.lo is not None else median - reach
    hi = bounds.hi if bounds.hi is not None else median + reach
    return max(lo, 1), min(hi, INT64_MAX)
