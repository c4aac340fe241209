"""The verdict on a run, Maelstrom style: pass (0), fail (1) or inconclusive (2).

A run fails on a violation beyond its threshold. It is inconclusive when it cannot prove
anything: no message reached the endpoint (none was published and none delivered, so there is no
delivery to check), rows of the log were skipped (a skipped nack or delivery could make a good run
look bad or a bad one good), or published messages were never delivered in a run that was
interrupted before its drain (they may still have been on their way). A run folder without a
readable run.json proves nothing either way: the workers' clock offsets and the ack timeout are
unknown, so a redelivery may be misjudged in both directions.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

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
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ThresholdError(f"{path}: cannot read the thresholds file ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ThresholdError(f"{path}: not valid TOML ({exc})") from None
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
    """Judge a summary (see summary.py) against ``limits``."""
    delivery = summary["delivery"]
    messages = summary["messages"]
    fairness = summary["fairness"]
    unknown: list[str] = []
    if summary["input"]["data_skipped"]:
        unknown.append("rows of the event log were skipped (see the input notes)")
    run_json = summary["input"]["run_json"]
    if run_json != "read":
        unknown.append(
            f"run.json is {run_json}: the workers' clock offsets and the ack timeout are unknown, so events of "
            "different workers may be out of order and a redelivery after an ack timeout may look like a duplicate"
        )
    if messages["sent"] == 0 and sum(delivery.values()) == 0:
        unknown.append("no message was sent")
    elif messages["published"] == 0 and messages["deliveries"] == 0:
        unknown.append(_nothing_reached(messages["sent"], delivery))
    failures: list[str] = []
    interrupted = not summary["run"]["completed"]
    # What a drain would still have settled: a violation only in a run that completed.
    unsettled = (
        (delivery["lost"], limits.max_lost, "lost", "published messages were never delivered"),
        (messages["unacked"], limits.max_unacked, "delivered but never acked", "delivered messages were never acked"),
    )
    for value, limit, label, unfinished in unsettled:
        if _over(value, limit):
            if interrupted:
                unknown.append(f"{value} {unfinished}, but the run stopped before its drain")
            else:
                failures.append(f"{value} {label}")
    checks = (
        (delivery["duplicated"], limits.max_duplicated, "duplicated"),
        (delivery["unexpected"], limits.max_unexpected, "unexpected"),
        (messages["rejected_delivered"], limits.max_rejected_delivered, "rejected by the endpoint but delivered"),
        (messages["order_violations"], limits.max_order_violations, "order violations"),
        (fairness["starved"] if fairness["applies"] else None, limits.max_starved, "starved consumers"),
    )
    failures += [f"{value} {label}" for value, limit, label in checks if _over(value, limit)]
    jain = fairness["jain"]
    if fairness["applies"] and jain is not None and limits.min_jain is not None and jain < limits.min_jain:
        failures.append(f"Jain's fairness index {jain:.3f} below {limits.min_jain:g}")
    p99 = summary["latency_ms"]["e2e"]["p99"]
    if limits.max_p99_ms is not None and p99 is not None and p99 > limits.max_p99_ms:
        failures.append(f"end-to-end p99 {p99:.3f} ms above {limits.max_p99_ms:g} ms")
    untrustworthy = summary["input"]["data_skipped"] or run_json != "read"
    if untrustworthy or (unknown and not failures):
        return Verdict("inconclusive", unknown + failures)
    return Verdict("fail", failures) if failures else Verdict("pass")


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
