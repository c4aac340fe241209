"""The loader: torn lines, corrupt rows, bad headers, clock offsets, and what it says it skipped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.analysis.eventlog import MISSING
from harness.analysis.load import RunLoadError, load_run, parse_events, unusable_lines
from tests.checker_logs import HEADER, S, manifest, message, text, write_run

CLEAN = text(*message("w0-p1/0", 10), *message("w0-p1/1", 20))


def test_clean_file_reads_every_row() -> None:
    result = parse_events(CLEAN.encode(), "w0-1.csv")
    assert result.table is not None and result.table.num_rows == 8
    assert result.notes == result.skipped == []


def test_torn_last_line_is_noted_not_skipped() -> None:
    result = parse_events((CLEAN + "30,deliver,w0-c1,w0-p").encode(), "w0-1.csv")
    assert result.table is not None and result.table.num_rows == 8
    assert result.notes == ["w0-1.csv: dropped a torn last line (21 bytes)"]
    assert result.skipped == []


@pytest.mark.parametrize(
    "bad_row",
    [
        "30,deliver,w0-c1",  # too few cells
        "30,deliver,w0-c1,w0-p1/0,m,,0,10,,extra",  # too many cells
        "soon,deliver,w0-c1,w0-p1/0,m,,0,10,",  # not a number
        "30,teleport,w0-c1,w0-p1/0,m,,0,10,",  # unknown kind
        ",deliver,w0-c1,w0-p1/0,m,,0,10,",  # no time
        "99999999999999999999,deliver,w0-c1,w0-p1/0,m,,0,10,",  # past int64: one bad cell, not a lost file
        '30,error,w0-c1,,,,,,"a quote that never closes',
        "30,error,w0-c1,,,,,,a NUL \0 byte",
    ],
)
def test_corrupt_rows_are_skipped_and_counted(bad_row: str) -> None:
    data = (HEADER + "\n" + "\n".join([*message("w0-p1/0", 10), bad_row, *message("w0-p1/1", 20)]) + "\n").encode()
    result = parse_events(data, "w0-1.csv")
    assert result.table is not None and result.table.num_rows == 8
    assert result.skipped == ["w0-1.csv: skipped 1 corrupt rows of 9"]
    assert result.unusable == 1


def test_a_file_without_the_header_is_skipped() -> None:
    result = parse_events(b"a,b,c\n1,2,3\n", "w0-1.csv")
    assert result.table is None
    assert result.skipped == ["w0-1.csv: first line is not the event schema v1 header; file skipped"]


def test_an_empty_file_is_only_noted() -> None:
    result = parse_events(b"", "w0-1.csv")
    assert result.table is None and result.skipped == [] and "empty file" in result.notes[0]


def test_run_folder_with_two_workers_applies_each_clock_offset(tmp_path: Path) -> None:
    run = write_run(
        tmp_path / "r",
        {"w0-100.csv": text(*message("w0-p1/0", 1000)), "w1-200.csv": text(*message("w1-p1/0", 1500))},
        manifest(clock_offsets_ns={"w1": 500}),
    )
    loaded = load_run(run)
    assert loaded.problems == [] and not loaded.data_skipped
    assert loaded.describe() == "read 8 events from 2 files"
    events = loaded.events
    w1 = events[events["uid"] == "w1-p1/0"]
    assert list(w1["t_ns"]) == [1000, 1001, 1002, 1003]
    assert list(w1["intended_ns"].dropna()) == [1000]
    assert loaded.log.column("intended_ns")[1] == MISSING


def test_corrupt_rows_mark_the_run_as_skipped_data(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", {"w0-1.csv": CLEAN + "x,y\n"}, manifest())
    loaded = load_run(run)
    assert loaded.data_skipped
    assert loaded.problems == ["w0-1.csv: skipped 1 corrupt rows of 9"]


def test_missing_run_json_is_noted(tmp_path: Path) -> None:
    loaded = load_run(write_run(tmp_path / "r", {"w0-1.csv": CLEAN}))
    assert loaded.manifest == {}
    assert loaded.problems[0].startswith("run.json: missing")
    assert not loaded.data_skipped and loaded.run_json == "missing"


@pytest.mark.parametrize(
    ("setup", "message_part"),
    [
        ("missing", "no such run folder"),
        ("file", "not a folder"),
        ("empty", r"no events files in events/ \(run.json missing too\); nothing to analyse"),
        ("run.json only", r"no events files in events/ \(read run.json only\)"),
        ("events is a file", "events is a file, not the folder of events files"),
        ("newer", "newer than this streamharness reads"),
        ("invalid", r"event schema version 'x' in run.json is invalid \(a whole number from 1\)"),
    ],
)
def test_unusable_folders_raise_one_clear_error(tmp_path: Path, setup: str, message_part: str) -> None:
    path = tmp_path / "r"
    if setup == "file":
        path.write_text("x")
    elif setup == "empty":
        path.mkdir()
    elif setup == "run.json only":
        path.mkdir()
        (path / "run.json").write_text(json.dumps(manifest()))
    elif setup == "events is a file":
        path.mkdir()
        (path / "events").write_text("")
    elif setup == "newer":
        write_run(path, {"w0-1.csv": CLEAN}, manifest(schema_version=99))
    elif setup == "invalid":
        write_run(path, {"w0-1.csv": CLEAN}, manifest(schema_version="x"))
    with pytest.raises(RunLoadError, match=message_part):
        load_run(path)


def test_codes_share_one_dictionary_across_files(tmp_path: Path) -> None:
    files = {f"w{i}-1.csv": text(*message(f"w{i}-p1/0", 10 * i + 10, consumer="w0-c1")) for i in range(3)}
    loaded = load_run(write_run(tmp_path / "r", files, manifest()))
    uids = loaded.log.column("uid")
    assert len(loaded.log.uids) == 3 and set(np.unique(uids)) == {0, 1, 2}
    assert sorted(loaded.log.uid_text(np.arange(3))) == ["w0-p1/0", "w1-p1/0", "w2-p1/0"]
    assert loaded.log.actors.count("w0-c1") == 1


def test_times_far_from_run_json_are_skipped_and_counted_by_file(tmp_path: Path) -> None:
    start = 1_765_000_000 * S
    rows = [
        *message("w0-p1/0", start),
        *message("w0-p1/1", start + S),
        f"{start + 400 * 24 * 3600 * S},error,w0-c1,,,,,,x",
    ]
    files = {"w0-1.csv": text(*rows), "w1-1.csv": text(*message("w1-p1/0", start), "-5,error,w1-c1,,,,,,x")}
    loaded = load_run(write_run(tmp_path / "r", files, manifest(started_ns=start, stopped_ns=start + 2 * S)))
    assert len(loaded.log) == 12 and loaded.data_skipped
    assert loaded.unusable_rows == {"w0-1.csv": 1, "w1-1.csv": 1}
    assert "w0-1.csv: skipped 1 rows of 9 with a time far from the run (run.json's start and stop times)" in (
        loaded.problems
    )


def test_parse_events_without_bounds_takes_every_time_as_is() -> None:
    result = parse_events(text("-5,error,w0-c1,,,,,,x", *message("w0-p1/0", 10)).encode(), "w0-1.csv")
    assert result.table is not None and result.table.num_rows == 5 and result.unusable == 0


def test_unusable_lines_name_each_file_and_say_nothing_for_a_clean_run() -> None:
    summary = {"input": {"unusable_rows": 1002, "unusable_by_file": {"w0-1.csv": 1000, "w1-1.csv": 2}}}
    assert unusable_lines(summary) == ["rows unusable: 1,002 (w0-1.csv: 1,000, w1-1.csv: 2)"]
    assert unusable_lines({"input": {"unusable_rows": 0, "unusable_by_file": {}}}) == []


def test_a_clock_offset_no_clock_could_have_is_noted_not_applied(tmp_path: Path) -> None:
    offsets = {"w0": 10**30, "w1": float("nan"), "w2": 7}
    files = {f"w{i}-1.csv": text(*message(f"w{i}-p1/0", 1000)) for i in range(3)}
    loaded = load_run(write_run(tmp_path / "r", files, manifest(clock_offsets_ns=offsets)))
    assert len(loaded.log) == 12
    assert loaded.problems == [
        f"run.json: clock offset of worker w0 is {10**30!r} ns, not a clock's; not applied",
        "run.json: clock offset of worker w1 is nan ns, not a clock's; not applied",
    ]
    events = loaded.events
    assert list(events[events["uid"] == "w2-p1/0"]["t_ns"]) == [993, 994, 995, 996]
