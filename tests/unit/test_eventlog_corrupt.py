"""One corrupt row in a real-sized log: skipped and counted, every other row kept, in bounded time and memory.

Each log is 4,002 clean messages (16,008 rows) with one corrupt row in the middle. The analyses
run in one child process capped at 2 GB of address space and 60 s, so a reader that allocates by
a value's size or hangs fails the test instead of eating the machine.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from harness.analysis.lines import drop_broken_lines
from harness.analysis.load import load_run
from harness.analysis.plausible import MARGIN_NS, TimeBounds, implausible, run_bounds
from harness.analysis.summary import Options, summarize
from harness.analysis.windows import MAX_WINDOWS, fitting_window, window_count
from harness.report.console import render_summary
from harness.report.html import render_html
from tests.checker_logs import HEADER, S, manifest, message, write_run

T0 = 1_765_000_000 * S  # a real wall-clock time, December 2025
MESSAGES = 4002
ROWS = 4 * MESSAGES
FILE = "w0-1.csv"
ADDRESS_SPACE = 2 << 30
CEILING_S = 60
DAY = 24 * 3600 * S

#: Case name -> the corrupt row put in the middle of the log.
CORRUPT = {
    "negative time": "-5,error,w0-c1,,,,,,x",
    "zero time": "0,error,w0-c1,,,,,,x",
    "time in the year 2200": f"{7_258_118_400 * S},error,w0-c1,,,,,,x",
    "time past int64": "99999999999999999999,error,w0-c1,,,,,,x",
    "size past int64": f"{T0},send,w0-p9,w0-p9/0,,{T0},,99999999999999999999,",
    "unbalanced quote in detail": f'{T0},error,w0-c1,,,,,,"oops, no closing quote',
    "quote that closes as a doubled quote": f'{T0},error,w0-c1,,,,,,"oops""',
    "one column too many": f"{T0},deliver,w0-c1,w0-p1/0,m,,0,10,,extra",
    "one column too few": f"{T0},deliver,w0-c1,w0-p1/0,m,,0,10",
    "abc in t_ns": "abc,error,w0-c1,,,,,,x",
    "NUL byte in detail": f"{T0},error,w0-c1,,,,,,x\0y",
    "NUL byte in t_ns": f"{T0}"[:5] + "\0" + f"{T0}"[5:] + ",error,w0-c1,,,,,,x",
    "bytes that are not UTF-8": f"{T0},error,w0-c1,,,,,,x\udcffy",
    "unknown kind": f"{T0},teleport,w0-c1,,,,,,",
}

CHILD = """
import json, resource, sys, time
from pathlib import Path
from harness.analysis.load import load_run
from harness.analysis.summary import Options, summarize
results = {}
for arg in sys.argv[1:]:
    folder, window_s = arg.rsplit("=", 1)
    try:
        summary = summarize(load_run(Path(folder)), Options(window_s=float(window_s)))
    except BaseException as exc:
        results[Path(folder).name] = {"error": f"{type(exc).__name__}: {exc}"}
        continue
    results[Path(folder).name] = {
        "input": summary["input"],
        "verdict": summary["verdict"],
        "lost": summary["delivery"]["lost"],
        "window_s": summary["fairness"]["windows"]["window_s"],
        "fairness_windows": len(summary["fairness"]["windows"]["start_s"]),
        "latency_windows": len(summary["latency_ms"]["windows"]["start_s"]),
        "seconds": len(summary["throughput"]["per_second"]["t_s"]),
    }
print(json.dumps(results))
"""


def _rows(start_ns: int = T0) -> list[str]:
    rows: list[str] = []
    for i in range(MESSAGES):
        rows += message(f"w0-p1/{i}", start_ns + i * 1_000_000, consumer=f"w0-c{i % 2 + 1}")
    return rows


def _with(bad: str) -> bytes:
    rows = _rows()
    middle = len(rows) // 2  # a message boundary: 8,004 rows before it
    text = HEADER + "\n" + "\n".join([*rows[:middle], bad, *rows[middle:]]) + "\n"
    return text.encode("utf-8", errors="surrogateescape")


def _run_json(**extra: Any) -> dict[str, Any]:
    return manifest(**{"started_ns": T0 - S, "producing_started_ns": T0, "stopped_ns": T0 + 10 * S, **extra})


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _analyse(folders: dict[Path, float]) -> dict[str, Any]:
    """Summaries of the run folders (with their window), from a child capped in memory and time."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, *(f"{folder}={window}" for folder, window in folders.items())],
        capture_output=True,
        text=True,
        timeout=CEILING_S,
        preexec_fn=_limit_memory,
        env=env,
        cwd=root,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    results: dict[str, Any] = json.loads(child.stdout)
    return results


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("corrupt")
    folders: dict[Path, float] = {}
    for index, bad in enumerate(CORRUPT.values()):
        folders[write_run(base / f"case{index}", {FILE: _with(bad)}, _run_json())] = 10.0
    for index, bad in enumerate(CORRUPT.values()):  # without run.json: judged by each file's median
        folders[write_run(base / f"bare{index}", {FILE: _with(bad)})] = 10.0
    detail = f'{T0},publish_err,w0-p9,w0-p9/0,,,,,"broker said ""no"", twice\nreally"'
    folders[write_run(base / "multiline", {FILE: _with(detail)}, _run_json())] = 10.0
    day = _rows() + list(message("w0-p1/late", T0 + DAY))
    folders[write_run(base / "day", {FILE: HEADER + "\n" + "\n".join(day) + "\n"}, _run_json(stopped_ns=T0 + DAY))] = (
        0.001
    )
    return _analyse(folders)


