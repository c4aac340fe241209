"""Buffered per-process event writer.

``record`` only appends a tuple to a list (about a microsecond); rows reach the sink when
``flush`` is called, which the owner does at least once a second, on stop and at exit. The sink is
a file by default; in distributed runs it can be a channel to the master instead. A flush can go
in chunks with a pause between them, so a busy process never stalls for one long write; a lock
keeps concurrent flushes from reordering rows.
"""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Protocol

from harness.events.schema import COLUMNS

Row = tuple[int, str, str, str, str, int | None, int | None, int | None, str]

#: Rows held in memory before ``record`` flushes by itself, whatever the timer does.
MAX_BUFFERED_ROWS = 20_000


class RowSink(Protocol):
    """Where flushed rows go. Must accept rows in order and never reorder or drop them."""

    def write_rows(self, rows: Sequence[Row]) -> None: ...

    def close(self) -> None: ...


class CsvFileSink:
    """Appends rows to a CSV events file, writing the header when the file is new."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        is_new = not path.exists() or path.stat().st_size == 0
        self.path = path
        self._file: IO[str] = open(path, "a", newline="", encoding="utf-8")  # noqa: SIM115 - owned until close()
        self._csv = csv.writer(self._file, lineterminator="\n")
        if is_new:
            self._csv.writerow(COLUMNS)
            self._file.flush()

    def write_rows(self, rows: Sequence[Row]) -> None:
        if self._file.closed:
            return
        self._csv.writerows(rows)
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class EventWriter:
    """Collects events in memory and hands them to a sink in batches."""

    def __init__(self, sink: RowSink, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.sink = sink
        self._clock_ns = clock_ns
        self._rows: list[Row] = []
        self._lock = threading.Lock()  # a cooperative lock once gevent has patched threading
        self.recorded = 0
        self.closed = False

    def record(
        self,
        kind: str,
        actor: str,
        uid: str = "",
        msg_id: str = "",
        intended_ns: int | None = None,
        redelivery: int | None = None,
        size: int | None = None,
        detail: str = "",
        t_ns: int | None = None,
    ) -> None:
        """Buffer one event; ``t_ns`` defaults to now. Events after ``close`` are ignored."""
        if self.closed:
            return
        self._rows.append(
            (
                self._clock_ns() if t_ns is None else t_ns,
                kind,
                actor,
                uid,
                msg_id,
                intended_ns,
                redelivery,
                size,
                detail,
            )
        )
        self.recorded += 1
        if len(self._rows) >= MAX_BUFFERED_ROWS:
            self.flush()

    @property
    def buffered(self) -> int:
        return len(self._rows)

    def flush(self, chunk_rows: int = 0, pause: Callable[[], None] | None = None) -> None:
        """Hand every row buffered now to the sink, in order; ``chunk_rows`` at a time with ``pause`` between."""
        if not self._rows:
            return
        with self._lock:
            rows, self._rows = self._rows, []  # rows recorded during a pause wait for the next flush
            step = chunk_rows if chunk_rows > 0 else len(rows)
            for start in range(0, len(rows), step):
                if start and pause is not None:
                    pause()
                self.sink.write_rows(rows[start : start + step])

    def close(self) -> None:
        """Flush and close the sink; safe to call more than once."""
        if self.closed:
            return
        self.flush()
        self.closed = True
        self.sink.close()
