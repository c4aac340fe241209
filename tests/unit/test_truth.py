"""The truth log reader and the comparison of checker findings against injected faults."""

from __future__ import annotations

import json

from harness.analysis.delivery import classify
from harness.analysis.messages import gather
from harness.analysis.truth import CheckerView, Fault, Mismatch, checker_view, compare_truth, parse_truth
from tests.checker_logs import MS, log_of, message


def record(fault: str, uid: str | None, consumer: str | None = None, delay_ms: float | None = None) -> str:
    properties = {"sh-uid": uid, "sh-sent-ns": "1"} if uid else None
    return json.dumps(
        {
            "t_ns": 1795808956728280551,
            "fault": fault,
            "msg_id": "CAEQBQ==" if uid else None,
            "properties": properties,
            "consumer": consumer,
            "detail": "",
            "delay_ms": delay_ms,
        }
    )


TRUTH = "\n".join(
    [
        record("drop", "w0-p1/5"),
        record("duplicate", "w0-p1/6", "w0-c1"),
        record("misroute", "w0-p1/7", "w0-c2"),
        record("delay", "w0-p1/8", "w0-c1", delay_ms=200),
        record("disconnect", None, "w0-c2"),
        record("skew", "w0-p1/9", "w0-c1"),
    ]
)


def test_truth_log_lines_become_faults() -> None:
    faults, problems = parse_truth(TRUTH + "\n")
    assert problems == []
    assert [f.fault for f in faults] == ["drop", "duplicate", "misroute", "delay", "disconnect", "skew"]
    assert faults[0] == Fault(1795808956728280551, "drop", "CAEQBQ==", "w0-p1/5", None, "", None)
    assert faults[3].delay_ms == 200.0 and faults[4].uid is None and faults[4].consumer == "w0-c2"


def test_bad_and_torn_truth_lines_are_reported() -> None:
    faults, problems = parse_truth(TRUTH + "\nnot json\n" + record("explode", "x") + "\n" + '{"t_ns": 1, "fau')
    assert len(faults) == 6
    assert problems[0] == "truth log: dropped a torn last line"
    assert problems[1].startswith("truth log line 7: JSONDecodeError")
    assert problems[2] == "truth log line 8: ValueError: unknown fault 'explode'"


def test_agreement_gives_no_mismatch() -> None:
    faults, _ = parse_truth(TRUTH + "\n")
    agreeing = CheckerView(
        classes={"w0-p1/5": "lost", "w0-p1/6": "duplicated", "w0-p1/7": "duplicated", "w0-p1/3": "redelivered"},
        duplicate_kinds={"w0-p1/6": "same_consumer", "w0-p1/7": "cross_consumer"},
        e2e_ms={"w0-p1/8": 201.5},
    )
    assert compare_truth(faults, agreeing) == []


def test_every_disagreement_is_a_mismatch() -> None:
    faults, _ = parse_truth(TRUTH + "\n")
    wrong = CheckerView(
        classes={"w0-p1/5": "indeterminate", "w0-p1/6": "duplicated", "w0-p1/1": "duplicated"},
        duplicate_kinds={"w0-p1/6": "cross_consumer", "w0-p1/1": "same_consumer"},
        e2e_ms={"w0-p1/8": 12.0},
    )
    assert [str(m) for m in compare_truth(faults, wrong)] == [
        "w0-p1/5: expected lost, checker found indeterminate (drop fault)",
        "w0-p1/6: expected duplicated (same_consumer), checker found duplicated (cross_consumer) (duplicate fault)",
        "w0-p1/7: expected duplicated, checker found ok (misroute fault)",
        "w0-p1/8: expected ok, e2e >= 200 ms, checker found e2e 12.0 ms (delay fault)",
        "w0-p1/1: expected ok, checker found duplicated (no fault)",
    ]


def test_reorder_must_show_as_an_order_violation_only_where_order_is_promised() -> None:
    """Overtaken by a later message of its own producer, on an ordered subscription: a violation."""
    faults = [Fault(1, "reorder", "m", "w0-p1/2", "w0-c1", detail="after n")]
    overtaken = {"w0-p1/2": "w0-p1/3"}
    assert compare_truth(faults, CheckerView(classes={}, overtaken_by=overtaken)) == []
    ordered = CheckerView(classes={}, ordered=True, overtaken_by=overtaken)
    assert compare_truth(faults, ordered) == [Mismatch("w0-p1/2", "an order violation", "in order", "reorder")]
    late = CheckerView(classes={}, ordered=True, order_late=frozenset({"w0-p1/2", "w0-p1/4"}), overtaken_by=overtaken)
    assert compare_truth(faults, late) == [Mismatch("w0-p1/4", "in order", "an order violation", None)]


def test_reorder_across_producers_breaks_no_order() -> None:
    """Swapped with another producer's message, per-producer order still holds."""
    faults = [Fault(1, "reorder", "m", "w0-p1/2", "w0-c1", detail="after n")]
    view = CheckerView(classes={}, ordered=True, overtaken_by={"w0-p1/2": "w0-p2/9"})
    assert compare_truth(faults, view) == []
    unknown = CheckerView(classes={}, ordered=True)
    assert compare_truth(faults, unknown) == []


def test_checker_view_from_a_literal_log() -> None:
    rows = [*message("w0-p1/5", 10)[:2], *message("w0-p1/8", 20)[:3]]
    rows[-1] = f"{20 + 250 * MS},deliver,w0-c1,w0-p1/8,m-w0-p1/8,,0,10,"
    rows += [*message("w0-p1/6", 30), "34,deliver,w0-c1,w0-p1/6,m-w0-p1/6,,0,10,"]
    log = log_of(*rows)
    m = gather(log)
    faults, _ = parse_truth(TRUTH + "\n")
    found = checker_view(log, m, classify(log, m), faults)
    assert found.classes == {"w0-p1/5": "lost", "w0-p1/6": "duplicated"}
    assert found.duplicate_kinds == {"w0-p1/6": "same_consumer"}
    assert found.e2e_ms == {"w0-p1/8": 250.0}
    assert [m_.fault for m_ in compare_truth(faults, found)] == ["misroute"]
