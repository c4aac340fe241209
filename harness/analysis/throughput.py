"""Rates per second, the backlog over time, the drain, and achieved against offered load.

The backlog is Pulsar's: messages published and not yet acknowledged. A published message
enters it when it was sent and leaves at its first ack (never, if nobody acked it). An event
stamped before the run's start (a worker clock behind) counts in the first second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.analysis import eventlog as el
from harness.analysis.eventlog import MISSING, EventLog, Ints
from harness.analysis.messages import Messages
from harness.analysis.quantiles import window_keys
from harness.analysis.runinfo import RunInfo
from harness.analysis.windows import MAX_BINS, checked_count, fitting_window, window_count

NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class Backlog:
    """The backlog as a step function: ``level[i]`` holds from ``times[i]`` to ``times[i+1]``."""

    times: Ints
    level: Ints
    #: Nanoseconds with a backlog above zero before ``times[i]``.
    busy_before: Ints

    def at(self, t_ns: Ints) -> Ints:
        """The backlog at each time (after every event at that instant)."""
        if not len(self.times):
            return np.zeros(len(t_ns), dtype=np.int64)
        i = np.searchsorted(self.times, t_ns, side="right") - 1
        result: Ints = np.where(i >= 0, self.level[np.maximum(i, 0)], 0)
        return result

    def busy(self, start_ns: Ints, end_ns: Ints) -> Ints:
        """Nanoseconds with a backlog above zero within each ``[start, end]``."""
        return self._busy_until(end_ns) - self._busy_until(start_ns)

    def _busy_until(self, t_ns: Ints) -> Ints:
        if not len(self.times):
            return np.zeros(len(t_ns), dtype=np.int64)
        i = np.searchsorted(self.times, t_ns, side="right") - 1
        safe = np.maximum(i, 0)
        tail = np.where(self.level[safe] > 0, t_ns - self.times[safe], 0)
        result: Ints = np.where(i >= 0, self.busy_before[safe] + tail, 0)
        return result


def backlog(m: Messages) -> Backlog:
    published = m.n_publish_ok > 0
    enter = np.where(m.send_ns != MISSING, m.send_ns, m.publish_ns)[published]
    acked = m.first_ack_ns[published]
    has_ack = acked != MISSING
    leave = np.maximum(enter[has_ack], acked[has_ack])
    # One sort of packed keys (time << 1 | is_enter) instead of an argsort: the step rides in bit 0.
    base = int(enter.min()) if len(enter) else 0
    packed = np.concatenate(((enter - base) << 1 | 1, (leave - base) << 1))
    packed.sort()
    times = (packed >> 1) + base
    level = np.cumsum(np.where(packed & 1, 1, -1))
    durations = np.diff(times, append=times[-1:] if len(times) else times)
    busy_before = np.concatenate(([0], np.cumsum(np.where(level > 0, durations, 0))[:-1])).astype(np.int64)
    return Backlog(times, level, busy_before[: len(times)])


def producing_span(info: RunInfo, m: Messages) -> tuple[int | None, int | None]:
    """When producing started and stopped (ns): as run.json noted them, else the first and last send."""
    sends = m.send_ns[m.send_ns != MISSING]
    first_send = int(sends.min()) if len(sends) else None
    last_send = int(sends.max()) if len(sends) else None
    started = first_send if info.producing_started_ns is None else info.producing_started_ns
    stopped = last_send if info.producing_stopped_ns is None else info.producing_stopped_ns
    return started, stopped


def throughput(log: EventLog, m: Messages, info: RunInfo, queue: Backlog, start_ns: int, end_ns: int) -> dict[str, Any]:
    """Per-second rates and backlog, drain time, achieved against offered rate.

    Rates are per second over bins of ``bin_s`` seconds: one, unless the run is longer than
    :data:`MAX_BINS` seconds, when the bins widen (see :mod:`harness.analysis.windows`).
    """
    bin_ns = fitting_window(end_ns - start_ns, NS_PER_S, MAX_BINS)
    seconds = checked_count(window_count(end_ns - start_ns, bin_ns), MAX_BINS)
    kinds = log.column("kind")
    t_ns = log.column("t_ns")
    per_second: dict[str, Any] = {
        "bin_s": bin_ns / NS_PER_S,
        "t_s": list(range(seconds)) if bin_ns == NS_PER_S else (np.arange(seconds) * (bin_ns / NS_PER_S)).tolist(),
    }
    times = {
        "send": t_ns[kinds == el.SEND],
        "publish_ok": t_ns[kinds == el.PUBLISH_OK],
        "deliver": m.deliveries.t_ns,  # every delivery and ack row: gather kept them
        "ack": m.acks.t_ns,
    }
    for name, kind_times in times.items():
        bins = window_keys(kind_times, start_ns, bin_ns)
        counts = np.bincount(bins[bins < seconds], minlength=seconds)
        per_second[name] = (counts if bin_ns == NS_PER_S else counts / (bin_ns / NS_PER_S)).tolist()
    boundaries = start_ns + (np.arange(seconds, dtype=np.int64) + 1) * bin_ns
    per_second["backlog"] = queue.at(np.minimum(boundaries, end_ns)).tolist()

    sends = m.send_ns[m.send_ns != MISSING]
    first_send = int(sends.min()) if len(sends) else None
    acks = m.first_ack_ns[m.first_ack_ns != MISSING]
    last_ack = int(acks.max()) if len(acks) else None
    producing_from, producing_to = producing_span(info, m)
    producing_s = None
    if producing_from is not None and producing_to is not None:
        producing_s = (producing_to - producing_from) / 1e9
    achieved = len(sends) / producing_s if producing_s else None
    deliveries = m.first_deliver_ns[m.first_deliver_ns != MISSING]
    delivering_s = (int(deliveries.max()) - first_send) / 1e9 if len(deliveries) and first_send is not None else None
    offered = info.offered_rate
    drain_s = (last_ack - producing_to) / 1e9 if last_ack is not None and producing_to is not None else None
    return {
        "offered_rate": offered,
        "achieved_send_rate": _round(achieved),
        "achieved_ratio": _round(achieved / offered) if achieved and offered else None,
        "delivery_rate": _round(len(deliveries) / delivering_s) if delivering_s else None,
        "producing_s": _round(producing_s),
        "drain_s": _round(max(drain_s, 0.0)) if drain_s is not None else None,
        "drained": info.drained,
        "peak_backlog": int(queue.level.max()) if len(queue.level) else 0,
        "final_backlog": int(queue.level[-1]) if len(queue.level) else 0,
        "generator": info.generator,
        "per_second": per_second,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
