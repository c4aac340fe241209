"""The emulator's Pulsar-fidelity switches over real sockets: queue model, Pulsar version, timers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import orjson
import pytest

from harness.targets.emulator import EmulatorProcess
from tests.integration.emulator_client import close_all, consumer, number, producer, receive, receive_all, send


@pytest.fixture(autouse=True)
def _close_sockets() -> Iterator[None]:
    yield
    close_all()


def emulator(*args: str) -> EmulatorProcess:
    """Started and stopped by ``with``."""
    return EmulatorProcess(list(args))


def ws(process: EmulatorProcess) -> str:
    return process.url.replace("http://", "ws://")


@pytest.mark.parametrize(("args", "second_starts_at"), [([], 20), (["--queue-model", "direct"], 10)])
def test_a_consumer_attaching_to_a_backlog_is_charged_both_queues(args: list[str], second_starts_at: int) -> None:
    with emulator(*args) as process:
        url = ws(process)
        consumer(url).close()  # the subscription now exists, and keeps what comes
        p = producer(url)
        for n in range(100):
            send(p, n)
        a = consumer(url, query="subscriptionType=Shared&receiverQueueSize=10")
        assert [number(receive(a)) for _ in range(10)] == list(range(10))
        b = consumer(url, query="subscriptionType=Shared&receiverQueueSize=10")
        assert number(receive(b)) == second_starts_at


@pytest.mark.parametrize(("args", "count"), [([], 1), (["--pulsar-version", "2.11"], 0)])
def test_a_departed_consumers_messages_come_back_counted_by_version(args: list[str], count: int) -> None:
    with emulator(*args) as process:
        url = ws(process)
        a = consumer(url, query="subscriptionType=Shared&receiverQueueSize=1")
        p = producer(url)
        send(p, 0)
        assert number(receive(a)) == 0
        b = consumer(url, query="subscriptionType=Shared&receiverQueueSize=1")
        a.close()
        frame = receive(b)
        assert number(frame) == 0 and frame["redeliveryCount"] == count


def test_a_nack_comes_back_on_the_trackers_next_tick() -> None:
    """The tracker ticks every 1/3 s from the first nack: a second nack 0.1 s later is due at 1.1 s and is sent
    back on the tick at 1.33 s, about 1.23 s after it was sent."""
    with emulator() as process:
        url = ws(process)
        c = consumer(url, query="subscriptionType=Shared&negativeAckRedeliveryDelay=1000")
        p = producer(url)
        send(p, 0)
        send(p, 1)
        first, second = receive(c), receive(c)
        c.send(orjson.dumps({"type": "negativeAcknowledge", "messageId": first["messageId"]}).decode())
        time.sleep(0.1)
        nacked_at = time.monotonic()
        c.send(orjson.dumps({"type": "negativeAcknowledge", "messageId": second["messageId"]}).decode())
        back: dict[int, float] = {}
        for _ in range(2):
            frame = receive(c)
            back[number(frame)] = time.monotonic() - nacked_at
        assert set(back) == {0, 1}
        assert 1.15 <= back[1] <= 1.7
        assert receive_all(c, wait=0.3) == []
