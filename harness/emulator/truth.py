"""The truth log: one JSON line per injected fault, flushed often so a crash loses little.

Each line: ``t_ns`` (wall-clock ns), ``fault`` (drop, duplicate, misroute, delay, reorder,
disconnect, skew), ``msg_id`` (the endpoint message id; null for disconnect), ``properties`` (the
message's properties as published; null for disconnect), ``consumer`` (the consumerName the fault
hit, or null), ``detail`` and ``delay_ms`` (delay only). The checker reads it back to prove that it
reports exactly what was injected (``harness.analysis.truth``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from harness.errors import HarnessError


class TruthLog:
    """Appends fault records to a file; ``flush`` on the server's tick and at shutdown."""

    def __init__(self, path: Path) -> None:
        if path.exists() and not path.is_file():  # opening a FIFO to write blocks, deaf to SIGTERM, until a reader
            raise HarnessError(f"cannot write the truth log {path}: not a regular file")
        try:
            self._file = path.open("ab")
        except OSError as exc:
            raise HarnessError(f"cannot write the truth log {path}: {exc.strerror or exc}") from None
        self._pending: list[bytes] = []

    def write(self, record: dict[str, Any]) -> None:
        self._pending.append(orjson.dumps(record) + b"\n")

    def flush(self) -> None:
        if self._pending:
            self._file.write(b"".join(self._pending))
            self._pending.clear()
            self._file.flush()

    def close(self) -> None:
        self.flush()
        self._file.close()
