"""Read a run folder into an :class:`EventLog`, saying exactly what could not be read.

I/O lives here and nowhere else in the analysis. Each events file is cut at its last newline (a
crash can leave a torn last line), parsed with pyarrow, shifted by its worker's clock offset from
``run.json``, and concatenated; rows that do not parse (a bad number, a wrong column count, an
unclosed quote, a NUL byte: see :mod:`harness.analysis.lines`) or whose time is absurd for the run
(see :mod:`harness.analysis.plausible`) are skipped and counted per file, never silently dropped,
and never take the rest of the file with them. A torn last line is expected after a crash and
only noted; any other skipped row or file makes the verdict inconclusive, because the missing rows
could hide a delivery. So does a missing or unreadable ``run.json``: without it the clock offsets
and the ack timeout are unknown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from harness.analysis.eventlog import INT_COLUMNS, MISSING, EventLog, empty_table, encode, int_values, invalid_rows
from harness.analysis.lines import drop_broken_lines
from harness.analysis.plausible import TimeBounds, implausible, run_bounds
from harness.errors import HarnessError, one_line
from harness.events.schema import COLUMNS, EVENTS_DIR, RUN_JSON, SCHEMA_VERSION
from harness.userfiles import read_small_text

#: Bytes per parse block: big enough for throughput, small enough for both cores to share the work.
BLOCK_BYTES = 16 << 20
_SHORT_INT = r"^-?[0-9]{1,18}$"
_LONG_INT = r"^[0-9]{19}$"
_INT64_MAX_TEXT = str(2**63 - 1)


class RunLoadError(HarnessError):
    """The run folder cannot be analysed at all."""


@dataclass
class LoadedRun:
    """A run's manifest and events, with what was skipped and why."""

    path: Path
    manifest: dict[str, Any]
    log: EventLog
    problems: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    #: True when rows or files were skipped (not just a torn last line): the verdict cannot pass.
    data_skipped: bool = False
    #: ``read``, or why run.json could not be used: ``missing``, ``unreadable``, ``not a JSON object``.
    run_json: str = "read"
    #: Rows that could not be used, per events file that had any (file name -> count).
    unusable_rows: dict[str, int] = field(default_factory=dict)

    @property
    def events(self) -> pd.DataFrame:
        """The events as text, one row per event (convenient for small runs and tests)."""
        return self.log.readable()

    def describe(self) -> str:
        """One line: what was read."""
        return f"read {len(self.log):,} events from {len(self.files)} file{'s' if len(self.files) != 1 else ''}"


@dataclass
class _FileResult:
    table: pa.Table | None
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    #: Rows (lines after the header) that could not be used: corrupt, or with a time far from the run.
    unusable: int = 0


