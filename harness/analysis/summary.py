"""Every figure of a run in one JSON-ready dict: the content of ``summary.json``.

The console, the HTML report, ``--json`` and ``compare`` all read this dict, so they can never
disagree. Its layout is versioned by :data:`SUMMARY_VERSION`; a key's meaning never changes
within a version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from harness.analysis.connections import departures, describe
from harness.analysis.delivery import ACK_GRACE_MS, classify, fates
from harness.analysis.eventlog import MISSING
from harness.analysis.fairness import fairness
from harness.analysis.latency import latency
from harness.analysis.load import LoadedRun
from harness.analysis.messages import Messages, gather
from harness.analysis.plausible import MARGIN_NS
from harness.analysis.runinfo import run_info
from harness.analysis.throughput import Backlog, backlog, throughput
from harness.analysis.verdict import Thresholds, judge
from harness.analysis.windows import fitting_window, span_notes
from harness.atomic import write_json_atomically
from harness.events.runfolder import redact

SUMMARY_VERSION = 1
SUMMARY_JSON = "summary.json"
NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class Options:
    """How to analyse: window width, starvation threshold, the ack allowance and the thresholds."""

    window_s: float = 10.0
    starvation_s: float = 5.0
    ack_grace_ms: float = ACK_GRACE_MS
    thresholds: Thresholds = field(default_factory=Thresholds)


class Analysis(NamedTuple):
    """A run's summary with the per-message facts and the backlog it was computed from."""

    summary: dict[str, Any]
    messages: Messages
    backlog: Backlog


def summarize(run: LoadedRun, options: Options | None = None) -> dict[str, Any]:
    """Analyse a loaded run: delivery classes, fairness, latency, throughput and the verdict."""
    return analyse(run, options).summary


def analyse(run: LoadedRun, options: Options | None = None) -> Analysis:
    """:func:`summarize`, also handing back the gathered messages and backlog for further figures
    (a capacity stage's window, say) so a caller need not gather them from the log again."""
    options = options or Options()
    info = run_info(run.manifest)
    log = run.log
    m = gather(log)
    gone = departures(log, info.workers_lost, m.deliveries)
    delivery = classify(log, m, info.ack_timeout_ms, options.ack_grace_ms, ordered=info.ordered, departures=gone)
    t_ns = log.column("t_ns")
    sends = m.send_ns[m.send_ns != MISSING]
    first_event = int(t_ns.min()) if len(t_ns) else 0
    last_event = int(t_ns.max()) if len(t_ns) else first_event
    # run.json's mark counts only near the log: one far from every row would stretch every span.
    noted = info.producing_started_ns
    noted = noted if noted is not None and first_event - MARGIN_NS <= noted <= last_event + MARGIN_NS else None
    starts = [x for x in (noted, int(sends.min()) if len(sends) else None) if x is not None]
    start_ns = min(starts) if starts else first_event
    end_ns = last_event if len(t_ns) else start_ns
    asked_ns = max(1, int(options.window_s * NS_PER_S))
    window_ns = fitting_window(end_ns - start_ns, asked_ns)  # no figure allocates by the span's length
    queue = backlog(m)
    counts = fates(m, delivery)
    summary: dict[str, Any] = {
        "schema_version": SUMMARY_VERSION,
        "verdict": None,
        "exit_code": None,
        "reasons": [],
        "run": {
            "run_id": info.run_id or run.path.name,
            "subscription_type": info.subscription_type,
            "producers": info.producers,
            "consumers": info.consumers,
            "rate": info.rate,
            "duration_s": info.duration_s,
            "completed": info.completed,
            "drained": info.drained,
            "target": _target(run.manifest),
            "settings": _settings(run.manifest),
            "clock_uncertainty_ms": max(info.clock_uncertainty_ns.values(), default=0) / 1e6,
            "endpoint_lost": info.endpoint_lost.as_dict() if info.endpoint_lost is not None else None,
            "workers_lost": describe(log, gone),
        },
        "input": {
            "read": run.describe(),
            "events": len(log),
            "files": [f.name for f in run.files],
            "notes": [*run.problems, *damage_notes(info.damaged), *span_notes(end_ns - start_ns, asked_ns, window_ns)],
            "data_skipped": run.data_skipped,
            "unusable_rows": sum(run.unusable_rows.values()),
            "unusable_by_file": dict(run.unusable_rows),
            "run_json": run.run_json,
            "run_json_damaged": list(info.damaged),
        },
        "thresholds": options.thresholds.as_dict(),
        "delivery": delivery.counts,
        "messages": {
            **counts.as_dict(),
            "rejected_delivered": delivery.rejected_delivered,
            "duplicated_kinds": delivery.duplicate_kinds,
            "redelivery_explained": delivery.explained,
            "order_violations": delivery.order_violations,
            "examples": delivery.examples,
            "order_examples": delivery.order_examples,
            "loss_effects": delivery.loss.as_dict(),
        },
        "fairness": fairness(
            log,
            m,
            queue,
            info.subscription_type,
            start_ns,
            end_ns,
            window_ns,
            int(options.starvation_s * NS_PER_S),
            gone.at_ns,
        ),
        "latency_ms": latency(log, m, delivery, start_ns, window_ns),
        "throughput": throughput(log, m, info, queue, start_ns, end_ns),
    }
    verdict = judge(summary, options.thresholds)
    summary.update(verdict=verdict.outcome, exit_code=verdict.exit_code, reasons=verdict.reasons)
    return Analysis(plain(summary), m, queue)


def damage_notes(damaged: tuple[str, ...]) -> list[str]:
    """One note per run.json key whose value no harness writes (see :func:`runinfo.damaged_keys`)."""
    return [f"run.json: {key} is not the record the harness writes; read as missing, no pass" for key in damaged]


def _settings(manifest: dict[str, Any]) -> dict[str, Any]:
    """run.json's settings, redacted; a damaged record (a list, a string) is shown as none."""
    settings = manifest.get("settings")
    return redact(settings) if isinstance(settings, dict) else {}


def _target(manifest: dict[str, Any]) -> dict[str, Any]:
    target = manifest.get("target")
    return redact(target) if isinstance(target, dict) else {}


def plain(value: Any) -> Any:
    """JSON-safe copy: numpy numbers become Python ones, NaN and infinities become None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def write_summary(run_dir: Path, summary: dict[str, Any]) -> Path:
    """Write ``summary.json`` atomically (a reader never sees half of it)."""
    return write_json_atomically(run_dir / SUMMARY_JSON, summary)
