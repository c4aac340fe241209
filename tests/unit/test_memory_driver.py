"""The in-memory broker keeps a Shared subscription's rules, and the drivers' threading contract."""

from __future__ import annotations

import time

import gevent
import pytest

from harness.drivers.base import Closed, ConnectError, Delivery, OutgoingMessage, Published, PublishOutcome, Refused
from harness.drivers.memory import MemoryBroker, MemoryDriver
from harness.load.stamp import stamp_properties

LIMIT_S = 2.0


class Heard:
    def __init__(self, ack: bool = False) -> None:
        self.ack = ack
        self.session: object = None
        self.outcomes: list[PublishOutcome] = []
        self.deliveries: list[Delivery] = []
        self.closed: list[Closed] = []
        self.greenlets: set[object] = set()

    def on_outcome(self, outcome: PublishOutcome) -> None:
        self.greenlets.add(gevent.getcurrent())
        self.outcomes.append(outcome)

    def on_delivery(self, delivery: Delivery) -> None:
        self.greenlets.add(gevent.getcurrent())
        self.deliveries.append(delivery)

    def on_closed(self, closed: Closed) -> None:
        self.closed.append(closed)

    def on_failure(self, what: str, exc: Exception) -> None:
        raise AssertionError(f"{what}: {exc}")


def until(condition: object) -> None:
    deadline = time.monotonic() + LIMIT_S
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        gevent.sleep(0.001)
    assert condition(), "timed out"  # type: ignore[operator]


def message(n: int) -> OutgoingMessage:
    return OutgoingMessage(n, b"body", stamp_properties("r", f"p/{n}", n, n))


def test_publishes_are_answered_in_order_with_ids_from_a_greenlet() -> None:
    driver = MemoryDriver()
    heard = Heard()
    session = driver.open_producer("p", heard)
    for n in range(5):
        session.send(message(n))
    until(lambda: len(heard.outcomes) == 5)
    assert [(o.context, o.message_id) for o in heard.outcomes if isinstance(o, Published)] == [
        (n, f"{n}:0") for n in range(5)
    ]
    assert gevent.getcurrent() not in heard.greenlets and len(heard.greenlets) == 1
    session.close()


def test_a_refused_publish_is_not_stored() -> None:
    broker = MemoryBroker(refuse=lambda m: "send-error:3" if m.context == 1 else "")
    heard = Heard()
    session = MemoryDriver(broker).open_producer("p", heard)
    for n in range(3):
        session.send(message(n))
    until(lambda: len(heard.outcomes) == 3)
    assert isinstance(heard.outcomes[1], Refused) and heard.outcomes[1].error == "send-error:3"
    assert broker.published == ["0:0", "1:0"] and len(broker.backlog) == 2  # ids count stored messages only


def test_round_robin_over_consumers_with_the_stamp_read_from_the_message() -> None:
    driver = MemoryDriver(MemoryBroker(receiver_queue_size=10))
    a, b = Heard(), Heard()
    sessions = [driver.open_consumer("a", a), driver.open_consumer("b", b)]
    producer = driver.open_producer("p", Heard())
    for n in range(6):
        producer.send(message(n))
    until(lambda: len(a.deliveries) + len(b.deliveries) == 6)
    assert [d.stamp.uid for d in a.deliveries] == ["p/0", "p/2", "p/4"]
    assert [d.stamp.uid for d in b.deliveries] == ["p/1", "p/3", "p/5"]
    assert all(d.received_ns < e.received_ns for d, e in zip(a.deliveries, a.deliveries[1:], strict=False))
    for session in sessions:
        session.close()


def test_a_full_receiver_queue_waits_for_permits() -> None:
    broker = MemoryBroker(receiver_queue_size=2)
    driver = MemoryDriver(broker)
    blocked = gevent.event.Event()

    class Slow(Heard):
        def on_delivery(self, delivery: Delivery) -> None:
            super().on_delivery(delivery)
            blocked.wait()  # a slow consumer: its queue fills, the rest waits in the backlog

    slow = Slow()
    consumer = driver.open_consumer("c", slow)
    producer = driver.open_producer("p", Heard())
    for n in range(10):
        producer.send(message(n))
    until(lambda: len(slow.deliveries) == 1)
    gevent.sleep(0.01)
    assert len(broker.backlog) == 7  # one in the listener, two queued
    blocked.set()
    until(lambda: len(slow.deliveries) == 10)
    consumer.close()


def test_acks_settle_nacks_come_back_with_the_count_raised() -> None:
    broker = MemoryBroker(nack_delay_s=0.01)
    driver = MemoryDriver(broker)
    heard = Heard()
    consumer = driver.open_consumer("c", heard)
    producer = driver.open_producer("p", Heard())
    producer.send(message(0))
    producer.send(message(1))
    until(lambda: len(heard.deliveries) == 2)
    first, second = heard.deliveries
    assert consumer.ack(first) and consumer.nack(second)
    until(lambda: len(heard.deliveries) == 3)
    again = heard.deliveries[2]
    assert (again.message_id, again.redelivery) == (second.message_id, 1)
    assert consumer.ack(again)
    assert broker.acked == {"0:0": 1, "1:0": 1} and broker.unacked == 0
    consumer.close()


def test_a_consumer_that_leaves_gives_what_it_held_to_the_other_with_the_count_raised() -> None:
    broker = MemoryBroker(receiver_queue_size=100)
    driver = MemoryDriver(broker)
    holder, other = Heard(), Heard()
    leaving = driver.open_consumer("a", holder)
    producer = driver.open_producer("p", Heard())
    for n in range(3):
        producer.send(message(n))
    until(lambda: len(holder.deliveries) == 3)
    assert leaving.ack(holder.deliveries[0])
    staying = driver.open_consumer("b", other)
    began = leaving.close()
    assert began <= time.time_ns() and leaving.closed and not leaving.ack(holder.deliveries[1])
    until(lambda: len(other.deliveries) == 2)
    assert [(d.message_id, d.redelivery) for d in other.deliveries] == [("1:0", 1), ("2:0", 1)]
    assert holder.closed == []  # a session this side closed is not reported as ended by the endpoint
    staying.close()


def test_the_endpoint_ending_a_session_is_reported_once_with_its_reason() -> None:
    broker = MemoryBroker()
    driver = MemoryDriver(broker)
    heard, told = Heard(), Heard()
    consumer = driver.open_consumer("c", heard)
    producer = driver.open_producer("p", told)
    broker.end_sessions("closed by peer (1011)")
    until(lambda: heard.closed and told.closed)
    assert [c.reason for c in heard.closed + told.closed] == ["closed by peer (1011)"] * 2
    assert consumer.closed and producer.closed and broker.consumers == [] and broker.producers == []


def test_a_consumer_over_the_limit_is_refused_as_busy() -> None:
    driver = MemoryDriver(MemoryBroker(max_consumers=1))
    driver.open_consumer("a", Heard())
    with pytest.raises(ConnectError) as refused:
        driver.open_consumer("b", Heard())
    assert refused.value.busy and refused.value.status == 409
