"""Two runs side by side: the change in every headline figure (pure, plus one reader)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.analysis.delivery import CLASSES
from harness.analysis.load import RunLoadError
from harness.analysis.quantiles import PERCENTILES
from harness.errors import one_line

LATENCIES = ("e2e", "e2e_intended", "publish")
STATISTICS = tuple(name for name, _ in PERCENTILES) + ("max",)

#: (label, path into summary.json) of every headline figure, in the order they are printed.
HEADLINES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("verdict", ("verdict",)),
    ("messages sent", ("messages", "sent")),
    ("deliveries", ("messages", "deliveries")),
    *((f"class {name}", ("delivery", name)) for name in CLASSES),
    ("rejected but delivered", ("messages", "rejected_delivered")),
    ("delivered, never acked", ("messages", "unacked")),
    ("order violations", ("messages", "order_violations")),
    ("Jain's index", ("fairness", "jain")),
    ("max/min ratio", ("fairness", "max_min_ratio")),
    ("coefficient of variation", ("fairness", "cv")),
    ("starved consumers", ("fairness", "starved")),
    *((f"{metric} {stat} ms", ("latency_ms", metric, stat)) for metric in LATENCIES for stat in STATISTICS),
    ("redelivery delay p99 ms", ("latency_ms", "redelivery_delay", "p99")),
    ("schedule lag p99 ms", ("latency_ms", "schedule_lag", "p99")),
    ("achieved send rate msg/s", ("throughput", "achieved_send_rate")),
    ("achieved / offered", ("throughput", "achieved_ratio")),
    ("delivery rate msg/s", ("throughput", "delivery_rate")),
    ("drain s", ("throughput", "drain_s")),
    ("peak backlog", ("throughput", "peak_backlog")),
)


@dataclass(frozen=True)
class Change:
    figure: str
    a: Any
    b: Any
    #: b - a for numbers, None otherwise.
    delta: float | None
    #: Relative change in percent; None when a is 0 or either side is not a number.
    percent: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _at(summary: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = summary
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _number(value: Any) -> bool:
    """A figure that can be subtracted: finite, and (an int) within a float's range, as summary.json's are."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return abs(value) < 2**63 if isinstance(value, int) else math.isfinite(value)


def _finite_or_none(value: Any) -> Any:
    """NaN and infinity (a hand-edited summary.json) as None: JSON has no such number to print them as."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def compare_summaries(a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    """One :class:`Change` per headline figure."""
    changes = []
    for label, path in HEADLINES:
        x, y = _finite_or_none(_at(a, path)), _finite_or_none(_at(b, path))
        delta = round(y - x, 6) if _number(x) and _number(y) else None
        percent = round(100.0 * (y - x) / abs(x), 3) if delta is not None and x else None
        changes.append(Change(label, x, y, delta, percent))
    return changes


def read_summary(path: Path) -> dict[str, Any]:
    """A run's summary: its ``summary.json`` if written (or given), else a fresh analysis of the folder."""
    from harness.analysis.summary import SUMMARY_JSON, SUMMARY_VERSION, summarize

    file = path if path.is_file() else path / SUMMARY_JSON
    if file.is_file():
        try:
            summary = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:  # RecursionError: arrays nested thousands deep
            raise RunLoadError(f"{file}: unreadable summary ({one_line(exc)})") from None
        version = summary.get("schema_version") if isinstance(summary, dict) else None
        if not isinstance(version, int) or version > SUMMARY_VERSION:
            raise RunLoadError(f"{file}: summary schema version {version!r} is not one this streamharness reads")
        checked: dict[str, Any] = summary
        return checked
    from harness.analysis.load import load_run

    return summarize(load_run(path))
