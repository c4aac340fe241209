"""The event writer, and the reader's tolerance of what a crash leaves behind."""

from __future__ import annotations

from pathlib import Path

from harness.analysis.load import load_run
from harness.events import schema
from harness.events.runfolder import RunFolder
from harness.events.writer import MAX_BUFFERED_ROWS, CsvFileSink, EventWriter


def make_writer(path: Path) -> EventWriter:
    ticks = iter(range(1, 10**9))
    return EventWriter(CsvFileSink(path), clock_ns=lambda: next(ticks))


def test_rows_stay_in_memory_until_flush(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    writer = make_writer(path)
    writer.record(schema.SEND, "w0-p1", uid="w0-p1/0", intended_ns=5, size=100)
    assert path.read_text() == ",".join(schema.COLUMNS) + "\n"
    assert writer.buffered == 1
    writer.flush()
    assert path.read_text().splitlines()[1] == "1,send,w0-p1,w0-p1/0,,5,,100,"
    writer.close()


def test_header_written_once_when_appending(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    for _ in range(2):
        writer = make_writer(path)
        writer.record(schema.CONNECT, "w0-c1", detail="Shared")
        writer.close()
    lines = path.read_text().splitlines()
    assert lines.count(",".join(schema.COLUMNS)) == 1
    assert len(lines) == 3


def test_detail_with_commas_and_quotes_survives(tmp_path: Path) -> None:
    folder = RunFolder.create(tmp_path, "run")
    writer = EventWriter(CsvFileSink(folder.events_file("w0-1")))
    detail = 'send-error:8: broker said "no", twice\nreally'
    writer.record(schema.PUBLISH_ERR, "w0-p1", uid="w0-p1/0", detail=detail)
    writer.close()
    events = load_run(folder.path).events
    assert events["detail"].tolist() == [detail]


def test_buffer_flushes_itself_when_full(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    writer = make_writer(path)
    for i in range(MAX_BUFFERED_ROWS):
        writer.record(schema.ACK, "w0-c1", uid=f"w0-p1/{i}")
    assert writer.buffered == 0
    assert len(path.read_text().splitlines()) == MAX_BUFFERED_ROWS + 1
    writer.close()


def test_events_after_close_are_ignored(tmp_path: Path) -> None:
    writer = make_writer(tmp_path / "events.csv")
    writer.close()
    writer.record(schema.ACK, "w0-c1")
    writer.close()
    assert writer.recorded == 0


def test_torn_last_line_is_dropped_and_reported(tmp_path: Path) -> None:
    folder = RunFolder.create(tmp_path, "run")
    writer = make_writer(folder.events_file("w0-1"))
    for i in range(3):  # intended times after 0: a send intended at or before 0 is a corrupt row
        writer.record(schema.SEND, "w0-p1", uid=f"w0-p1/{i}", intended_ns=i + 1, size=10)
    writer.close()
    with folder.events_file("w0-1").open("a") as file:
        file.write("4,deliver,w0-c1,w0-p1/0,CAAQ")  # a crash mid-line
    run = load_run(folder.path)
    assert run.events["uid"].tolist() == ["w0-p1/0", "w0-p1/1", "w0-p1/2"]
    assert any("torn last line" in problem for problem in run.problems)


def test_corrupt_rows_are_skipped_and_counted(tmp_path: Path) -> None:
    folder = RunFolder.create(tmp_path, "run")
    path = folder.events_file("w0-1")
    lines = [
        ",".join(schema.COLUMNS),
        "1,send,w0-p1,w0-p1/0,,1,,10,",
        "garbage,send,w0-p1,w0-p1/1,,1,,10,",
        "3,send,w0-p1",
        "4,send,w0-p1,w0-p1/2,,1,,10,",
    ]
    path.write_text("\n".join(lines) + "\n")
    run = load_run(folder.path)
    assert run.events["uid"].tolist() == ["w0-p1/0", "w0-p1/2"]
    assert any("skipped 2 corrupt rows" in problem for problem in run.problems)
