"""Event-writer cost per event, as a ratio to appending the same tuple to a list (the floor)."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from harness.events import schema
from harness.events.writer import CsvFileSink, EventWriter

EVENTS = 200_000
REPEATS = 5


def _baseline() -> float:
    rows: list[tuple[object, ...]] = []
    start = time.perf_counter()
    for _ in range(EVENTS):
        rows.append((time.time_ns(), schema.DELIVER, "w0-c1", "w0-p1/1", "CAEQAA==", None, 0, 100, ""))
        if len(rows) >= 20_000:
            rows = []
    return (time.perf_counter() - start) / EVENTS


def _writer(path: Path) -> float:
    writer = EventWriter(CsvFileSink(path))
    start = time.perf_counter()
    for i in range(EVENTS):
        writer.record(schema.DELIVER, "w0-c1", uid="w0-p1/1", msg_id="CAEQAA==", redelivery=0, size=100)
        if i % 50_000 == 0:
            writer.flush()  # the load side flushes on a timer; include the I/O
    writer.close()
    return (time.perf_counter() - start) / EVENTS


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = statistics.median(_baseline() for _ in range(REPEATS))
        cost = statistics.median(_writer(Path(tmp) / f"run{i}.csv") for i in range(REPEATS))
    print(
        f"event writer: {cost * 1e6:.2f} us/event (median of {REPEATS}), "
        f"{cost / base:.1f}x a bare list append ({base * 1e6:.2f} us); target <= 3 us/event"
    )


if __name__ == "__main__":
    main()
