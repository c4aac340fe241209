"""The broker core against Apache Pulsar's source on three points, on a fake clock.

* The WebSocket proxy's own consumer queue (pulsar-websocket ConsumerHandler.java, pulsar-client
  ConsumerImpl.java): a socket is charged up to 2 x receiverQueueSize at the broker, and a burst is
  handed out round robin in chunks of dispatcherMaxRoundRobinBatchSize.
* redeliveryCount of a departed consumer's messages: raised by 2.5-2.10 (PR #5895), kept by 2.11 on (PR #17060).
* The Java client's timers: nacks tick at delay / 3 (NegativeAcksTracker.java), ack timeouts every
  second (UnAckedMessageTracker.java).
"""

from __future__ import annotations

import itertools
import math

import pytest

from harness.emulator.core import Broker
from harness.emulator.subscription import Delivery
from tests.unit.emulator_helpers import Clock, make_broker, mid, numbers, owners, publish, subscribe


def backlog_of(b: Broker, count: int) -> None:
    """A durable subscription with ``count`` messages waiting and no consumer."""
    first = subscribe(b)
    b.close_consumer(first.id)
    publish(b, count)
    assert b.take_deliveries() == []


def runs(deliveries: list[Delivery]) -> list[int]:
    return [len(list(group)) for _, group in itertools.groupby(owners(deliveries))]


# --- two queues per socket -------------------------------------------------------------------------


def test_a_consumer_attaching_to_a_backlog_takes_twice_its_queue_before_the_next_gets_any() -> None:
    b = make_broker()
    backlog_of(b, 100)
    a = subscribe(b, receiver_queue_size=10)
    pushed = b.take_deliveries()
    assert numbers(pushed) == list(range(10))  # the socket gets receiverQueueSize
    assert a.outstanding == set(range(20))  # the proxy's own consumer prefetched as many again
    c = subscribe(b, receiver_queue_size=10)
    assert numbers(b.take_deliveries()) == list(range(20, 30))
    assert c.outstanding == set(range(20, 40))


def test_the_direct_model_charges_a_socket_one_queue() -> None:
    b = make_broker(queue_model="direct")
    backlog_of(b, 100)
    a = subscribe(b, receiver_queue_size=10)
    assert numbers(b.take_deliveries()) == list(range(10)) and a.outstanding == set(range(10))
    subscribe(b, receiver_queue_size=10)
    assert numbers(b.take_deliveries()) == list(range(10, 20))


def test_the_proxy_asks_the_broker_for_more_only_at_half_its_queue() -> None:
    b = make_broker()
    backlog_of(b, 100)
    a = subscribe(b, receiver_queue_size=10)
    pushed = b.take_deliveries()
    for delivery in pushed[:4]:
        b.ack(a.id, mid(delivery))
    assert numbers(b.take_deliveries()) == [10, 11, 12, 13]  # from the proxy's queue
    assert a.outstanding == set(range(4, 20))  # no flow yet: 4 read is under half of 10
    b.ack(a.id, mid(pushed[4]))
    assert numbers(b.take_deliveries()) == [14]
    assert a.outstanding == set(range(5, 25))  # the fifth read flows 5 permits


def test_the_socket_gets_nothing_more_until_it_acks_even_when_an_ack_timeout_fires() -> None:
    clock = Clock()
    b = make_broker(clock)
    a = subscribe(b, receiver_queue_size=2, ack_timeout_ms=1000)
    publish(b, 6)
    assert numbers(b.take_deliveries()) == [0, 1]
    clock.now += 3
    b.tick(clock.now)
    # Both timed out and went back to the broker, which sent them to the proxy's queue again; the handler's
    # pending count still stands at 2, as an ack timeout does not lower it (ConsumerHandler.java).
    assert b.take_deliveries() == []
    b.ack(a.id, "CAEQAA==")  # any decodable id lowers it
    assert numbers(b.take_deliveries()) == [2]


def test_zero_queue_takes_one_message_at_a_time() -> None:
    b = make_broker()
    backlog_of(b, 5)
    a = subscribe(b, receiver_queue_size=0)
    (first,) = b.take_deliveries()
    assert a.outstanding == {0}
    b.ack(a.id, mid(first))
    assert numbers(b.take_deliveries()) == [1] and a.outstanding == {1}


