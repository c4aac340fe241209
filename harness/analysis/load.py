"""Read a run folder into one DataFrame of events, saying exactly what could not be read.

I/O lives here and nowhere else in the analysis. Each events file is cut at its last newline
(a crash can leave a torn last line), parsed with pyarrow, and concatenated; rows that do not
parse are skipped and counted, never silently dropped.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from harness.errors import HarnessError
from harness.events.schema import COLUMNS, EVENTS_DIR, RUN_JSON, SCHEMA_VERSION

INT_COLUMNS = ("t_ns", "intended_ns", "redelivery", "size")
STR_COLUMNS = ("kind", "actor", "uid", "msg_id", "detail")


class RunLoadError(HarnessError):
    """The run folder cannot be analysed at all."""


@dataclass
class LoadedRun:
    """A run's manifest and events, with a list of what was skipped and why."""

    path: Path
    manifest: dict[str, Any]
    events: pd.DataFrame
    problems: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def load_run(path: Path) -> LoadedRun:
    """Load ``run.json`` and every ``events/*.csv`` of a run folder."""
    if not path.is_dir():
        raise RunLoadError(f"{path}: no such run folder")
    problems: list[str] = []
    manifest = _read_manifest(path / RUN_JSON, problems)
    version = manifest.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise RunLoadError(
            f"{path}: event schema version {version!r} is newer than this streamharness reads ({SCHEMA_VERSION})"
        )
    files = sorted((path / EVENTS_DIR).glob("*.csv"))
    tables = [table for file in files if (table := read_events_file(file, problems)) is not None]
    table = pa.concat_tables(tables) if tables else _empty_table()
    return LoadedRun(path, manifest, _to_frame(table), problems, files)


def _read_manifest(path: Path, problems: list[str]) -> dict[str, Any]:
    if not path.exists():
        problems.append(f"{path.name}: missing")
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(f"{path.name}: unreadable ({exc})")
        return {}
    if not isinstance(loaded, dict):
        problems.append(f"{path.name}: not a JSON object")
        return {}
    return loaded


def read_events_file(path: Path, problems: list[str]) -> pa.Table | None:
    """Parse one events file; appends to ``problems`` for a torn tail, bad rows or a bad header."""
    data = path.read_bytes()
    if not data:
        problems.append(f"{path.name}: empty file")
        return None
    cut = data.rfind(b"\n") + 1
    if cut < len(data):
        problems.append(f"{path.name}: dropped a torn last line ({len(data) - cut} bytes)")
        data = data[:cut]
    header, _, body = data.partition(b"\n")
    if header.decode("utf-8", errors="replace").strip().split(",") != list(COLUMNS):
        problems.append(f"{path.name}: header is not event schema v{SCHEMA_VERSION}; file skipped")
        return None
    if not body:
        return None
    bad_rows: list[int] = []

    def skip(row: Any) -> str:
        bad_rows.append(1)
        return "skip"

    read = pacsv.ReadOptions(column_names=list(COLUMNS))
    parse = pacsv.ParseOptions(invalid_row_handler=skip)
    try:
        table = pacsv.read_csv(io.BytesIO(body), read_options=read, parse_options=parse, convert_options=_typed())
    except pa.ArrowInvalid:
        bad_rows.clear()  # the lenient pass sees the short rows again
        table = _read_leniently(body, read, parse, bad_rows)
    if bad_rows:
        problems.append(f"{path.name}: skipped {len(bad_rows)} corrupt rows")
    return table


def _typed() -> pacsv.ConvertOptions:
    types: dict[str, pa.DataType] = {c: pa.int64() for c in INT_COLUMNS}
    types.update({c: pa.string() for c in STR_COLUMNS})
    return pacsv.ConvertOptions(column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False)


def _read_leniently(body: bytes, read: pacsv.ReadOptions, parse: pacsv.ParseOptions, bad_rows: list[int]) -> pa.Table:
    """Read every cell as text, then keep only rows whose numbers and kind parse."""
    as_text = pacsv.ConvertOptions(
        column_types={c: pa.string() for c in COLUMNS}, strings_can_be_null=False, quoted_strings_can_be_null=False
    )
    table = pacsv.read_csv(io.BytesIO(body), read_options=read, parse_options=parse, convert_options=as_text)
    frame = table.to_pandas()
    keep = pd.Series(True, index=frame.index)
    for column in INT_COLUMNS:
        text = frame[column].astype(str)
        numbers = pd.to_numeric(text.where(text != "", None), errors="coerce")
        keep &= ~(numbers.isna() & (text != ""))
        frame[column] = numbers.astype("Int64")
    keep &= frame["t_ns"].notna() & frame["kind"].astype(str).str.fullmatch(r"[a-z_]+")
    bad_rows.extend([1] * int((~keep).sum()))
    kept = frame[keep]
    arrays = [
        pa.array(kept[c].astype("Int64"), type=pa.int64()) if c in INT_COLUMNS else pa.array(kept[c].astype(str))
        for c in COLUMNS
    ]
    return pa.table(arrays, names=list(COLUMNS))


def _empty_table() -> pa.Table:
    return pa.table({c: pa.array([], type=pa.int64() if c in INT_COLUMNS else pa.string()) for c in COLUMNS})


def _to_frame(table: pa.Table) -> pd.DataFrame:
    table = table.set_column(table.column_names.index("t_ns"), "t_ns", pc.fill_null(table.column("t_ns"), 0))
    frame: pd.DataFrame = table.to_pandas()
    for column in ("intended_ns", "redelivery", "size"):
        frame[column] = frame[column].astype("Int64")
    return frame
