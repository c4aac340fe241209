"""An events file's lines without the ones that cannot be a record, for when pyarrow's parse fell short.

pyarrow reads a quote that opens a field and never closes as one field running to the next quote,
swallowing every row in between; a NUL byte (what a crash can leave in a file's last blocks) or
bytes that are not UTF-8 fail the whole parse. So when its rows do not account for every line, the
loader drops here the lines that cannot be one record and parses the rest again. A field the
writer quoted because it holds a newline spans lines legitimately: a line whose quote stays open
is joined with the lines after it, up to :data:`MAX_RECORD_LINES`, and kept when they make exactly
one record of the schema. Lines are looked at one by one only where they hold a quote, and slices
of them only where they are not all UTF-8, so a large file with few such lines stays fast.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harness.analysis.eventlog import Bools
from harness.events.schema import COLUMNS

#: Lines one record may span (a detail with newlines in it); an open quote longer than this is corrupt.
MAX_RECORD_LINES: Final = 64
#: A line longer than this is no record: the longest field the harness writes is an endpoint's error
#: text, and no frame is over 1 MiB. pyarrow cannot read a row longer than its block at all (it gives
#: up on the whole file), so such a line is dropped as one broken record, not the file with it.
MAX_LINE_BYTES: Final = 2 << 20
#: Lines checked for UTF-8 at a time: only a slice that fails is looked at line by line.
UTF8_SLICE: Final = 1 << 16


@dataclass(frozen=True)
class Repaired:
    """The body with broken lines dropped, how many were dropped, and how many records it should hold."""

    body: pa.Buffer
    dropped: int
    records: int


def drop_broken_lines(body: pa.Buffer) -> Repaired:
    """Drop the lines of ``body`` (whole lines, each ending in a newline) that cannot be one record."""
    lines = _split(body)
    too_long = np.asarray(pc.greater(pc.binary_length(lines), MAX_LINE_BYTES))
    broken = np.asarray(pc.match_substring(lines, "\0")) | too_long
    _mark_not_utf8(lines, broken)
    continued = np.zeros(len(lines), dtype=bool)
    _mark_open_quotes(lines, broken, continued)
    blank = np.asarray(pc.equal(pc.binary_length(lines), 1)) & ~continued & ~broken
    kept = lines.filter(pa.array(~(broken | blank)))
    offsets = np.frombuffer(kept.buffers()[1], dtype=np.int64)[kept.offset : kept.offset + len(kept) + 1]
    start, stop = (int(offsets[0]), int(offsets[-1])) if len(kept) else (0, 0)
    records = len(lines) - int(blank.sum()) - int(continued.sum())
    return Repaired(kept.buffers()[2].slice(start, stop - start), int(broken.sum()), records)


def _split(body: pa.Buffer) -> pa.LargeBinaryArray:
    """One binary value per line (newline included), sharing the body's memory."""
    ends = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == ord("\n")) + 1
    offsets = np.concatenate((np.zeros(1, dtype=np.int64), ends.astype(np.int64)))
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(ends), [None, pa.py_buffer(offsets), body])


def _mark_not_utf8(lines: pa.LargeBinaryArray, broken: Bools) -> None:
    for first in range(0, len(lines), UTF8_SLICE):
        part = lines.slice(first, UTF8_SLICE)
        try:
            part.cast(pa.large_string())
        except pa.ArrowInvalid:
            for i, line in enumerate(part.to_pylist()):
                broken[first + i] |= not _utf8(line)


def _mark_open_quotes(lines: pa.LargeBinaryArray, broken: Bools, continued: Bools) -> None:
    """Mark each line whose quote stays open broken, unless it and the lines after it make one record."""
    resume = 0
    for index in np.flatnonzero(np.asarray(pc.match_substring(lines, '"')) & ~broken).tolist():
        if index < resume:
            continue
        line = lines[index].as_py()
        if not _open_at_end(line, inside=False):
            continue
        parts = [line]
        inside = True
        end = index
        while inside and end + 1 < len(lines) and end - index + 1 < MAX_RECORD_LINES and not broken[end + 1]:
            end += 1
            parts.append(lines[end].as_py())
            inside = _open_at_end(parts[-1], inside=True)
        if not inside and _one_record(b"".join(parts)):
            continued[index + 1 : end + 1] = True
            resume = end + 1
        else:
            broken[index] = True  # the lines after it are looked at on their own


def _open_at_end(line: bytes, inside: bool) -> bool:
    """Whether a quoted field is still open at the end of ``line``, as pyarrow reads quotes.

    A quote opens a field only at the field's start; inside one, ``""`` is a quote and ``"``
    closes it (anything after the closing quote, up to the next comma, is the same field).
    """
    pos = 0
    while True:
        if inside:
            quote = line.find(b'"', pos)
            if quote < 0:
                return True
            if line[quote + 1 : quote + 2] == b'"':
                pos = quote + 2
                continue
            inside = False
            pos = quote + 1
        elif line[pos : pos + 1] == b'"':
            inside = True
            pos += 1
            continue
        comma = line.find(b",", pos)
        if comma < 0:
            return False
        pos = comma + 1


def _utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _one_record(text: bytes) -> bool:
    """Whether ``text`` is exactly one CSV record of the schema's columns, every quote closed."""
    try:
        records = list(csv.reader([text.decode("utf-8", errors="replace").removesuffix("\n")], strict=True))
    except csv.Error:
        return False
    return len(records) == 1 and len(records[0]) == len(COLUMNS)
