"""The broker core's rules, one test each, driven without sockets or a real clock."""

from __future__ import annotations

import orjson
import pytest

from harness.emulator import admin
from harness.emulator.config import BacklogQuotaExceeded, BrokerError
from tests.unit.emulator_helpers import (
    TOPIC,
    Clock,
    fragment,
    make_broker,
    mid,
    numbers,
    owners,
    publish,
    subscribe,
)


def test_subscription_starts_at_latest_and_keeps_its_backlog_without_consumers() -> None:
    b = make_broker()
    publish(b, 3)
    first = subscribe(b)
    b.close_consumer(first.id)
    publish(b, 2, start=3)
    assert b.take_deliveries() == []
    subscribe(b)
    assert numbers(b.take_deliveries()) == [3, 4]


def test_a_new_subscription_starts_at_latest_even_while_another_holds_a_backlog() -> None:
    b = make_broker()
    b.close_consumer(subscribe(b, sub="old").id)
    publish(b, 3)
    assert len(b.topics[TOPIC].log) == 3  # retained for "old"
    new = subscribe(b, sub="new")
    assert b.take_deliveries() == []
    publish(b, 1, start=3)
    got = b.take_deliveries()
    assert numbers(got) == [3] and owners(got) == [new.id]
    assert b.topics[TOPIC].subscriptions["new"].backlog == 1


def test_a_non_durable_subscription_goes_with_its_last_consumer_and_keeps_nothing() -> None:
    b = make_broker()
    first, second = subscribe(b, sub="nd", durable=False), subscribe(b, sub="nd", durable=False)
    publish(b, 4)
    assert owners(b.take_deliveries()) == [first.id] * 4  # a burst is one read, handed out in chunks of 20
    b.close_consumer(first.id)
    assert owners(b.take_deliveries()) == [second.id] * 4  # the first one's unacked messages
    b.close_consumer(second.id)
    assert "nd" not in b.topics[TOPIC].subscriptions and len(b.topics[TOPIC].log) == 0
    publish(b, 1, start=4)
    subscribe(b, sub="nd", durable=False)
    assert b.take_deliveries() == []  # a new one, at the latest message


def test_without_any_subscription_nothing_is_retained() -> None:
    b = make_broker()
    publish(b, 5)
    assert len(b.topics[TOPIC].log) == 0


def test_live_messages_alternate_between_shared_consumers() -> None:
    b = make_broker()
    a, c = subscribe(b), subscribe(b)
    got = []
    for i in range(6):
        publish(b, 1, start=i)
        got += owners(b.take_deliveries())
    assert got == [a.id, c.id] * 3


def test_backlog_goes_round_robin_in_chunks_of_the_batch_size() -> None:
    b = make_broker(round_robin_batch=3)
    holder = subscribe(b, receiver_queue_size=100)
    publish(b, 9)
    assert len(b.take_deliveries()) == 9
    a = subscribe(b, receiver_queue_size=100)
    c = subscribe(b, receiver_queue_size=100)
    b.close_consumer(holder.id)  # its 9 unacked messages become a backlog for a and c at once
    deliveries = b.take_deliveries()
    assert owners(deliveries) == [a.id] * 3 + [c.id] * 3 + [a.id] * 3
    assert numbers(deliveries) == list(range(9))


def test_default_round_robin_batch_is_20() -> None:
    b = make_broker()
    holder = subscribe(b, receiver_queue_size=100)
    publish(b, 50)
    b.take_deliveries()
    a, c = subscribe(b, receiver_queue_size=100), subscribe(b, receiver_queue_size=100)
    b.close_consumer(holder.id)
    assert owners(b.take_deliveries()) == [a.id] * 20 + [c.id] * 20 + [a.id] * 10


def test_a_consumer_holds_at_most_its_receiver_queue_until_it_acks() -> None:
    b = make_broker()
    a = subscribe(b, receiver_queue_size=2)
    publish(b, 5)
    held = b.take_deliveries()
    assert numbers(held) == [0, 1]
    assert b.ack(a.id, mid(held[0]))
    assert numbers(b.take_deliveries()) == [2]


def test_receiver_queue_is_capped_at_1000_and_zero_means_one() -> None:
    b = make_broker(round_robin_batch=5000)
    subscribe(b, receiver_queue_size=5000)
    subscribe(b, sub="other", receiver_queue_size=0)
    publish(b, 1200)
    deliveries = b.take_deliveries()
    per_sub = {name: sum(d.consumer.subscription.name == name for d in deliveries) for name in ("sub", "other")}
    assert per_sub == {"sub": 1000, "other": 1}