def load_run(path: Path) -> LoadedRun:
    """Load ``run.json`` and every ``events/*.csv`` of a run folder."""
    if not path.exists():
        raise RunLoadError(f"{path}: no such run folder")
    if not path.is_dir():
        raise RunLoadError(f"{path}: not a folder (expected a run folder with run.json and events/)")
    problems: list[str] = []
    manifest, run_json = _read_manifest(path / RUN_JSON, problems)
    version = manifest.get("schema_version", SCHEMA_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RunLoadError(
            f"{path}: event schema version {version!r} in {RUN_JSON} is invalid (a whole number from 1); "
            "nothing was read"
        )
    if version > SCHEMA_VERSION:
        raise RunLoadError(
            f"{path}: event schema version {version!r} is newer than this streamharness reads ({SCHEMA_VERSION}); "
            "nothing was read"
        )
    offsets = clock_offsets(manifest, problems)
    events = path / EVENTS_DIR
    if events.exists() and not events.is_dir():
        raise RunLoadError(f"{path}: {EVENTS_DIR} is a file, not the folder of events files; nothing to analyse")
    files = sorted(events.glob("*.csv"))
    if not files:
        read = f"read {RUN_JSON} only" if run_json == "read" else f"{RUN_JSON} {run_json} too"
        raise RunLoadError(f"{path}: no events files in {EVENTS_DIR}/ ({read}); nothing to analyse")
    tables: list[pa.Table] = []
    skipped = False
    unusable: dict[str, int] = {}
    bounds = run_bounds(manifest)
    for file in files:
        result = read_events_file(file, offsets.get(worker_tag(file), 0), bounds)
        problems += result.notes + result.skipped
        skipped = skipped or bool(result.skipped)
        if result.unusable:
            unusable[file.name] = result.unusable
        if result.table is not None and result.table.num_rows:
            tables.append(result.table)
    table = pa.concat_tables(tables) if tables else empty_table()
    return LoadedRun(path, manifest, encode(table), problems, files, skipped, run_json, unusable)


def unusable_lines(summary: dict[str, Any]) -> list[str]:
    """``rows unusable: N (file: count, ...)`` for the console and the report; none when every row was used."""
    inp = summary.get("input") or {}
    total, by_file = inp.get("unusable_rows") or 0, inp.get("unusable_by_file") or {}
    if not total:
        return []
    return [f"rows unusable: {total:,} ({', '.join(f'{name}: {count:,}' for name, count in by_file.items())})"]


def worker_tag(path: Path) -> str:
    """``events/w1-4242.csv`` -> ``w1``: everything before the first ``-``."""
    return path.stem.split("-", 1)[0]


#: A clock offset beyond this (a day) is no clock's: it is ignored (0) and noted, never applied.
MAX_CLOCK_OFFSET_NS = 24 * 3600 * 1_000_000_000


def clock_offsets(manifest: dict[str, Any], problems: list[str] | None = None) -> dict[str, int]:
    """Per-worker clock offsets (worker clock minus master clock, ns); missing means 0.

    One that is not a finite number within :data:`MAX_CLOCK_OFFSET_NS` would move every row of its
    worker out of int64 or out of the run: it is left out, and noted in ``problems``.
    """
    raw = manifest.get("clock_offsets_ns") or {}
    if not isinstance(raw, dict):
        return {}
    offsets: dict[str, int] = {}
    for tag, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if abs(value) <= MAX_CLOCK_OFFSET_NS:  # False for NaN and inf; never math.isfinite on a 400-digit int
            offsets[str(tag)] = int(value)
        elif problems is not None:
            problems.append(f"{RUN_JSON}: clock offset of worker {tag} is {value!r} ns, not a clock's; not applied")
    return offsets


def _read_manifest(path: Path, problems: list[str]) -> tuple[dict[str, Any], str]:
    """The manifest (empty when unusable) and ``read`` or what was wrong with it."""
    if not path.exists():
        problems.append(f"{path.name}: missing; no settings, clock offsets or drain record (run treated as incomplete)")
        return {}, "missing"
    try:  # read_small_text: a FIFO or /dev/zero is refused before any read waits or fills the memory
        loaded = json.loads(read_small_text(path))
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: arrays nested thousands deep
        problems.append(f"{path.name}: unreadable ({one_line(exc)}); run treated as incomplete")
        return {}, "unreadable"
    if not isinstance(loaded, dict):
        problems.append(f"{path.name}: not a JSON object; run treated as incomplete")
        return {}, "not a JSON object"
    return loaded, "read"


def read_events_file(path: Path, offset_ns: int = 0, bounds: TimeBounds | None = None) -> _FileResult:
    """Read one events file; a file that cannot be read at all is reported, not raised."""
    if not path.is_file():  # a folder, a FIFO (the read would block forever), /dev/zero (it would never end)
        return _FileResult(None, skipped=[f"{path.name}: not a regular file; file skipped"])
    try:
        data = path.read_bytes()
    except OSError as exc:
        return _FileResult(None, skipped=[f"{path.name}: unreadable ({exc.strerror or exc}); file skipped"])
    return parse_events(data, path.name, offset_ns, bounds)


def parse_events(
    data: bytes, name: str = "events", offset_ns: int = 0, bounds: TimeBounds | None = None
) -> _FileResult:
    """Parse the bytes of one events file (header line first) into a table of usable rows.

    pyarrow parses the whole file first; when its rows do not account for every line (an
    unbalanced quote swallows the lines after it into one field) or a line holds a NUL byte or
    bytes that are not UTF-8, the lines that cannot be one record are dropped and the rest parsed
    again. With ``bounds`` (a real run's files), rows whose times are not believable for the run
    are skipped too (see :mod:`harness.analysis.plausible`); without, every time is taken as is.
    """
    if not data:
        return _FileResult(None, notes=[f"{name}: empty file (a process that recorded nothing)"])
    result = _FileResult(None)
    cut = data.rfind(b"\n") + 1
    if cut < len(data):
        result.notes.append(f"{name}: dropped a torn last line ({len(data) - cut} bytes)")
    header_end = data.find(b"\n")
    header = data[: max(header_end, 0)].decode("utf-8", errors="replace").strip()
    if header_end < 0 or header.split(",") != list(COLUMNS):
        result.skipped.append(f"{name}: first line is not the event schema v{SCHEMA_VERSION} header; file skipped")
        return result
    body = pa.py_buffer(data).slice(header_end + 1, cut - header_end - 1)
    if body.size == 0:
        return result
    parsed = None if data.find(b"\0", header_end + 1, cut) >= 0 else _parse_or_none(body)
    # Only a quote can make pyarrow read several lines as one row: without one, no line to count.
    quoted = data.find(b'"', header_end + 1, cut) >= 0
    lines = data.count(b"\n", header_end + 1, cut) if quoted or parsed is None else 0
    if parsed is None or (quoted and parsed[0].num_rows + parsed[1] != lines):
        parsed = None  # the short parse's table goes before the repaired one is read
        repaired = drop_broken_lines(body)
        try:
            table, bad = _parse(repaired.body)
        except pa.ArrowInvalid as exc:  # not expected once the broken lines are out; the file alone is lost
            result.skipped.append(f"{name}: cannot be parsed as CSV ({_first_line(exc)}); file skipped")
            result.unusable = lines
            return result
        # Every record is a row, a row pyarrow skipped or a dropped line; any other is lost, so counted.
        bad += repaired.dropped + max(0, repaired.records - repaired.dropped - table.num_rows - bad)
    else:
        table, bad = parsed
    invalid = invalid_rows(table)
    if invalid.any():
        table = table.filter(pa.array(~invalid))
    bad += int(invalid.sum())
    if bad:
        result.skipped.append(f"{name}: skipped {bad:,} corrupt rows of {table.num_rows + bad:,}")
    if offset_ns:
        table = _shift(table, offset_ns)
    result.unusable = bad
    if bounds is not None and table.num_rows:
        table = _drop_implausible(table, name, bounds, result)
    result.table = table
    return result


def _drop_implausible(table: pa.Table, name: str, bounds: TimeBounds, result: _FileResult) -> pa.Table:
    """Skip the rows whose times are not believable for the run, saying how many and by what measure."""
    t_ns = int_values(table.column("t_ns"))
    bad, replaced = implausible(t_ns, bounds)
    intended = int_values(table.column("intended_ns"))  # a time too: at or before 0 it is no send's
    bad |= (intended != MISSING) & (intended <= 0)
    if replaced:
        result.notes.append(f"{name}: most times fall outside run.json's start and stop; judged by the file's median")
    count = int(bad.sum())
    if not count:
        return table
    measure = "the file's median time" if replaced else bounds.describe()
    result.skipped.append(f"{name}: skipped {count:,} rows of {len(t_ns):,} with a time far from the run ({measure})")
    result.unusable += count
    return table.filter(pa.array(~bad))


def _parse_or_none(body: pa.Buffer) -> tuple[pa.Table, int] | None:
    """:func:`_parse`, or None when the bytes are not what pyarrow can read as text (not UTF-8)."""
    try:
        return _parse(body)
    except pa.ArrowInvalid:
        return None


def _parse(body: pa.Buffer) -> tuple[pa.Table, int]:
    """The rows pyarrow reads, typed, and how many it skipped for a wrong column count or a bad number."""
    bad_rows = [0]

    def skip(row: Any) -> str:
        bad_rows[0] += 1
        return "skip"

    read = pacsv.ReadOptions(column_names=list(COLUMNS), block_size=BLOCK_BYTES)
    parse = pacsv.ParseOptions(invalid_row_handler=skip, newlines_in_values=False)
    try:
        table = pacsv.read_csv(pa.BufferReader(body), read_options=read, parse_options=parse, convert_options=_typed())
    except pa.ArrowInvalid:
        bad_rows[0] = 0  # the lenient pass sees the short rows again
        table = _read_leniently(body, read, parse, bad_rows)
    return table, bad_rows[0]


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _typed() -> pacsv.ConvertOptions:
    types: dict[str, pa.DataType] = {c: pa.int64() if c in INT_COLUMNS else pa.string() for c in COLUMNS}
    return pacsv.ConvertOptions(column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=True)


def _read_leniently(body: pa.Buffer, read: pacsv.ReadOptions, parse: pacsv.ParseOptions, bad: list[int]) -> pa.Table:
    """Read every cell as text, then keep only the rows whose numbers parse as int64."""
    as_text = pacsv.ConvertOptions(
        column_types={c: pa.string() for c in COLUMNS}, strings_can_be_null=True, quoted_strings_can_be_null=True
    )
    table = pacsv.read_csv(pa.BufferReader(body), read_options=read, parse_options=parse, convert_options=as_text)
    keep = pa.array([True] * table.num_rows, type=pa.bool_())
    for column in INT_COLUMNS:
        cells = table.column(column)
        keep = pc.and_(keep, pc.or_(pc.is_null(cells), pc.fill_null(_fits_int64(cells), False)))
    kept = table.filter(keep)
    bad[0] += table.num_rows - kept.num_rows
    columns = [kept.column(c).cast(pa.int64()) if c in INT_COLUMNS else kept.column(c) for c in COLUMNS]
    return pa.table(columns, names=list(COLUMNS))


def _fits_int64(cells: pa.ChunkedArray) -> pa.ChunkedArray:
    """Cells that are a whole number int64 holds: up to 18 digits, or 19 no greater than its maximum.

    A value past int64 is one bad cell, not a reason to give up on the file. Negative numbers of
    19 digits are refused too: none is a time or a count, and the smallest is the missing marker.
    """
    short = pc.match_substring_regex(cells, _SHORT_INT)
    long = pc.and_(pc.match_substring_regex(cells, _LONG_INT), pc.less_equal(cells, _INT64_MAX_TEXT))
    return pc.or_(short, long)


def _shift(table: pa.Table, offset_ns: int) -> pa.Table:
    """Move a worker's times onto the master's clock: subtract its offset."""
    for column in ("t_ns", "intended_ns"):
        index = table.column_names.index(column)
        table = table.set_column(index, column, pc.subtract(table.column(column), pa.scalar(offset_ns, pa.int64())))
    return table