def test_pull_mode_pushes_what_permits_allow_from_the_prefetched_queue() -> None:
    b = make_broker()
    backlog_of(b, 50)
    a = subscribe(b, receiver_queue_size=10, pull=True)
    assert b.take_deliveries() == [] and a.outstanding == set(range(10))
    b.permit(a.id, 3)
    assert numbers(b.take_deliveries()) == [0, 1, 2]


def test_a_departing_consumer_gives_back_what_its_proxy_held_unpushed() -> None:
    b = make_broker()
    backlog_of(b, 100)
    a = subscribe(b, receiver_queue_size=10)
    b.take_deliveries()
    c = subscribe(b, receiver_queue_size=50)
    b.take_deliveries()
    b.close_consumer(a.id)
    again = b.take_deliveries()
    assert set(numbers(again)) <= set(range(20)) and owners(again) == [c.id] * len(again)
    assert c.outstanding >= set(range(20))  # all 20 charged to a, pushed or not, went back


def test_a_burst_is_handed_out_in_runs_of_up_to_the_round_robin_batch() -> None:
    b = make_broker()
    a, c = subscribe(b), subscribe(b)
    publish(b, 100)
    burst = b.take_deliveries()
    assert runs(burst) == [20] * 5
    assert owners(burst)[:21] == [a.id] * 20 + [c.id]


def test_messages_published_one_read_at_a_time_alternate() -> None:
    b = make_broker()
    subscribe(b), subscribe(b)
    got: list[Delivery] = []
    for i in range(10):
        publish(b, 1, start=i)
        got += b.take_deliveries()
    assert runs(got) == [1] * 10


def test_the_direct_model_dispatches_each_publish_at_once() -> None:
    b = make_broker(queue_model="direct")
    subscribe(b), subscribe(b)
    publish(b, 100)
    assert runs(b.take_deliveries()) == [1] * 100


# --- redeliveryCount after a consumer leaves -------------------------------------------------------


@pytest.mark.parametrize(("version", "counts"), [("2.8", [1, 2]), ("2.11", [0, 0])])
def test_replay_after_a_consumer_leaves(version: str, counts: list[int]) -> None:
    b = make_broker(pulsar_version=version)
    first = subscribe(b, receiver_queue_size=1)
    publish(b, 1)
    b.take_deliveries()
    second = subscribe(b, receiver_queue_size=1)
    b.close_consumer(first.id)
    (again,) = b.take_deliveries()
    assert again.consumer is second and again.redelivery_count == counts[0]
    subscribe(b, receiver_queue_size=1)
    b.close_consumer(second.id)
    (third,) = b.take_deliveries()
    assert third.redelivery_count == counts[1]


@pytest.mark.parametrize("version", ["2.8", "2.11"])
def test_counts_are_forgotten_when_the_last_consumer_leaves(version: str) -> None:
    clock = Clock()
    b = make_broker(clock, pulsar_version=version, timers="exact")
    a = subscribe(b, nack_delay_ms=1000)
    publish(b, 1)
    (first,) = b.take_deliveries()
    b.nack(a.id, mid(first))
    clock.now += 1
    b.tick(clock.now)
    (again,) = b.take_deliveries()
    assert again.redelivery_count == 1
    b.close_consumer(a.id)
    subscribe(b)
    (fresh,) = b.take_deliveries()
    assert fresh.redelivery_count == 0  # PersistentDispatcherMultipleConsumers clears its tracker


# --- the Java client's timers ----------------------------------------------------------------------


def redelivered_after(b: Broker, clock: Clock, first: Delivery, step: float, limit: float) -> float:
    """Advance the clock by ``step`` until ``first``'s message comes back; seconds waited."""
    waited = 0.0
    for _ in range(round(limit / step)):
        clock.now += step
        waited += step
        b.tick(clock.now)
        if any(d.entry == first.entry for d in b.take_deliveries()):
            return waited
    raise AssertionError(f"message {first.entry} did not come back within {limit} s")


