"""The verdict on a run, Maelstrom style: pass (0), fail (1) or inconclusive (2).

A run fails on a violation beyond its threshold. It is inconclusive when it cannot prove
anything: no message reached the endpoint (none was published and none delivered, so there is no
delivery to check), rows of the log were skipped (a skipped nack or delivery could make a good run
look bad or a bad one good), or published messages were never delivered in a run that was
interrupted before its drain (they may still have been on their way). A run folder without a
readable run.json proves nothing either way: the workers' clock offsets and the ack timeout are
unknown, so a redelivery may be misjudged in both directions.

A run whose endpoint was lost (run.json's ``endpoint_lost``) never passes: it fails when
published messages are then missing or on any other violation, and is inconclusive otherwise. A
run with a lost worker is inconclusive unless the survivors' own rows prove a violation.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, one_line
from harness.userfiles import read_small_text

EXIT_CODES = {"pass": 0, "fail": 1, "inconclusive": 2}


class ThresholdError(HarnessError):
    """A threshold file or option with a bad value."""


@dataclass(frozen=True)
class Thresholds:
    """Limits a run must keep to pass; None switches a check off."""

    max_lost: int | None = 0
    max_duplicated: int | None = 0
    max_unexpected: int | None = 0
    max_rejected_delivered: int | None = 0
    max_order_violations: int | None = 0
    min_jain: float | None = 0.9
    max_p99_ms: float | None = None
    max_starved: int | None = None
    max_unacked: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def updated(self, values: dict[str, Any], source: str) -> Thresholds:
        """A copy with ``values`` applied; unknown names and bad types are errors naming ``source``."""
        known = {f.name for f in fields(self)}
        changes: dict[str, Any] = {}
        for name, value in values.items():
            key = name.replace("-", "_")
            if key not in known:
                raise ThresholdError(f"{source}: unknown threshold {name!r} (known: {', '.join(sorted(known))})")
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf
            ):
                raise ThresholdError(f"{source}: threshold {name} must be a finite number >= 0, not {value!r}")
            if key == "min_jain" and value is not None and value > 1:
                raise ThresholdError(f"{source}: threshold {name} must be between 0 and 1, not {value!r}")
            changes[key] = value
        return replace(self, **changes)


def load_thresholds(path: Path) -> Thresholds:
    """Thresholds from a TOML file: top-level keys, or a ``[thresholds]`` table."""
    try:
        document = tomllib.loads(read_small_text(path))
    except OSError as exc:
        raise ThresholdError(f"{path}: cannot read the thresholds file ({exc.strerror or exc})") from None
    except (ValueError, RecursionError) as exc:  # not UTF-8, not TOML, or nested past the recursion limit
        raise ThresholdError(f"{path}: not valid TOML ({one_line(exc)})") from None
    table = document.get("thresholds", document)
    if not isinstance(table, dict):
        raise ThresholdError(f"{path}: [thresholds] must be a table")
    return Thresholds().updated(table, str(path))


@dataclass(frozen=True)
class Verdict:
    outcome: str  # "pass" | "fail" | "inconclusive"
    reasons: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]


def judge(summary: dict[str, Any], limits: Thresholds) -> Verdict:
    """Judge a summary (see summary.py) against ``limits``.

    A lost endpoint is never a pass (see :func:`endpoint_line`). A lost worker's consumers left
    rows unrecorded, so with one lost only violations the survivors' rows prove can fail a run.
    """
    delivery = summary["delivery"]
    messages = summary["messages"]
    fairness = summary["fairness"]
    run = summary["run"]
    endpoint_lost = run.get("endpoint_lost")
    workers_lost = run.get("workers_lost") or []
    effects = messages.get("loss_effects") or {}
    unknown: list[str] = []
    if summary["input"]["data_skipped"]:
        unknown.append("rows of the event log were skipped (see the input notes)")
    run_json = summary["input"]["run_json"]
    if run_json != "read":
        unknown.append(
            f"run.json is {run_json}: the workers' clock offsets and the ack timeout are unknown, so events of "
            "different workers may be out of order and a redelivery after an ack timeout may look like a duplicate"
        )
    damaged = summary["input"].get("run_json_damaged") or []
    if damaged:
        unknown.append(
            f"run.json's {', '.join(damaged)} {'is' if len(damaged) == 1 else 'are'} not what the harness writes: "
            "a lost endpoint or worker, or the subscription's settings, may be hidden"
        )
    if messages["sent"] == 0 and sum(delivery.values()) == 0:
        unknown.append("no message was sent")
    elif messages["published"] == 0 and messages["deliveries"] == 0:
        unknown.append(_nothing_reached(messages["sent"], delivery))
    failures: list[str] = []
    #: Violations a lost worker's unrecorded rows may explain: they prove nothing.
    doubtful: list[str] = []
    interrupted = not run["completed"]
    # What a drain would still have settled: a violation only in a run that completed, or, for
    # published messages, in one whose endpoint went away (they were then missing, not on their way).
    unsettled = (
        (delivery["lost"], limits.max_lost, "lost", "published messages were never delivered", bool(endpoint_lost)),
        (
            messages["unacked"],
            limits.max_unacked,
            "delivered but never acked",
            "delivered messages were never acked",
            False,
        ),
    )
    for value, limit, label, unfinished, settled_anyway in unsettled:
        if _over(value, limit):
            if interrupted and not settled_anyway:
                unknown.append(f"{value} {unfinished}, but the run stopped before its drain")
            else:
                failures.append(f"{value} {label}")
    # The part of a count that rests on a lost worker's consumers, when a worker was lost.
    with_lost = {
        "duplicated": effects.get("duplicated_with_lost", 0),
        "order violations": effects.get("order_late_with_lost", 0),
    }
    checks = (
        (delivery["duplicated"], limits.max_duplicated, "duplicated"),
        (delivery["unexpected"], limits.max_unexpected, "unexpected"),
        (messages["rejected_delivered"], limits.max_rejected_delivered, "rejected by the endpoint but delivered"),
        (messages["order_violations"], limits.max_order_violations, "order violations"),
    )
    for value, limit, label in checks:
        doubtful_part = with_lost.get(label) if workers_lost else None
        _count(value, doubtful_part, limit, label, failures, doubtful)
    judged: list[str] = []
    starved = fairness["starved"] if fairness["applies"] else None
    if _over(starved, limits.max_starved):
        judged.append(f"{starved} starved consumers")
    jain = fairness["jain"]
    if fairness["applies"] and jain is not None and limits.min_jain is not None and jain < limits.min_jain:
        judged.append(f"Jain's fairness index {jain:.3f} below {limits.min_jain:g}")
    p99 = summary["latency_ms"]["e2e"]["p99"]
    if limits.max_p99_ms is not None and p99 is not None and p99 > limits.max_p99_ms:
        judged.append(f"end-to-end p99 {p99:.3f} ms above {limits.max_p99_ms:g} ms")
    # Spread and speed: a lost worker's consumers skew both, so they are doubtful then.
    if workers_lost:
        doubtful += [f"{text}, but a worker was lost" for text in judged]
    else:
        failures += judged
    context = loss_lines(summary)
    untrustworthy = summary["input"]["data_skipped"] or run_json != "read" or bool(damaged)
    if untrustworthy or (unknown and not failures):
        return Verdict("inconclusive", unknown + failures + context + doubtful)
    if failures:
        return Verdict("fail", failures + context)
    if context:
        return Verdict("inconclusive", context + doubtful)
    return Verdict("pass")


def _count(
    value: int | None,
    doubtful_part: int | None,
    limit: int | None,
    label: str,
    failures: list[str],
    doubtful: list[str],
) -> None:
    """Judge one count; with ``doubtful_part`` (a lost worker's share) only the rest can fail the run."""
    if doubtful_part is None:
        if _over(value, limit):
            failures.append(f"{value} {label}")
        return
    if value is None:
        return
    among_survivors = value - doubtful_part
    if _over(among_survivors, limit):
        failures.append(f"{among_survivors} {label} among surviving consumers")
    elif _over(value, limit):
        doubtful.append(f"{value} {label} involving consumers of a lost worker")


def loss_lines(summary: dict[str, Any]) -> list[str]:
    """One line for a lost endpoint and one per lost worker: the verdict's reasons, the reports' record."""
    run = summary["run"]
    held = (summary["messages"].get("loss_effects") or {}).get("indeterminate_at_loss", 0)
    endpoint = [endpoint_line(run["endpoint_lost"])] if run.get("endpoint_lost") else []
    workers = [worker_line(worker) for worker in run.get("workers_lost") or []]
    return endpoint + workers + ([_held_line(held)] if held else [])


def endpoint_line(record: dict[str, Any]) -> str:
    """One line on an endpoint loss: when, for how long, who was cut off, how much was not sent."""
    outages = [o for o in record.get("outages") or [] if isinstance(o, dict)]
    first = record.get("first_ns")
    if first is None and outages:
        first = outages[0].get("from_ns")
    line = "endpoint lost" + (f" at {_clock(first)}" if first is not None else "")
    longest = record.get("longest_s")
    if longest is None:
        longest = max((o["seconds"] for o in outages if o.get("seconds") is not None), default=None)
    if longest is not None:
        line += f" for {longest:.1f} s" + (f" at most, in {len(outages)} outages" if len(outages) > 1 else "")
    if any(o.get("to_ns") is None for o in outages):
        line += ", and not back by the end of the run"
    cut = [
        f"{n} {kind}{'s' if n != 1 else ''}"
        for kind in ("producer", "consumer")
        if (n := max((o.get(kind + "s") or 0 for o in outages), default=0))
    ]
    if cut:
        line += f" ({', '.join(cut)} cut off)"
    shortfall = record.get("schedule_shortfall")
    if shortfall is not None:
        line += f"; {shortfall:.0%} of the schedule not sent"
    return line


def worker_line(worker: dict[str, Any]) -> str:
    """One line on a lost worker: when, and which consumers were taken as left when."""
    name, lost, left = worker["worker"], worker.get("lost_ns"), worker.get("left_ns")
    line = f"worker {name} lost" + (f" at {_clock(lost)}" if lost is not None else "")
    consumers = worker.get("consumers") or []
    if left is None:
        return line + ": none of its rows reached the log, so what its consumers took is unknown"
    if consumers:
        line += f": its consumers {', '.join(consumers)} taken as left at {_clock(left)}"
        line += ", so redeliveries of what they held are explained (holder left)"
    return line


def _held_line(indeterminate: int) -> str:
    many = indeterminate != 1
    return (
        f"{indeterminate:,} message{'s' if many else ''} published before a worker was lost and never seen "
        f"delivered {'are' if many else 'is'} indeterminate: a lost consumer may have acked {'them' if many else 'it'}"
        " unrecorded"
    )


def _clock(ns: int) -> str:
    """A UTC wall-clock time for a reason line; the raw number when it is no plausible time."""
    try:
        return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"{ns} ns"


def _nothing_reached(sent: int, delivery: dict[str, int]) -> str:
    """Why a run whose messages were all refused or unanswered proves nothing about delivery."""
    answers = []
    if delivery["rejected"]:
        answers.append(f"{delivery['rejected']:,} rejected by the endpoint")
    if delivery["indeterminate"]:
        answers.append(f"{delivery['indeterminate']:,} never answered")
    return (
        f"no message was published and none delivered ({sent:,} sent: {', '.join(answers)}), "
        "so there is no delivery to check"
    )


def _over(value: int | float | None, limit: int | float | None) -> bool:
    return value is not None and limit is not None and value > limit
