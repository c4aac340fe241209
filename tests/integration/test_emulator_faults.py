"""Injected faults over real sockets: each does what its spec says, and the truth log says exactly that."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from harness.targets.emulator import EmulatorProcess
from tests.integration.emulator_client import ack, close_all, consumer, number, producer, receive_all, send

MESSAGES = 10


@pytest.fixture(autouse=True)
def _close_sockets() -> Iterator[None]:
    yield
    close_all()


Frames = dict[str, list[dict[str, Any]]]


def total(count: int) -> Callable[[Frames], bool]:
    return lambda got: sum(map(len, got.values())) >= count


def run_with(
    spec: str,
    tmp_path: Path,
    done: Callable[[Frames], bool],
    consumers: int = 2,
    acking: bool = True,
    query: str = "",
) -> dict[str, Any]:
    """Publish MESSAGES to Shared consumers under the fault, read until ``done``; what arrived, and the truth."""
    truth = tmp_path / "truth.jsonl"
    args = ["--fault", spec, "--fault-seed", "7", "--truth-log", str(truth)]
    with EmulatorProcess(args) as emulator:
        base = emulator.url.replace("http://", "ws://")
        names = [f"c{i}" for i in range(consumers)]
        sockets = {n: consumer(base, query=f"subscriptionType=Shared&consumerName={n}{query}") for n in names}
        p = producer(base)
        acks = [send(p, n) for n in range(MESSAGES)]
        got: Frames = {n: [] for n in names}
        for _ in range(60):  # bounded: at most about 60 x 0.1 s per consumer
            finished = done(got)
            for name, ws in sockets.items():
                if ws.connected:
                    frames = receive_all(ws, wait=0.25 if finished else 0.1)
                    got[name] += frames
                    for frame in frames if acking else ():
                        ack(ws, frame)
            if finished:
                break  # one last round above caught anything extra (a wrong duplicate would show)
        assert done(got), f"gave up waiting: {got}"
        time.sleep(0.1)  # the truth log is flushed on the emulator's tick
    lines = [orjson.loads(line) for line in truth.read_bytes().splitlines()]
    return {"acks": acks, "got": got, "truth": lines}


def ids(frames: list[dict[str, Any]]) -> list[str]:
    return [f["messageId"] for f in frames]


def test_drop_discards_acknowledged_messages_and_says_which(tmp_path: Path) -> None:
    run = run_with("drop=1.0", tmp_path, total(0))
    assert all(a["result"] == "ok" for a in run["acks"]) and not any(run["got"].values())
    assert [t["msg_id"] for t in run["truth"]] == [a["messageId"] for a in run["acks"]]
    assert [t["properties"] for t in run["truth"]] == [{"n": str(n)} for n in range(MESSAGES)]
    assert {t["fault"] for t in run["truth"]} == {"drop"} and all(t["consumer"] is None for t in run["truth"])


def test_duplicate_sends_the_same_delivery_twice_to_the_same_consumer(tmp_path: Path) -> None:
    run = run_with("duplicate=1.0", tmp_path, total(2 * MESSAGES))
    for name, frames in run["got"].items():
        counts = Counter(ids(frames))
        assert frames and set(counts.values()) == {2}
        truth = {t["msg_id"] for t in run["truth"] if t["consumer"] == name}
        assert truth == set(counts)
    assert len(run["truth"]) == MESSAGES and {t["fault"] for t in run["truth"]} == {"duplicate"}


def test_misroute_delivers_to_a_second_consumer_too(tmp_path: Path) -> None:
    run = run_with("misroute=1.0", tmp_path, total(2 * MESSAGES))
    c0, c1 = (set(ids(run["got"][n])) for n in ("c0", "c1"))
    assert c0 == c1 == {a["messageId"] for a in run["acks"]}
    assert {t["msg_id"] for t in run["truth"]} == c0 and {t["fault"] for t in run["truth"]} == {"misroute"}


def test_delay_holds_deliveries_back_and_records_the_delay(tmp_path: Path) -> None:
    run = run_with("delay=1.0,ms=150", tmp_path, total(MESSAGES), consumers=1)
    assert sorted(number(f) for f in run["got"]["c0"]) == list(range(MESSAGES))
    assert {(t["fault"], t["delay_ms"]) for t in run["truth"]} == {("delay", 150.0)} and len(run["truth"]) == MESSAGES


def test_reorder_swaps_a_delivery_with_the_next_one(tmp_path: Path) -> None:
    run = run_with("reorder=1.0", tmp_path, total(MESSAGES), consumers=1)
    order = [number(f) for f in run["got"]["c0"]]
    assert sorted(order) == list(range(MESSAGES)) and order != sorted(order)
    swapped = {t["properties"]["n"] for t in run["truth"]}
    assert swapped and all(order.index(int(n)) > order.index(int(n) + 1) for n in swapped)


def test_skew_gives_the_favoured_consumer_what_round_robin_would_not(tmp_path: Path) -> None:
    run = run_with("skew=1.0,consumer=c1", tmp_path, total(MESSAGES))
    assert len(run["got"]["c1"]) == MESSAGES and run["got"]["c0"] == []
    assert {t["consumer"] for t in run["truth"]} == {"c1"} and 0 < len(run["truth"]) < MESSAGES


def test_disconnect_closes_a_consumer_and_its_messages_go_to_the_other(tmp_path: Path) -> None:
    def one_has_all(got: Frames) -> bool:
        return any({number(f) for f in frames} == set(range(MESSAGES)) for frames in got.values())

    run = run_with("disconnect,every=0.3s", tmp_path, one_has_all, acking=False, query="&receiverQueueSize=100")
    disconnects = [t for t in run["truth"] if t["fault"] == "disconnect"]
    assert disconnects and disconnects[0]["msg_id"] is None and disconnects[0]["properties"] is None
    victim = disconnects[0]["consumer"]
    other = "c1" if victim == "c0" else "c0"
    assert {number(f) for f in run["got"][victim]} <= {number(f) for f in run["got"][other]}
    assert {number(f) for f in run["got"][other]} == set(range(MESSAGES))
