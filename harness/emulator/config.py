"""The broker's settings, a consumer's options and the errors it answers with; no behaviour."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from harness.emulator.dispatch import ROUND_ROBIN_BATCH
from harness.wire import Topic

#: Pulsar caps a WebSocket consumer's receiver queue at this size.
MAX_RECEIVER_QUEUE: Final = 1000

#: ``--queue-model``: ``proxy`` is Pulsar's WebSocket proxy (its own Java consumer prefetches, then pushes
#: to the socket), ``direct`` one layer (the broker pushes straight to the socket).
QUEUE_MODELS: Final = ("proxy", "direct")
#: ``--pulsar-version``: 2.8 raises redeliveryCount on a departed consumer's replayed messages (PR #5895,
#: 2.5 to 2.10), 2.11 keeps it (PR #17060 reverted that).
PULSAR_VERSIONS: Final = ("2.8", "2.11")
#: ``--timers``: ``client`` fires nack and ack-timeout redeliveries on the Java client's coarse ticks,
#: ``exact`` at the millisecond.
TIMER_MODELS: Final = ("client", "exact")


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
    queue_model: str = "proxy"  # one of QUEUE_MODELS
    pulsar_version: str = "2.8"  # one of PULSAR_VERSIONS: what a replay after a consumer leaves counts
    timers: str = "client"  # one of TIMER_MODELS

    @property
    def replay_raises_count(self) -> bool:
        """Whether a departed consumer's messages come back to the others with redeliveryCount + 1."""
        return self.pulsar_version == "2.8"


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
