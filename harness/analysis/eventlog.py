"""The event log as integer codes: one DataFrame of numbers plus the tables that turn codes into text.

Millions of message uids as Python strings would cost seconds and gigabytes, so every text column
is dictionary-encoded once, right after parsing, and the analysis works on integer codes only.
Text comes back for the few things a person reads (example uids, consumer names).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harness.events import schema

#: A missing time or number in an integer column (``intended_ns`` off a send row, say).
MISSING: Final = np.iinfo(np.int64).min
#: A missing text value (no uid, no msg_id) in a code column.
NO_CODE: Final = -1

KIND_CODES: Final = {kind: code for code, kind in enumerate(schema.KINDS)}
SEND: Final = KIND_CODES[schema.SEND]
PUBLISH_OK: Final = KIND_CODES[schema.PUBLISH_OK]
PUBLISH_ERR: Final = KIND_CODES[schema.PUBLISH_ERR]
DELIVER: Final = KIND_CODES[schema.DELIVER]
ACK: Final = KIND_CODES[schema.ACK]
NACK: Final = KIND_CODES[schema.NACK]
CONNECT: Final = KIND_CODES[schema.CONNECT]
DISCONNECT: Final = KIND_CODES[schema.DISCONNECT]

INT_COLUMNS: Final = ("t_ns", "intended_ns", "redelivery", "size")

Ints = npt.NDArray[np.int64]
Codes = npt.NDArray[np.int32]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class EventLog:
    """Events in file order. ``frame`` columns are all integers:

    ``t_ns`` (clock-corrected), ``kind`` (index into :data:`schema.KINDS`), ``actor``, ``uid``
    and ``detail`` (codes into the tables below, :data:`NO_CODE` when empty), ``intended_ns``,
    ``redelivery`` and ``size`` (:data:`MISSING` when empty). Endpoint message ids stay text in
    ``msg_ids`` (one per row, null when empty): only the few messages delivered more than once
    need them, so they are encoded on demand, for those rows alone.
    """

    frame: pd.DataFrame
    actors: tuple[str, ...]
    uids: pa.Array
    msg_ids: pa.ChunkedArray
    details: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.frame)

    def column(self, name: str) -> Ints:
        values: Ints = self.frame[name].to_numpy()
        return values

    def uid_text(self, codes: npt.ArrayLike) -> list[str]:
        """The uids of ``codes``, in order; an empty string for :data:`NO_CODE`."""
        return _lookup(self.uids, codes)

    def msg_id_text(self, rows: npt.ArrayLike) -> list[str]:
        """The endpoint message ids of the given rows; an empty string where a row has none."""
        taken = self.msg_ids.take(pa.array(np.asarray(rows, dtype=np.int64))).to_pylist()
        return [text or "" for text in taken]

    def msg_id_codes(self, rows: Ints) -> Codes:
        """Codes of the given rows' message ids, equal exactly where the ids are (valid for these rows only)."""
        if not len(rows):
            return np.zeros(0, dtype=np.int32)
        return _indices(pc.dictionary_encode(self.msg_ids.take(pa.array(rows))).combine_chunks())

    def readable(self) -> pd.DataFrame:
        """The events as text again, for a person debugging a run (small logs only)."""
        frame = self.frame.copy()
        for name in INT_COLUMNS:
            values = frame[name].to_numpy()
            frame[name] = pd.arrays.IntegerArray(values, values == MISSING)
        frame["kind"] = [schema.KINDS[k] for k in frame["kind"]]
        frame["actor"] = [self.actors[a] if a >= 0 else "" for a in frame["actor"]]
        frame["uid"] = self.uid_text(frame["uid"].to_numpy())
        frame.insert(4, "msg_id", self.msg_id_text(np.arange(len(frame))))
        frame["detail"] = [self.details[d] if d >= 0 else "" for d in frame["detail"]]
        return frame


def _lookup(labels: pa.Array, codes: npt.ArrayLike) -> list[str]:
    array = np.asarray(codes, dtype=np.int64)
    if not len(array) or not len(labels):
        return [""] * len(array)
    texts = labels.take(pa.array(np.where(array >= 0, array, 0))).to_pylist()
    return [str(text) if code >= 0 and text is not None else "" for code, text in zip(array, texts, strict=True)]