@pytest.mark.parametrize("prefix", ["case", "bare"])
@pytest.mark.parametrize("index", range(len(CORRUPT)), ids=list(CORRUPT))
def test_one_corrupt_row_is_skipped_and_counted_and_every_other_row_kept(
    analysed: dict[str, Any], prefix: str, index: int
) -> None:
    result = analysed[f"{prefix}{index}"]
    assert "error" not in result, result
    inp = result["input"]
    assert inp["events"] == ROWS
    assert inp["unusable_rows"] == 1
    assert inp["unusable_by_file"] == {FILE: 1}
    assert any(note.startswith(f"{FILE}: skipped 1 ") for note in inp["notes"]), inp["notes"]
    assert inp["data_skipped"]
    assert result["lost"] == 0  # nothing swallowed: every message's rows were read
    assert result["verdict"] == "inconclusive"


def test_a_detail_the_writer_quoted_over_two_lines_is_one_good_row(analysed: dict[str, Any]) -> None:
    inp = analysed["multiline"]["input"]
    assert inp["events"] == ROWS + 1
    assert inp["unusable_rows"] == 0 and inp["unusable_by_file"] == {} and not inp["data_skipped"]


def test_a_millisecond_window_on_a_day_long_run_is_widened_and_says_so(analysed: dict[str, Any]) -> None:
    result = analysed["day"]
    assert "error" not in result, result
    assert result["window_s"] == 5.0  # 86,400 s in at most 20,000 windows: the 1-2-5 step above 4.32 s
    assert result["fairness_windows"] <= MAX_WINDOWS and result["latency_windows"] <= MAX_WINDOWS
    assert result["seconds"] == 24 * 3600 + 1
    assert any(note.startswith("window widened from 0.001 s to 5 s") for note in result["input"]["notes"])
    assert result["verdict"] == "pass"


def test_run_json_bounds_ignore_marks_that_cannot_be_times() -> None:
    assert run_bounds(_run_json()) == TimeBounds(T0 - S - MARGIN_NS, T0 + 10 * S + MARGIN_NS)
    assert run_bounds({"started_ns": -5, "stopped_ns": "soon"}) == TimeBounds()
    assert run_bounds({"started_ns": T0, "stopped_ns": T0 - S}) == TimeBounds()  # a stop before the start
    assert run_bounds({"started_ns": T0, "stopped_ns": 10**30}) == TimeBounds(T0 - MARGIN_NS, None)


def test_a_file_mostly_outside_run_json_is_judged_by_its_own_median() -> None:
    t_ns = np.array([T0 + DAY * 30 + i for i in range(10)] + [5], dtype=np.int64)
    bad, replaced = implausible(t_ns, TimeBounds(T0, T0 + S))
    assert replaced and bad.tolist() == [False] * 10 + [True]


def test_window_steps_fit_the_limit() -> None:
    assert fitting_window(10 * S, S) == S  # a short run keeps its window
    assert fitting_window(DAY, 1_000_000) == 5 * S
    assert fitting_window(S, 10**30) == 1 << 62  # wider than int64 holds: capped, never an overflow
    assert window_count(1 << 64, fitting_window(1 << 64, 1)) <= MAX_WINDOWS


def test_broken_lines_are_dropped_and_the_rest_kept_byte_for_byte() -> None:
    good = b"1,send,w0-p1,a,,1,,10,\n"
    quoted = b'2,error,w0-c1,,,,,,"x\n\ny"\n'
    body = good + b'3,error,w0-c1,,,,,,"open\n' + quoted + b"\n" + b"4,error,\0\n" + b"5,error,\xff\n" + good
    repaired = drop_broken_lines(pa.py_buffer(body))
    assert repaired.body.to_pybytes() == good + quoted + good
    assert repaired.dropped == 3
    assert repaired.records == 6  # the blank line is no record; the quoted one spans three lines


def test_console_and_report_say_how_many_rows_could_not_be_used(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", {FILE: _with(CORRUPT["abc in t_ns"])}, _run_json())
    summary = summarize(load_run(run))
    assert "  rows unusable: 1 (w0-1.csv: 1)" in render_summary(summary).splitlines()
    assert "<td>rows unusable</td><td>1 (w0-1.csv: 1)</td>" in render_html(summary, [], "test")


def test_a_producing_start_in_run_json_far_from_every_row_does_not_stretch_the_span(tmp_path: Path) -> None:
    rows = [*message("w0-p1/0", T0), *message("w0-p1/1", T0 + S)]
    run = write_run(tmp_path / "r", {FILE: HEADER + "\n" + "\n".join(rows) + "\n"}, manifest(producing_started_ns=5))
    summary = summarize(load_run(run), Options(window_s=1.0))
    assert summary["throughput"]["per_second"]["t_s"] == [0, 1]
    assert summary["fairness"]["windows"]["window_s"] == 1.0