@pytest.mark.parametrize("offset", [0.0, 0.05, 0.2, 0.31, 0.5])
def test_a_nack_comes_back_between_the_delay_and_four_thirds_of_it(offset: float) -> None:
    clock = Clock()
    b = make_broker(clock)
    a = subscribe(b, nack_delay_ms=1000)
    publish(b, 2)
    first, second = b.take_deliveries()
    b.nack(a.id, mid(first))  # starts the tracker's timer
    clock.now += offset
    b.tick(clock.now)
    b.take_deliveries()
    b.nack(a.id, mid(second))
    waited = redelivered_after(b, clock, second, 0.001, 3.0)
    if offset == 0.0:
        assert waited == pytest.approx(1.0, abs=0.002)  # both due on the third tick
    else:
        assert 1.0 - 0.002 <= waited <= 4 / 3 + 0.002
        # The tracker ticks every 1/3 s from the first nack; the second is sent back on the first tick after it is due.
        assert waited == pytest.approx(math.ceil(3 * (offset + 1) - 1e-9) / 3 - offset, abs=0.002)


def test_nack_ticks_spread_over_the_third_of_the_delay() -> None:
    clock = Clock()
    b = make_broker(clock)
    a = subscribe(b, nack_delay_ms=900)
    publish(b, 3)
    held = b.take_deliveries()
    b.nack(a.id, mid(held[0]))
    clock.now += 0.1
    b.nack(a.id, mid(held[1]))  # due at 1.0, seen on the tick at 1.2
    clock.now += 0.9
    b.tick(clock.now)
    assert numbers(b.take_deliveries()) == [0]
    clock.now += 0.199
    b.tick(clock.now)
    assert b.take_deliveries() == []
    clock.now += 0.002
    b.tick(clock.now)
    assert numbers(b.take_deliveries()) == [1]


def test_a_nack_waits_at_least_100_ms() -> None:
    clock = Clock()
    b = make_broker(clock)
    a = subscribe(b, nack_delay_ms=0)
    publish(b, 1)
    (first,) = b.take_deliveries()
    b.nack(a.id, mid(first))
    b.tick(clock.now)
    assert b.take_deliveries() == []
    assert redelivered_after(b, clock, first, 0.001, 1.0) == pytest.approx(0.1, abs=0.002)


def test_exact_timers_bring_a_nack_back_at_the_delay() -> None:
    clock = Clock()
    b = make_broker(clock, timers="exact")
    a = subscribe(b, nack_delay_ms=1000)
    publish(b, 2)
    first, second = b.take_deliveries()
    b.nack(a.id, mid(first))
    clock.now += 0.2
    b.nack(a.id, mid(second))
    assert redelivered_after(b, clock, first, 0.001, 3.0) == pytest.approx(0.8, abs=0.002)
    assert redelivered_after(b, clock, second, 0.001, 3.0) == pytest.approx(0.2, abs=0.002)


@pytest.mark.parametrize("offset", [0.0, 0.25, 0.5, 0.999])
def test_an_ack_timeout_fires_within_a_tick_after_the_timeout(offset: float) -> None:
    clock = Clock()
    b = make_broker(clock)
    subscribe(b, ack_timeout_ms=10_000)
    clock.now += 3 + offset  # the tracker ticks every second from the consumer's creation
    publish(b, 1)
    (first,) = b.take_deliveries()
    waited = redelivered_after(b, clock, first, 0.01, 15.0)
    assert 10.0 <= waited <= 11.0 + 0.011
    assert waited == pytest.approx(11.0 - offset, abs=0.011)


def test_an_ack_timeout_under_a_tick_fires_within_twice_the_timeout() -> None:
    clock = Clock()
    b = make_broker(clock)
    subscribe(b, ack_timeout_ms=500)  # under the tracker's 1 s tick: the tick is the timeout
    clock.now += 0.2
    publish(b, 1)
    (first,) = b.take_deliveries()
    assert redelivered_after(b, clock, first, 0.01, 3.0) == pytest.approx(0.8, abs=0.011)


def test_exact_timers_fire_an_ack_timeout_at_the_timeout() -> None:
    clock = Clock()
    b = make_broker(clock, timers="exact")
    subscribe(b, ack_timeout_ms=10_000)
    clock.now += 3.5
    publish(b, 1)
    (first,) = b.take_deliveries()
    assert redelivered_after(b, clock, first, 0.01, 15.0) == pytest.approx(10.0, abs=0.011)
