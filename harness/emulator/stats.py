"""Topic statistics in the shape of Pulsar's TopicStats, for the GDN ``/stats`` endpoint."""

from __future__ import annotations

from typing import Any

from harness.emulator.core import TopicState


def topic_stats(state: TopicState) -> dict[str, Any]:
    subscriptions: dict[str, Any] = {}
    for name, sub in state.subscriptions.items():
        consumers = [
            {
                "consumerName": c.name,
                "availablePermits": c.available(),
                "unackedMessages": len(c.outstanding),
                "priorityLevel": c.priority,
            }
            for c in sub.consumers
        ]
        subscriptions[name] = {
            "type": sub.kind,
            "msgBacklog": sub.backlog,
            "msgOutCounter": sub.delivered,
            "unackedMessages": len(sub.holder),
            "isDurable": sub.durable,
            "consumers": consumers,
        }
    return {
        "msgInCounter": state.published,
        "storageSize": state.log.retained_bytes,
        "backlogSize": state.log.retained_bytes,
        "publishers": [{"producerName": name} for name in state.producers.values()],
        "subscriptions": subscriptions,
    }
