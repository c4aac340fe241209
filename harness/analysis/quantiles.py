"""Percentiles by nearest rank, overall and for many groups at once, without a loop over values.

Nearest rank (the smallest value with at least ``q`` of the values at or below it) is what
HdrHistogram and most latency tools report, and it is exact on the tiny logs the tests use.
Values are sorted once per metric; each grouping then needs only a stable sort of small integer
keys (a radix sort in numpy). Values are nanoseconds in, milliseconds out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.analysis.eventlog import Ints

PERCENTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999), ("p9999", 0.9999))
NS_PER_MS = 1e6
#: Points of the percentile-distribution curve: 0 .. 99.9999 % on a 1/(1-q) scale.
CURVE_POINTS = 1 - np.logspace(0, -6, 121)


def rank_index(n: Any, q: float) -> Any:
    """0-based index of the nearest-rank ``q`` percentile among ``n`` sorted values."""
    return np.maximum(np.ceil(np.asarray(n) * q - 1e-9).astype(np.int64) - 1, 0)


def ms(value_ns: float | int) -> float:
    return round(float(value_ns) / NS_PER_MS, 6)


def window_keys(t_ns: Ints, start_ns: int, window_ns: int) -> Ints:
    """The window of each time, counting from ``start_ns``; times before it fall in window 0."""
    keys: Ints = np.maximum((t_ns - start_ns) // window_ns, 0)
    return keys


def _empty() -> dict[str, Any]:
    return {"count": 0, "negative": 0, **{name: None for name, _ in PERCENTILES}, "max": None, "min": None}


class Ranked:
    """One metric's values, sorted once, ready for percentiles overall and by group."""

    def __init__(self, values_ns: Ints) -> None:
        self.values = values_ns
        self.order = np.argsort(values_ns)
        self.sorted = values_ns[self.order]

    def describe(self) -> dict[str, Any]:
        """Count, p50 .. p99.99, max, min, mean and how many are negative (clock skew), in ms."""
        n = len(self.sorted)
        if not n:
            return _empty() | {"mean": None}
        result: dict[str, Any] = {"count": n, "negative": int(np.searchsorted(self.sorted, 0, side="left"))}
        for name, q in PERCENTILES:
            result[name] = ms(self.sorted[rank_index(n, q)])
        result["max"] = ms(self.sorted[-1])
        result["min"] = ms(self.sorted[0])
        result["mean"] = ms(float(self.values.mean()))
        return result

    def grouped(self, keys: np.ndarray, groups: int) -> list[dict[str, Any] | None]:
        """Count, negatives, percentiles and max for each key ``0 .. groups-1``; None for an empty group."""
        if not len(self.sorted):
            return [None] * groups
        k = keys[self.order]
        valid = (k >= 0) & (k < groups)
        if not valid.any():
            return [None] * groups
        k = k[valid].astype(np.int16 if groups < 2**15 else np.int32)
        ordered = self.sorted[valid][np.argsort(k, kind="stable")]
        sizes = np.bincount(k, minlength=groups)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        last = np.maximum(sizes - 1, 0)
        columns: dict[str, np.ndarray] = {}
        for name, q in PERCENTILES:
            columns[name] = ordered[np.minimum(starts + rank_index(sizes, q), len(ordered) - 1)]
        columns["max"] = ordered[np.minimum(starts + last, len(ordered) - 1)]
        negative = np.bincount(k[self.sorted[valid] < 0], minlength=groups)
        result: list[dict[str, Any] | None] = []
        for g in range(groups):
            if not sizes[g]:
                result.append(None)
                continue
            row: dict[str, Any] = {"count": int(sizes[g]), "negative": int(negative[g])}
            row.update({name: ms(values[g]) for name, values in columns.items()})
            result.append(row)
        return result

    def curve(self) -> list[list[float]]:
        """``[percentile, ms]`` pairs from 0 to 99.9999 %, for the log-scale distribution plot."""
        n = len(self.sorted)
        if not n:
            return []
        highest = 1 - 1 / (10 * n)
        points = CURVE_POINTS[np.less_equal(CURVE_POINTS, highest)] if n > 1 else CURVE_POINTS[:1]
        return [[round(float(q) * 100, 6), ms(self.sorted[rank_index(n, float(q))])] for q in points]


def describe(values_ns: Ints) -> dict[str, Any]:
    return Ranked(values_ns).describe()