def test_pull_mode_delivers_only_against_permits_and_acks_grant_none() -> None:
    b = make_broker()
    a = subscribe(b, pull=True)
    publish(b, 5)
    assert b.take_deliveries() == []
    b.permit(a.id, 2)
    held = b.take_deliveries()
    assert numbers(held) == [0, 1]
    b.ack(a.id, mid(held[0]))
    assert b.take_deliveries() == []
    b.permit(a.id, 10)
    assert numbers(b.take_deliveries()) == [2, 3, 4]


def test_permit_is_ignored_in_push_mode() -> None:
    b = make_broker()
    a = subscribe(b, receiver_queue_size=1)
    publish(b, 3)
    b.take_deliveries()
    b.permit(a.id, 5)
    assert b.take_deliveries() == []


@pytest.mark.parametrize(("version", "count"), [("2.8", 1), ("2.11", 0)])
def test_departing_consumers_unacked_messages_go_to_the_others(version: str, count: int) -> None:
    """2.5-2.10 raise the count of a departed consumer's replayed messages (PR #5895); 2.11 on do not (#17060)."""
    b = make_broker(pulsar_version=version)
    a = subscribe(b, receiver_queue_size=10)
    publish(b, 4)
    held = b.take_deliveries()
    b.ack(a.id, mid(held[0]))
    c = subscribe(b)
    b.close_consumer(a.id)
    again = b.take_deliveries()
    assert owners(again) == [c.id] * 3
    assert numbers(again) == [1, 2, 3]
    assert [d.redelivery_count for d in again] == [count] * 3


def test_acked_messages_are_never_delivered_again_and_are_trimmed() -> None:
    b = make_broker()
    a = subscribe(b)
    publish(b, 3)
    for delivery in b.take_deliveries():
        b.ack(a.id, mid(delivery))
    subscribe(b)
    b.close_consumer(a.id)
    assert b.take_deliveries() == []
    assert b.topics[TOPIC].subscriptions["sub"].backlog == 0
    assert len(b.topics[TOPIC].log) == 0


def test_out_of_order_acks_keep_the_unacked_ones() -> None:
    b = make_broker()
    a = subscribe(b)
    publish(b, 4)
    held = b.take_deliveries()
    b.ack(a.id, mid(held[1]))
    b.ack(a.id, mid(held[3]))
    sub = b.topics[TOPIC].subscriptions["sub"]
    assert sub.backlog == 2 and sub.mark_delete == 0
    b.ack(a.id, mid(held[0]))
    assert sub.mark_delete == 2 and len(b.topics[TOPIC].log) == 2


def test_negative_ack_redelivers_after_the_delay_with_a_count() -> None:
    clock = Clock()
    b = make_broker(clock)
    a = subscribe(b, nack_delay_ms=1500)
    publish(b, 1)
    (first,) = b.take_deliveries()
    assert b.nack(a.id, mid(first))
    clock.now += 1.4
    b.tick(clock.now)
    assert b.take_deliveries() == []
    clock.now += 0.2
    b.tick(clock.now)
    (again,) = b.take_deliveries()
    assert again.entry == first.entry and again.redelivery_count == 1
    assert orjson.loads(again.frame)["redeliveryCount"] == 1


@pytest.mark.parametrize(("version", "count"), [("2.8", 1), ("2.11", 0)])
def test_a_departing_consumer_gives_back_its_nacked_messages_at_once(version: str, count: int) -> None:
    clock = Clock()
    b = make_broker(clock, pulsar_version=version)
    leaver = subscribe(b, nack_delay_ms=60_000)
    publish(b, 1)
    first = b.take_deliveries()[0]
    assert b.nack(leaver.id, mid(first))
    stayer = subscribe(b)
    assert b.take_deliveries() == []  # still waiting out the leaver's nack delay
    b.close_consumer(leaver.id)
    again = b.take_deliveries()
    assert owners(again) == [stayer.id] and again[0].redelivery_count == count
    clock.now += 60
    b.tick(clock.now)
    assert b.take_deliveries() == []  # the nack timer finds nothing left to do


def test_negative_ack_frees_the_slot_at_once() -> None:
    b = make_broker()
    a = subscribe(b, receiver_queue_size=1)
    publish(b, 2)
    (first,) = b.take_deliveries()
    b.nack(a.id, mid(first))
    assert numbers(b.take_deliveries()) == [1]