def empty_table() -> pa.Table:
    """A table of zero events with the parsed column types."""
    return pa.table({c: pa.array([], type=pa.int64() if c in INT_COLUMNS else pa.string()) for c in schema.COLUMNS})


def encode(table: pa.Table) -> EventLog:
    """Turn a parsed table (int64 and string columns, empty text as null) into an :class:`EventLog`.

    Rows must already have a ``t_ns`` and a known ``kind`` (see :func:`invalid_rows`). The uid
    column, the one large text column encoded, is encoded on a second thread (pyarrow releases the GIL).
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        uid_job = pool.submit(_encode_text, table.column("uid"))
        kind_codes = kind_code_array(table.column("kind"))
        actor_codes, actors = _encode_text(table.column("actor"))
        detail_codes, details = _encode_text(table.column("detail"))
        t_ns = int_values(table.column("t_ns"))
        uid_codes, uids = uid_job.result()
    frame = pd.DataFrame(
        {
            "t_ns": t_ns,
            "kind": kind_codes,
            "actor": actor_codes,
            "uid": uid_codes,
            "intended_ns": int_values(table.column("intended_ns")),
            "redelivery": int_values(table.column("redelivery")),
            "size": int_values(table.column("size")),
            "detail": detail_codes,
        },
        copy=False,
    )
    return EventLog(
        frame=frame,
        actors=tuple(str(a) for a in actors.to_pylist()),
        uids=uids,
        msg_ids=table.column("msg_id"),
        details=tuple(str(d) for d in details.to_pylist()),
    )


def kind_code_array(column: pa.ChunkedArray) -> npt.NDArray[np.int8]:
    """Kind codes (index into :data:`schema.KINDS`); -1 for a null or unknown kind."""
    if len(column) == 0:
        return np.zeros(0, dtype=np.int8)
    encoded = pc.dictionary_encode(column)
    dictionary = encoded.chunks[-1].dictionary.to_pylist()
    lut = np.array([KIND_CODES.get(k, -1) for k in dictionary] + [-1], dtype=np.int8)
    codes: npt.NDArray[np.int8] = lut[np.concatenate([_indices(c) for c in encoded.chunks])]
    return codes


def invalid_rows(table: pa.Table) -> Bools:
    """Rows that cannot be used: no time, no kind this schema knows, or no actor (every row the writer
    writes names one: a delivery to nobody would count as a consumer's)."""
    kinds = table.column("kind")
    known = pc.all(pc.is_in(pc.unique(kinds), value_set=pa.array(schema.KINDS))).as_py() is not False
    bad: Bools = np.zeros(len(kinds), dtype=bool) if known and not kinds.null_count else kind_code_array(kinds) < 0
    if table.column("t_ns").null_count:
        bad |= int_values(table.column("t_ns")) == MISSING
    if table.column("actor").null_count:
        bad |= np.asarray(pc.is_null(table.column("actor")))
    return bad


def _indices(array: pa.DictionaryArray) -> Codes:
    indices = array.indices if not array.null_count else pc.fill_null(array.indices, NO_CODE)
    codes: Codes = indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    return codes


def _encode_text(column: pa.ChunkedArray) -> tuple[Codes, pa.Array]:
    """Integer codes and the dictionary of one text column; every chunk shares the final dictionary."""
    if len(column) == 0:
        return np.zeros(0, dtype=np.int32), pa.array([], type=pa.string())
    encoded = pc.dictionary_encode(column)
    chunks = [chunk for chunk in encoded.chunks if len(chunk)]
    if chunks[-1].indices.type != pa.int32():
        raise TypeError("dictionary indices must be int32")
    return np.concatenate([_indices(chunk) for chunk in chunks]), chunks[-1].dictionary


def int_values(column: pa.ChunkedArray) -> Ints:
    """An int64 column as numpy, :data:`MISSING` where empty."""
    filled = pc.fill_null(column, MISSING) if column.null_count else column
    values: Ints = filled.to_numpy().astype(np.int64, copy=False)
    return values
