"""The broker core's dispatch rules, driven without sockets or a real clock."""

from __future__ import annotations

import pytest

from harness.emulator.core import Broker, BrokerConfig, BrokerError, Delivery
from harness.wire import Topic

TOPIC = Topic("public", "default", "t")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def broker(batch: int = 20) -> Broker:
    return Broker(clock=Clock(), config=BrokerConfig(round_robin_batch=batch))


def publish(b: Broker, count: int, start: int = 0) -> list[str]:
    return [b.publish(TOPIC, "eA==", {"n": str(start + i)}) for i in range(count)]


def numbers(deliveries: list[Delivery]) -> list[int]:
    return [int(d.message.properties["n"]) for d in deliveries]


def test_subscription_starts_at_latest_and_keeps_its_backlog_without_consumers() -> None:
    """Messages before the first subscribe are not delivered; later ones wait for a consumer."""
    b = broker()
    publish(b, 3)
    first = b.subscribe(TOPIC, "sub", "Shared")
    b.close_consumer(first)
    b.take_deliveries()
    publish(b, 2, start=3)
    assert b.take_deliveries() == []
    b.subscribe(TOPIC, "sub", "Shared")
    assert numbers(b.take_deliveries()) == [3, 4]


def test_live_messages_alternate_between_shared_consumers() -> None:
    b = broker()
    a = b.subscribe(TOPIC, "sub", "Shared")
    c = b.subscribe(TOPIC, "sub", "Shared")
    owners = []
    for i in range(6):
        publish(b, 1, start=i)
        (delivery,) = b.take_deliveries()
        owners.append(delivery.consumer_id)
    assert owners == [a, c, a, c, a, c]


def test_backlog_goes_round_robin_in_chunks_of_the_batch_size() -> None:
    """With several consumers able to take a backlog, each gets up to ``round_robin_batch`` per turn."""
    b = broker(batch=3)
    holder = b.subscribe(TOPIC, "sub", "Shared", receiver_queue_size=100)
    publish(b, 9)
    assert len(b.take_deliveries()) == 9
    a = b.subscribe(TOPIC, "sub", "Shared", receiver_queue_size=100)
    c = b.subscribe(TOPIC, "sub", "Shared", receiver_queue_size=100)
    b.close_consumer(holder)  # its 9 unacked messages become a backlog for a and c at once
    deliveries = b.take_deliveries()
    assert [d.consumer_id for d in deliveries] == [a, a, a, c, c, c, a, a, a]
    assert numbers(deliveries) == list(range(9))


def test_a_consumer_holds_at_most_its_receiver_queue_until_it_acks() -> None:
    b = broker()
    a = b.subscribe(TOPIC, "sub", "Shared", receiver_queue_size=2)
    publish(b, 5)
    held = b.take_deliveries()
    assert numbers(held) == [0, 1]
    assert b.ack(a, held[0].message_id)
    assert numbers(b.take_deliveries()) == [2]


def test_receiver_queue_is_capped_at_1000() -> None:
    b = broker(batch=5000)
    b.subscribe(TOPIC, "sub", "Shared", receiver_queue_size=5000)
    publish(b, 1200)
    assert len(b.take_deliveries()) == 1000


def test_departing_consumers_unacked_messages_go_to_the_others() -> None:
    b = broker()
    a = b.subscribe(TOPIC, "sub", "Shared", receiver_queue_size=10)
    publish(b, 4)
    held = b.take_deliveries()
    b.ack(a, held[0].message_id)
    c = b.subscribe(TOPIC, "sub", "Shared")
    b.close_consumer(a)
    again = b.take_deliveries()
    assert [d.consumer_id for d in again] == [c, c, c]
    assert numbers(again) == [1, 2, 3]
    assert all(d.redelivery_count == 0 for d in again)  # Pulsar >= 2.8 does not count disconnect replays


def test_acked_messages_are_never_delivered_again() -> None:
    b = broker()
    a = b.subscribe(TOPIC, "sub", "Shared")
    publish(b, 3)
    for delivery in b.take_deliveries():
        b.ack(a, delivery.message_id)
    c = b.subscribe(TOPIC, "sub", "Shared")
    b.close_consumer(a)
    assert b.take_deliveries() == []
    assert b.topics[TOPIC].subscriptions["sub"].backlog == 0
    assert len(b.topics[TOPIC]) == 0  # fully acknowledged entries are trimmed
    b.close_consumer(c)


def test_second_exclusive_consumer_is_refused_with_409() -> None:
    b = broker()
    b.subscribe(TOPIC, "sub", "Exclusive")
    with pytest.raises(BrokerError) as caught:
        b.subscribe(TOPIC, "sub", "Exclusive")
    assert caught.value.status == 409


def test_subscription_type_mismatch_is_refused_with_409() -> None:
    b = broker()
    b.subscribe(TOPIC, "sub", "Shared")
    with pytest.raises(BrokerError) as caught:
        b.subscribe(TOPIC, "sub", "Failover")
    assert caught.value.status == 409


def test_unknown_or_foreign_message_ids_are_ignored() -> None:
    b = broker()
    a = b.subscribe(TOPIC, "sub", "Shared")
    publish(b, 1)
    b.take_deliveries()
    assert not b.ack(a, "garbage")
    assert not b.ack(a, "CAkQAA==")  # ledger 9: another topic
    assert not b.ack(999, "CAEQAA==")


def test_publish_time_comes_from_the_injected_clock() -> None:
    clock = Clock()
    b = Broker(clock=clock)
    b.subscribe(TOPIC, "sub", "Shared")
    clock.now = 1234.5
    publish(b, 1)
    assert b.take_deliveries()[0].message.publish_time == 1234.5
