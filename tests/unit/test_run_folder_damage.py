"""A damaged run folder (run.json or events files no harness writes) is analysed or refused, never a crash.

Each case was a traceback or a hang before: a number JSON allows but no float holds, settings that
are not a table, arrays nested past the parser's recursion limit, a FIFO or /dev/zero where a
file goes. Each one now analyses, with what could not be used noted, and never passes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from harness.analysis.compare import compare_summaries
from harness.analysis.load import clock_offsets, load_run, parse_events
from harness.analysis.plausible import run_bounds
from harness.analysis.runinfo import run_info
from harness.analysis.summary import summarize
from tests.checker_logs import S, manifest, message, text, write_run

T0 = 1_765_000_000 * S
CLEAN = text(*message("u1", T0), *message("u2", T0 + S))
HUGE = 10**400  # JSON has no limit on an integer's digits; a float's range ends near 1.8e308


@pytest.mark.parametrize(
    "overrides",
    [
        {"producing_stopped_ns": HUGE},
        {"started_ns": -HUGE, "stopped_ns": HUGE},
        {"clock_uncertainty_ns": {"w0": HUGE}},
        {"settings": {"rate": HUGE, "producers": HUGE, "ack_timeout_ms": HUGE}},
        {"endpoint_lost": {"first_ns": HUGE, "outages": [{"from_ns": HUGE, "seconds": HUGE}]}},
        {"workers_lost": [{"worker": "w9", "lost_ns": HUGE}]},
    ],
    ids=["stop", "start-and-stop", "uncertainty", "settings", "endpoint-lost", "workers-lost"],
)
def test_numbers_past_a_floats_range_count_as_missing(overrides: dict[str, Any]) -> None:
    info = run_info(manifest(**overrides))
    assert info.producing_stopped_ns is None
    assert all(value is None or abs(value) < 2**63 for value in (info.rate, info.producers, info.ack_timeout_ms))
    assert all(abs(value) < 2**63 for value in info.clock_uncertainty_ns.values())
    if info.endpoint_lost is not None:
        assert info.endpoint_lost.first_ns is None and info.endpoint_lost.outages[0].from_ns is None
    assert all(worker.lost_ns is None for worker in info.workers_lost)


def test_a_clock_offset_past_a_floats_range_is_noted_not_raised() -> None:
    problems: list[str] = []
    assert clock_offsets({"clock_offsets_ns": {"w0": HUGE, "w1": 5}}, problems) == {"w1": 5}
    assert len(problems) == 1 and "clock offset of worker w0" in problems[0]


def test_the_largest_int64_is_still_a_time() -> None:
    assert run_info({"producing_started_ns": 2**63 - 1}).producing_started_ns == 2**63 - 1
    assert run_info({"producing_started_ns": 2**63}).producing_started_ns is None
    assert run_info({"producing_started_ns": 1.5e18}).producing_started_ns == 1_500_000_000_000_000_000


@pytest.mark.parametrize("settings", [[1, 2], "Shared", 5, None])
def test_settings_that_are_not_a_table_are_shown_as_none(tmp_path: Path, settings: Any) -> None:
    run = write_run(tmp_path / "r", {"w0-1.csv": CLEAN}, {**manifest(), "settings": settings})
    summary = summarize(load_run(run))
    assert summary["run"]["settings"] == {}


def _run_json(folder: Path, content: str) -> None:
    (folder / "run.json").write_text(content, encoding="utf-8")


@pytest.mark.parametrize(
    "make",
    [
        lambda folder: _run_json(folder, "[" * 100_000 + "]" * 100_000),
        lambda folder: _run_json(folder, '{"a":' * 100_000 + "1" + "}" * 100_000),
        lambda folder: os.mkfifo(folder / "run.json"),
        lambda folder: (folder / "run.json").symlink_to("/dev/zero"),
        lambda folder: (folder / "run.json").mkdir(),
    ],
    ids=["nested-arrays", "nested-objects", "fifo", "dev-zero", "folder"],
)
def test_a_run_json_that_cannot_be_read_is_noted_and_never_passes(tmp_path: Path, make: Any) -> None:
    """Before: a RecursionError traceback (exit 1, the code of FAIL), a read blocked forever, memory filled."""
    run = write_run(tmp_path / "r", {"w0-1.csv": CLEAN})
    make(run)
    loaded = load_run(run)
    assert loaded.run_json == "unreadable" and loaded.manifest == {}
    assert any(problem.startswith("run.json: ") for problem in loaded.problems), loaded.problems
    assert summarize(loaded)["verdict"] == "inconclusive"


@pytest.mark.parametrize(
    "make",
    [
        lambda events: os.mkfifo(events / "w1-1.csv"),
        lambda events: (events / "w1-1.csv").symlink_to("/dev/zero"),
        lambda events: (events / "w1-1.csv").mkdir(),
        lambda events: (events / "w1-1.csv").symlink_to(events / "w1-1.csv"),
    ],
    ids=["fifo", "dev-zero", "folder", "symlink-loop"],
)
def test_an_events_entry_that_is_not_a_file_is_skipped_and_counted(tmp_path: Path, make: Any) -> None:
    run = write_run(tmp_path / "r", {"w0-1.csv": CLEAN}, manifest())
    make(run / "events")
    loaded = load_run(run)
    assert len(loaded.log) == 8, "the good file's rows are all kept"
    assert loaded.data_skipped
    assert any(problem.startswith("w1-1.csv: ") and "file skipped" in problem for problem in loaded.problems)
    assert summarize(loaded)["verdict"] == "inconclusive"


def test_compare_takes_no_difference_of_figures_no_float_holds() -> None:
    """Before: a 400-digit count in a hand-edited summary.json was an OverflowError; NaN printed as bare NaN."""
    a = {"messages": {"sent": HUGE, "deliveries": float("nan")}, "latency_ms": {"e2e": {"p99": float("inf")}}}
    b = {"messages": {"sent": 5, "deliveries": 4}, "latency_ms": {"e2e": {"p99": 1.5}}}
    rows = {row.figure: row for row in compare_summaries(a, b)}
    assert rows["messages sent"].delta is None and rows["messages sent"].percent is None
    assert rows["deliveries"].a is None and rows["deliveries"].delta is None
    assert rows["e2e p99 ms"].a is None and rows["e2e p99 ms"].b == 1.5
    json.dumps([row.as_dict() for row in rows.values()], allow_nan=False)  # strict JSON: raises on NaN
    assert {row.figure: row.delta for row in compare_summaries(b, b)}["messages sent"] == 0


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"endpoint_lost": "yes"}, "endpoint_lost"),
        ({"endpoint_lost": [1]}, "endpoint_lost"),
        ({"workers_lost": "w0"}, "workers_lost"),
        ({"workers_lost": [{"worker": "w1", "lost_ns": 5}, 7]}, "workers_lost"),
        ({"settings": ["Exclusive"]}, "settings"),
        ({"settings": {"subscription_type": ["Exclusive"]}}, "settings.subscription_type"),
        ({"settings": {"ack_timeout_ms": "5000"}}, "settings.ack_timeout_ms"),
        ({"clock_offsets_ns": [0, 5]}, "clock_offsets_ns"),
    ],
)
def test_a_verdict_key_of_a_type_no_harness_writes_is_never_a_pass(
    tmp_path: Path, overrides: dict[str, Any], key: str
) -> None:
    """Before: read as missing, ``endpoint_lost: "yes"`` or ``workers_lost: "w0"`` let a clean log PASS."""
    run = write_run(tmp_path / "r", {"w0-1.csv": CLEAN}, manifest())
    document = json.loads((run / "run.json").read_text())
    for name, value in overrides.items():  # a setting's damage goes into the settings table it belongs to
        document[name] = {**document[name], **value} if name == "settings" and isinstance(value, dict) else value
    (run / "run.json").write_text(json.dumps(document))
    summary = summarize(load_run(run))
    assert summary["input"]["run_json_damaged"] == [key]
    assert summary["verdict"] == "inconclusive" and key in summary["reasons"][0], summary["reasons"]
    assert (
        f"run.json: {key} is not the record the harness writes; read as missing, no pass" in summary["input"]["notes"]
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"endpoint_lost": None, "workers_lost": None, "clock_offsets_ns": None},
        {"endpoint_lost": False, "workers_lost": [], "clock_offsets_ns": {"w0": 0}},
        {"settings": {"subscription_type": None, "ack_timeout_ms": 0}},
    ],
)
def test_keys_absent_null_or_as_written_are_not_damage(tmp_path: Path, overrides: dict[str, Any]) -> None:
    run = write_run(tmp_path / "r", {"w0-1.csv": CLEAN}, manifest(**overrides))
    summary = summarize(load_run(run))
    assert summary["input"]["run_json_damaged"] == [] and summary["verdict"] == "pass", summary["reasons"]


@pytest.mark.parametrize("column", ["uid", "detail"])
def test_a_row_longer_than_a_parse_block_is_one_skipped_row_not_the_file(column: str) -> None:
    """Before: pyarrow gave up on the whole file ("straddles two block boundaries") for one 50 MB field."""
    long = "x" * (50 << 20)  # past the 16 MiB parse block whichever way the blocks fall
    row = f"{T0 + 5},error,w0-c1,{long},,,,,\n" if column == "uid" else f"{T0 + 5},error,w0-c1,,,,,,{long}\n"
    head, *rows = CLEAN.splitlines(keepends=True)
    result = parse_events((head + "".join(rows[:4]) + row + "".join(rows[4:])).encode(), "w0-1.csv")
    assert result.table is not None and result.table.num_rows == 8, result.skipped
    assert result.unusable == 1 and result.skipped == ["w0-1.csv: skipped 1 corrupt rows of 9"]


@pytest.mark.parametrize(
    "row",
    [
        f"{T0 + 2},deliver,,w0-p1/u1,m-u1,,0,10,",  # a delivery to nobody: was a "duplicated" FAIL
        f"{T0},send,w0-p1,w0-p1/u9,,-9000000000000000000,,10,",  # an intended send time before 1970
        f"{T0},send,w0-p1,w0-p1/u9,,0,,10,",
    ],
    ids=["no-actor", "intended-negative", "intended-zero"],
)
def test_a_row_with_no_actor_or_an_intended_time_at_or_before_0_is_skipped(row: str) -> None:
    result = parse_events((CLEAN + row + "\n").encode(), "w0-1.csv", bounds=run_bounds(manifest(started_ns=T0)))
    assert result.table is not None and result.table.num_rows == 8
    assert result.unusable == 1 and len(result.skipped) == 1 and "skipped 1 " in result.skipped[0], result.skipped
