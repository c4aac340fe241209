"""The broker's settings, a consumer's options and the errors it answers with; no behaviour."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from harness.emulator.dispatch import ROUND_ROBIN_BATCH
from harness.wire import Topic

#: Pulsar caps a WebSocket consumer's receiver queue at this size.
MAX_RECEIVER_QUEUE: Final = 1000


class BrokerError(Exception):
    """A request the broker refuses; ``status`` is the HTTP status it maps to."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class BacklogQuotaExceeded(BrokerError):
    """Publishing past the backlog cap: answered with ``send-error:8``, nothing accepted is dropped."""

    def __init__(self, topic: Topic) -> None:
        super().__init__(503, f"Cannot send message: backlog quota exceeded on {topic}")


@dataclass(frozen=True)
class BrokerConfig:
    """Tunables Pulsar exposes as broker settings, plus the emulator's memory cap."""

    round_robin_batch: int = ROUND_ROBIN_BATCH  # dispatcherMaxRoundRobinBatchSize
    max_backlog_messages: int = 2_000_000  # per topic; past it publishes get send-error:8
    max_backlog_bytes: int = 1 << 30  # per topic, stored message bytes (payload, properties, key); same answer
    service_rate: float = 0.0  # messages/s dispatched per subscription (region profile); 0 is no cap


@dataclass(frozen=True)
class ConsumerOptions:
    """A consumer's query parameters, already validated."""

    kind: str = "Exclusive"
    name: str = ""
    receiver_queue_size: int = MAX_RECEIVER_QUEUE
    priority: int = 0
    pull: bool = False
    ack_timeout_ms: int = 0
    nack_delay_ms: int = 60_000
    durable: bool = True  # subscriptionMode=NonDurable: the subscription goes with its last consumer