def test_ack_timeout_redelivers_to_any_consumer_with_a_count() -> None:
    clock = Clock()
    b = make_broker(clock, timers="exact")
    a = subscribe(b, ack_timeout_ms=1000)
    publish(b, 2)
    first = b.take_deliveries()
    b.ack(a.id, mid(first[0]))
    clock.now += 1.0
    b.tick(clock.now)
    (again,) = b.take_deliveries()
    assert again.entry == first[1].entry and again.redelivery_count == 1
    clock.now += 1.0
    b.tick(clock.now)
    (third,) = b.take_deliveries()
    assert third.redelivery_count == 2


def test_acked_in_time_means_no_ack_timeout() -> None:
    clock = Clock()
    b = make_broker(clock)
    a = subscribe(b, ack_timeout_ms=1000)
    publish(b, 1)
    (first,) = b.take_deliveries()
    b.ack(a.id, mid(first))
    clock.now += 5
    b.tick(clock.now)
    assert b.take_deliveries() == []


def test_priority_level_zero_is_served_first() -> None:
    b = make_broker(queue_model="direct")
    low = subscribe(b, priority=1, receiver_queue_size=2)
    high = subscribe(b, priority=0, receiver_queue_size=2)
    publish(b, 3)
    assert owners(b.take_deliveries()) == [high.id, high.id, low.id]


def test_priority_level_zero_fills_its_proxy_queue_before_a_lower_level_gets_any() -> None:
    b = make_broker()
    low = subscribe(b, priority=1, receiver_queue_size=2)
    high = subscribe(b, priority=0, receiver_queue_size=2)
    publish(b, 5)
    pushed = b.take_deliveries()
    assert owners(pushed) == [high.id, high.id, low.id]  # high's socket holds 2, its proxy 2 more
    assert numbers(pushed) == [0, 1, 4]
    assert high.outstanding == {0, 1, 2, 3}


def test_second_exclusive_consumer_is_refused_with_409() -> None:
    b = make_broker()
    subscribe(b, "Exclusive")
    with pytest.raises(BrokerError) as caught:
        subscribe(b, "Exclusive")
    assert caught.value.status == 409


def test_subscription_type_mismatch_is_refused_with_409_while_consumers_are_connected() -> None:
    b = make_broker()
    a = subscribe(b, "Shared")
    with pytest.raises(BrokerError) as caught:
        subscribe(b, "Failover")
    assert caught.value.status == 409
    b.close_consumer(a.id)
    assert subscribe(b, "Failover").subscription.kind == "Failover"


def test_exclusive_consumer_gets_everything_in_order() -> None:
    b = make_broker()
    subscribe(b, "Exclusive")
    publish(b, 5)
    assert numbers(b.take_deliveries()) == [0, 1, 2, 3, 4]


def test_failover_has_one_active_consumer_and_the_next_takes_over() -> None:
    b = make_broker()
    active = subscribe(b, "Failover")
    standby = subscribe(b, "Failover")
    publish(b, 3)
    first = b.take_deliveries()
    assert owners(first) == [active.id] * 3
    b.ack(active.id, mid(first[0]))
    b.close_consumer(active.id)
    publish(b, 1, start=3)
    taken = b.take_deliveries()
    assert owners(taken) == [standby.id] * 3 and numbers(taken) == [1, 2, 3]


def test_key_shared_sends_each_key_to_one_consumer_in_order() -> None:
    b = make_broker()
    subscribe(b, "Key_Shared")
    subscribe(b, "Key_Shared")
    for n in range(40):
        publish(b, 1, start=n, key=f"k{n % 8}")
    deliveries = b.take_deliveries()
    by_key: dict[int, set[int]] = {}
    for d in deliveries:
        by_key.setdefault(int(orjson.loads(d.frame)["properties"]["n"]) % 8, set()).add(d.consumer.id)
    assert all(len(c) == 1 for c in by_key.values())
    assert len({c for cs in by_key.values() for c in cs}) == 2
    assert numbers(deliveries) == list(range(40))


def test_key_shared_holds_a_key_while_its_consumer_is_full() -> None:
    b = make_broker()
    a = subscribe(b, "Key_Shared", receiver_queue_size=1)
    publish(b, 3, key="same")
    (first,) = b.take_deliveries()
    assert b.take_deliveries() == []
    b.ack(a.id, mid(first))
    assert numbers(b.take_deliveries()) == [1]


