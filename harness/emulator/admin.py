"""Stream administration on the broker (the GDN REST side): delete, clear, expire.

These change subscriptions wholesale rather than message by message, so they live apart from the
dispatch path in :mod:`harness.emulator.core`.
"""

from __future__ import annotations

import datetime as dt

from harness.emulator.config import BrokerError
from harness.emulator.core import Broker
from harness.emulator.frames import fragment_fields
from harness.wire import Topic


def delete_topic(broker: Broker, topic: Topic, force: bool = False) -> None:
    """Delete a topic; with ``force`` its consumers and producers are disconnected (else 412)."""
    state = broker.topic(topic, create=False)
    connected = [c for s in state.subscriptions.values() for c in s.consumers]
    if (connected or state.producers) and not force:
        raise BrokerError(412, f"Topic {topic} has active producers or consumers")
    for consumer in connected:
        broker.request_disconnect(consumer, "stream deleted")
    for producer_id in state.producers:
        broker.request_producer_disconnect(producer_id, "stream deleted")
    del broker.topics[topic]


def delete_subscription(broker: Broker, topic: Topic, name: str) -> None:
    state = broker.topic(topic, create=False)
    sub = state.subscriptions.get(name)
    if sub is None:
        raise BrokerError(404, f"Subscription {name} not found")
    if sub.consumers:
        raise BrokerError(412, f"Subscription {name} has active consumers")
    del state.subscriptions[name]
    broker.trim(state)


def clear_backlog(broker: Broker, topic: Topic, name: str | None = None) -> None:
    state = broker.topic(topic, create=False)
    for sub_name, sub in state.subscriptions.items():
        if name is None or sub_name == name:
            sub.clear()
    broker.trim(state)


def expire(broker: Broker, topic: Topic, seconds: int) -> None:
    """Acknowledge, on every subscription, the messages published more than ``seconds`` ago."""
    state = broker.topic(topic, create=False)
    cutoff = broker.clock() - seconds
    log = state.log
    for sub in state.subscriptions.values():
        for entry in range(max(sub.mark_delete, log.first), sub.cursor):
            if entry in sub.acked or entry in sub.holder:
                continue
            published = fragment_fields(log.fragment(entry)).get("publishTime", "")
            if dt.datetime.fromisoformat(published).timestamp() < cutoff:
                sub.ack(entry)
        for entry in range(sub.cursor, log.end):
            published = fragment_fields(log.fragment(entry)).get("publishTime", "")
            if dt.datetime.fromisoformat(published).timestamp() >= cutoff:
                break
            sub.cursor = entry + 1
            sub.ack(entry)
    broker.trim(state)
