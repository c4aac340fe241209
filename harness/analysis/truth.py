"""Checking the checker: the emulator's truth log of injected faults against what the checker found.

The truth log (``harness.emulator.truth``) is JSON lines, one injected fault per line. Each fault kind implies
a class for the message it hit: ``drop`` lost, ``duplicate`` duplicated (same consumer),
``misroute`` duplicated (cross consumer), ``delay`` ok with end-to-end latency of at least
``delay_ms``, ``reorder`` ok (and an order violation on Exclusive or Failover); ``disconnect``
and ``skew`` hit no single message (their messages must still be ok or redelivered). Every
other message must be ok or redelivered: anything else the checker reports is a mismatch too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harness.analysis.delivery import CLASSES, DUPLICATED, OK, DeliveryResult
from harness.analysis.eventlog import MISSING, EventLog
from harness.analysis.messages import Messages
from harness.events.schema import PROP_UID

FAULT_KINDS = ("drop", "duplicate", "misroute", "delay", "reorder", "disconnect", "skew")
#: Class and duplicated kind each per-message fault must produce.
EXPECTED = {
    "drop": ("lost", None),
    "duplicate": ("duplicated", "same_consumer"),
    "misroute": ("duplicated", "cross_consumer"),
    "delay": ("ok", None),
    "reorder": ("ok", None),
    "skew": ("ok", None),
}
#: Classes a message may have without a fault that names it (at-least-once doing its job).
HARMLESS = ("ok", "redelivered")


@dataclass(frozen=True)
class Fault:
    """One line of the truth log."""

    t_ns: int
    fault: str
    msg_id: str | None
    uid: str | None
    consumer: str | None
    detail: str = ""
    delay_ms: float | None = None


@dataclass(frozen=True)
class Mismatch:
    uid: str
    expected: str
    found: str
    fault: str | None

    def __str__(self) -> str:
        cause = f" ({self.fault} fault)" if self.fault else " (no fault)"
        return f"{self.uid}: expected {self.expected}, checker found {self.found}{cause}"


@dataclass(frozen=True)
class CheckerView:
    """What the checker said about the messages that matter for a comparison."""

    #: Class of every message that is not ``ok``.
    classes: dict[str, str]
    duplicate_kinds: dict[str, str] = field(default_factory=dict)
    order_late: frozenset[str] = frozenset()
    ordered: bool = False
    #: End-to-end latency (ms) of the messages the truth log delayed.
    e2e_ms: dict[str, float] = field(default_factory=dict)
    #: For each reordered message, the uid of the message the emulator let overtake it.
    overtaken_by: dict[str, str] = field(default_factory=dict)


def parse_truth(text: str) -> tuple[list[Fault], list[str]]:
    """Faults from the truth log's text, and a note per line that could not be used."""
    faults: list[Fault] = []
    problems: list[str] = []
    lines = text.split("\n")
    if lines and lines[-1]:
        problems.append("truth log: dropped a torn last line")
    for number, line in enumerate(lines[:-1], start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            faults.append(_fault(record))
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(f"truth log line {number}: {type(exc).__name__}: {exc}")
    return faults, problems


def _fault(record: Any) -> Fault:
    if not isinstance(record, dict):
        raise TypeError("not a JSON object")
    kind = record["fault"]
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault {kind!r}")
    properties = record.get("properties") or {}
    uid = properties.get(PROP_UID) if isinstance(properties, dict) else None
    delay = record.get("delay_ms")
    return Fault(
        t_ns=int(record["t_ns"]),
        fault=str(kind),
        msg_id=record.get("msg_id"),
        uid=str(uid) if uid else None,
        consumer=record.get("consumer"),
        detail=str(record.get("detail") or ""),
        delay_ms=float(delay) if delay is not None else None,
    )


def read_truth(path: Path) -> tuple[list[Fault], list[str]]:
    return parse_truth(path.read_text(encoding="utf-8"))


def checker_view(log: EventLog, m: Messages, result: DeliveryResult, faults: Iterable[Fault]) -> CheckerView:
    """Collect the checker's findings per uid, for the non-ok messages and the delayed ones."""
    not_ok = np.flatnonzero((result.classes >= 0) & (result.classes != OK))
    uids = log.uid_text(not_ok)
    classes = {uid: CLASSES[int(c)] for uid, c in zip(uids, result.classes[not_ok], strict=True)}
    if m.anonymous_deliveries:
        classes["(no uid)"] = "unexpected"
    r = result.redeliveries
    kinds: dict[str, str] = {}
    for kind, flags in (
        ("same_consumer", r.same_consumer),
        ("cross_consumer", r.cross_consumer),
        ("duplicate_publish", r.duplicate_publish),
    ):
        for uid in log.uid_text(np.flatnonzero(flags & (result.classes == DUPLICATED))):
            kinds.setdefault(uid, kind)
    delayed = {f.uid for f in faults if f.fault == "delay" and f.uid}
    e2e: dict[str, float] = {}
    if delayed:
        found = pc.index_in(pa.array(sorted(delayed), type=pa.string()), value_set=log.uids)
        codes = np.array([c for c in found.to_pylist() if c is not None], dtype=np.int64)
        for code, uid in zip(codes, log.uid_text(codes), strict=True):
            if m.first_deliver_ns[code] != MISSING and m.send_ns[code] != MISSING:
                e2e[uid] = float(m.first_deliver_ns[code] - m.send_ns[code]) / 1e6
    return CheckerView(
        classes=classes,
        duplicate_kinds=kinds,
        order_late=frozenset(log.uid_text(result.order_late)),
        ordered=result.order_violations is not None,
        e2e_ms=e2e,
        overtaken_by=_overtaken_by(log, m, faults),
    )


def _overtaken_by(log: EventLog, m: Messages, faults: Iterable[Fault]) -> dict[str, str]:
    """Reordered uid -> uid of the delivery that went first (the truth log names its message id)."""
    after = {f.uid: f.detail.removeprefix("after ").strip() for f in faults if f.fault == "reorder" and f.uid}
    if not after:
        return {}
    rows = m.deliveries.index
    found = pc.index_in(log.msg_ids.take(pa.array(rows)), value_set=pa.array(sorted(set(after.values()))))
    hit = np.flatnonzero(found.is_valid().to_numpy(zero_copy_only=False))
    by_msg_id = dict(zip(log.msg_id_text(rows[hit]), log.uid_text(m.deliveries.uid[hit]), strict=True))
    return {uid: by_msg_id[msg_id] for uid, msg_id in after.items() if msg_id in by_msg_id}


def _violates_order(uid: str, overtaker: str | None) -> bool:
    """A swap breaks per-producer order only when the overtaking message is a later one of the same producer."""
    if overtaker is None:
        return False
    producer, _, seq = uid.rpartition("/")
    other, _, other_seq = overtaker.rpartition("/")
    return producer == other and seq.isdigit() and other_seq.isdigit() and int(other_seq) > int(seq)


def compare_truth(faults: Iterable[Fault], view: CheckerView) -> list[Mismatch]:
    """Every way the checker's findings differ from the truth log; empty when they agree exactly."""
    mismatches: list[Mismatch] = []
    named: dict[str, list[Fault]] = {}
    for fault in faults:
        if fault.uid:
            named.setdefault(fault.uid, []).append(fault)
    for uid, hits in sorted(named.items()):
        found = view.classes.get(uid, "ok")
        wanted = {EXPECTED[f.fault][0] for f in hits if f.fault in EXPECTED}
        expected = "lost" if "lost" in wanted else "duplicated" if "duplicated" in wanted else "ok"
        cause = ", ".join(sorted({f.fault for f in hits}))
        if found != expected and not (expected == "ok" and found == "redelivered"):
            mismatches.append(Mismatch(uid, expected, found, cause))
            continue
        if expected == "duplicated":
            kinds = {EXPECTED[f.fault][1] for f in hits if EXPECTED.get(f.fault, ("", None))[0] == "duplicated"}
            kind = view.duplicate_kinds.get(uid, "")
            if kind not in kinds:
                mismatches.append(
                    Mismatch(
                        uid,
                        f"duplicated ({' or '.join(sorted(k or '' for k in kinds))})",
                        f"duplicated ({kind or 'no kind'})",
                        cause,
                    )
                )
        for f in hits:
            if f.fault == "delay" and f.delay_ms is not None:
                latency = view.e2e_ms.get(uid)
                if latency is None or latency < f.delay_ms:
                    mismatches.append(Mismatch(uid, f"ok, e2e >= {f.delay_ms:g} ms", f"e2e {latency} ms", "delay"))
            if (
                f.fault == "reorder"
                and view.ordered
                and _violates_order(uid, view.overtaken_by.get(uid))
                and uid not in view.order_late
            ):
                mismatches.append(Mismatch(uid, "an order violation", "in order", "reorder"))
    for uid, found in sorted(view.classes.items()):
        if uid not in named and found not in HARMLESS:
            mismatches.append(Mismatch(uid, "ok", found, None))
    mismatches.extend(
        Mismatch(uid, "in order", "an order violation", None)
        for uid in sorted(view.order_late)
        if not any(f.fault == "reorder" for f in named.get(uid, []))
    )
    return mismatches