def test_backlog_cap_refuses_publishes_and_drops_nothing_accepted() -> None:
    b = make_broker(max_backlog_messages=3)
    subscribe(b, receiver_queue_size=1)
    accepted = publish(b, 3)
    with pytest.raises(BacklogQuotaExceeded):
        publish(b, 1, start=3)
    assert len(b.topics[TOPIC].log) == 3 and len(accepted) == 3


def test_unknown_or_foreign_message_ids_are_ignored() -> None:
    b = make_broker()
    a = subscribe(b)
    publish(b, 1)
    b.take_deliveries()
    assert not b.ack(a.id, "garbage")
    assert not b.ack(a.id, "CAkQAA==")  # ledger 9: another topic
    assert not b.ack(999, "CAEQAA==")
    assert not b.nack(a.id, "CAEQBQ==")  # never delivered


def test_unsubscribe_deletes_the_subscription_only_for_its_last_consumer() -> None:
    b = make_broker()
    a, c = subscribe(b), subscribe(b)
    with pytest.raises(BrokerError) as caught:
        b.unsubscribe(a.id)
    assert caught.value.status == 412
    b.close_consumer(c.id)
    b.unsubscribe(a.id)
    assert "sub" not in b.topics[TOPIC].subscriptions


def test_clear_backlog_skips_everything() -> None:
    b = make_broker()
    a = subscribe(b, receiver_queue_size=1)
    publish(b, 5)
    first = b.take_deliveries()
    admin.clear_backlog(b, TOPIC)
    assert b.topics[TOPIC].subscriptions["sub"].backlog == 0
    publish(b, 1, start=5)
    assert b.take_deliveries() == []  # the proxy pushes nothing more until the socket answers what it holds
    assert not b.ack(a.id, mid(first[0]))  # cleared already, but it frees the socket's slot
    assert numbers(b.take_deliveries()) == [5]
    assert a.outstanding == {5}


def test_reader_reads_from_earliest_retained_without_affecting_subscriptions() -> None:
    b = make_broker()
    subscribe(b, receiver_queue_size=1)
    publish(b, 3)
    b.take_deliveries()
    reader = b.reader(TOPIC, "earliest")
    got = b.take_deliveries()
    assert [d.consumer for d in got] == [reader] * 3 and numbers(got) == [0, 1, 2]
    b.close_consumer(reader.id)
    assert set(b.topics[TOPIC].subscriptions) == {"sub"}


def test_duplicate_producer_name_is_refused_with_409() -> None:
    b = make_broker()
    b.add_producer(TOPIC, "p1")
    with pytest.raises(BrokerError) as caught:
        b.add_producer(TOPIC, "p1")
    assert caught.value.status == 409


def test_force_delete_disconnects_consumers_and_producers_and_publishing_never_recreates() -> None:
    b = make_broker()
    c = subscribe(b)
    producer_id = b.add_producer(TOPIC)
    with pytest.raises(BrokerError) as busy:
        admin.delete_topic(b, TOPIC)
    assert busy.value.status == 412 and b.take_disconnects() == []
    admin.delete_topic(b, TOPIC, force=True)
    assert sorted(b.take_disconnects()) == [(c.id, "stream deleted"), (producer_id, "stream deleted")]
    with pytest.raises(BrokerError) as gone:
        b.publish(TOPIC, fragment(0)[0])
    assert gone.value.status == 404 and TOPIC not in b.topics


def test_publish_time_is_stamped_from_the_broker_clock_when_the_message_is_accepted() -> None:
    clock = Clock(1234.5)
    b = make_broker(clock)
    subscribe(b, receiver_queue_size=1)
    publish(b, 1)
    clock.now = 1300.25
    publish(b, 1, start=1)  # waits: the consumer's queue holds one
    first = b.take_deliveries()[0]
    clock.now = 2000.0
    b.ack(first.consumer.id, mid(first))
    second = b.take_deliveries()[0]
    assert orjson.loads(first.frame)["publishTime"] == "1970-01-01T00:20:34.5Z"
    assert orjson.loads(second.frame)["publishTime"] == "1970-01-01T00:21:40.25Z"


def test_service_rate_caps_dispatch_per_subscription() -> None:
    clock = Clock()
    b = make_broker(clock, service_rate=100.0)
    subscribe(b)
    publish(b, 10)
    assert len(b.take_deliveries()) == 2  # a burst of 20 ms worth
    clock.now += 0.05
    b.tick(clock.now)
    assert len(b.take_deliveries()) == 2  # the bucket holds at most 2
    clock.now += 0.015
    b.tick(clock.now)
    assert len(b.take_deliveries()) == 1  # 1.5 tokens
