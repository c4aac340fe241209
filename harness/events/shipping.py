"""Events from workers to the master's run folder, in bounded batches over a message channel.

A worker's :class:`~harness.events.writer.EventWriter` gets a :class:`ChannelSink` instead of a
file: each flush (at least every second) becomes one or more messages of at most
:data:`MAX_BATCH_ROWS` rows. The master's :class:`EventStore` appends each batch, in arrival
order, to ``events/<worker-tag>-<pid>.csv`` of the run folder, exactly as the worker would have.
The channel is Locust's (ZeroMQ, in order per worker); this module only needs a ``send`` callable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.events.writer import CsvFileSink, Row

#: Rows per message: about 400 KB packed, small enough not to stall the master's loop.
MAX_BATCH_ROWS = 5000


class ChannelSink:
    """A RowSink that sends ``{"name": <process>, "rows": [...]}`` batches through ``send``."""

    def __init__(self, process_name: str, send: Callable[[dict[str, Any]], None]) -> None:
        self.process_name = process_name
        self._send = send
        self.closed = False

    def write_rows(self, rows: Sequence[Row]) -> None:
        if self.closed:
            return
        for start in range(0, len(rows), MAX_BATCH_ROWS):
            self._send({"name": self.process_name, "rows": list(rows[start : start + MAX_BATCH_ROWS])})

    def close(self) -> None:
        self.closed = True


class EventStore:
    """The master's side: one events file per worker process, appended batch by batch."""

    def __init__(self, events_dir: Path) -> None:
        self.events_dir = events_dir
        self._sinks: dict[str, CsvFileSink] = {}
        self.received = 0

    def receive(self, batch: dict[str, Any]) -> None:
        name = str(batch.get("name", ""))
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"bad events batch name {name!r}")
        sink = self._sinks.get(name)
        if sink is None:
            sink = self._sinks[name] = CsvFileSink(self.events_dir / f"{name}.csv")
        rows = batch.get("rows") or []
        sink.write_rows(rows)  # lists from the channel: the CSV writer takes them as they are
        self.received += len(rows)

    def close(self) -> None:
        for sink in self._sinks.values():
            sink.close()
        self._sinks.clear()
