"""The emulated broker, without I/O: topics, durable subscriptions, dispatch, acks.

Rule 1: every decision about which consumer gets which message lives in this package; the server
only feeds inputs in and carries :class:`Delivery` objects out.
Rule 2: no sockets, no clock and no randomness here. Time comes from the ``clock`` passed in, so
every rule can be tested exactly.

Semantics follow Pulsar 2.8 (see the protocol reference, section 7): a subscription is created on
first subscribe at the latest position and keeps its backlog while no consumer is connected; a
consumer may hold at most ``receiverQueueSize`` (capped at 1000) unacknowledged messages; Shared
subscriptions hand out messages round robin, in chunks of up to ``round_robin_batch`` per turn;
a departing consumer's unacknowledged messages go back to the others.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from harness.wire import Topic, message_id, parse_message_id

#: Pulsar caps a WebSocket consumer's receiver queue at this size.
MAX_RECEIVER_QUEUE = 1000


class BrokerError(Exception):
    """A request the broker refuses; ``status`` is the HTTP status of the refused handshake."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class BrokerConfig:
    """Tunables that Pulsar exposes as broker settings."""

    #: ``dispatcherMaxRoundRobinBatchSize``: messages one Shared consumer gets per turn.
    round_robin_batch: int = 20


@dataclass(slots=True)
class StoredMessage:
    """A published message as the topic keeps it."""

    payload_b64: str
    properties: dict[str, str]
    publish_time: float
    key: str | None = None
    event_time: str | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message pushed to one consumer; the server turns it into a frame."""

    consumer_id: int
    message_id: str
    message: StoredMessage
    redelivery_count: int


@dataclass(eq=False)
class ConsumerState:
    consumer_id: int
    subscription: Subscription
    name: str
    receiver_queue: int
    outstanding: set[int] = field(default_factory=set)

    @property
    def permits(self) -> int:
        return self.receiver_queue - len(self.outstanding)


class TopicLog:
    """An append-only log of entries; entries every subscription has acknowledged are trimmed."""

    def __init__(self, topic: Topic, ledger: int) -> None:
        self.topic = topic
        self.ledger = ledger
        self._entries: deque[StoredMessage] = deque()
        self._first = 0  # entry id of self._entries[0]
        self.subscriptions: dict[str, Subscription] = {}

    @property
    def end(self) -> int:
        """The entry id the next publish gets."""
        return self._first + len(self._entries)

    def append(self, message: StoredMessage) -> int:
        self._entries.append(message)
        return self.end - 1

    def get(self, entry: int) -> StoredMessage:
        return self._entries[entry - self._first]

    def trim(self) -> None:
        """Drop entries below every subscription's mark-delete position (or all, with none)."""
        keep_from = min((s.mark_delete for s in self.subscriptions.values()), default=self.end)
        while self._first < keep_from and self._entries:
            self._entries.popleft()
            self._first += 1

    def __len__(self) -> int:
        return len(self._entries)


class Subscription:
    """A durable subscription: a read cursor, acknowledgements and who holds what."""

    def __init__(self, log: TopicLog, name: str, sub_type: str, config: BrokerConfig) -> None:
        self.log = log
        self.name = name
        self.sub_type = sub_type
        self.config = config
        self.cursor = log.end  # next entry never dispatched; starts at the latest position
        self.mark_delete = log.end  # every entry below this is acknowledged
        self.acked: set[int] = set()  # acknowledged entries at or above mark_delete
        self.holder: dict[int, ConsumerState] = {}  # entry -> consumer it is outstanding at
        self.redeliveries: dict[int, int] = {}  # entry -> redeliveryCount
        self._replay: list[int] = []  # heap of entries to dispatch again, lowest first
        self._replay_set: set[int] = set()
        self.consumers: list[ConsumerState] = []
        self._next_consumer = 0

    @property
    def backlog(self) -> int:
        """Messages not yet acknowledged on this subscription."""
        return self.log.end - self.mark_delete - len(self.acked)

    def schedule_replay(self, entry: int) -> None:
        if entry not in self._replay_set and entry not in self.acked and entry >= self.mark_delete:
            self._replay_set.add(entry)
            heapq.heappush(self._replay, entry)

    def _take_next_entry(self) -> int | None:
        while self._replay:
            entry = heapq.heappop(self._replay)
            self._replay_set.discard(entry)
            if entry not in self.acked and entry >= self.mark_delete and entry not in self.holder:
                return entry
        if self.cursor < self.log.end:
            self.cursor += 1
            return self.cursor - 1
        return None

    def _has_next_entry(self) -> bool:
        return bool(self._replay) or self.cursor < self.log.end

    def ack(self, entry: int) -> bool:
        """Record an acknowledgement; returns False when the entry was not outstanding anywhere."""
        holder = self.holder.pop(entry, None)
        if holder is not None:
            holder.outstanding.discard(entry)
        if entry < self.mark_delete or entry >= self.cursor or entry in self.acked:
            return holder is not None
        self.acked.add(entry)
        self.redeliveries.pop(entry, None)
        while self.mark_delete in self.acked:
            self.acked.remove(self.mark_delete)
            self.mark_delete += 1
        return True

    def release(self, consumer: ConsumerState) -> None:
        """Put a departing consumer's unacknowledged messages back for the others."""
        for entry in sorted(consumer.outstanding):
            self.holder.pop(entry, None)
            self.schedule_replay(entry)
        consumer.outstanding.clear()

    def dispatch(self) -> Iterator[Delivery]:
        """Hand out as many messages as the consumers have permits for.

        Shared: round robin over consumers with permits, up to ``round_robin_batch`` each per turn.
        Exclusive: everything to the single consumer.
        """
        while self.consumers and self._has_next_entry():
            consumer = self._next_with_permits()
            if consumer is None:
                return
            batch = min(consumer.permits, self.config.round_robin_batch)
            for _ in range(batch):
                entry = self._take_next_entry()
                if entry is None:
                    return
                yield self._deliver(consumer, entry)

    def _next_with_permits(self) -> ConsumerState | None:
        count = len(self.consumers)
        for step in range(count):
            index = (self._next_consumer + step) % count
            candidate = self.consumers[index]
            if candidate.permits > 0:
                self._next_consumer = (index + 1) % count
                return candidate
        return None

    def _deliver(self, consumer: ConsumerState, entry: int) -> Delivery:
        consumer.outstanding.add(entry)
        self.holder[entry] = consumer
        return Delivery(
            consumer.consumer_id,
            message_id(self.log.ledger, entry),
            self.log.get(entry),
            self.redeliveries.get(entry, 0),
        )


class Broker:
    """Topics and subscriptions of one emulated endpoint."""

    def __init__(self, clock: Callable[[], float], config: BrokerConfig | None = None) -> None:
        self.clock = clock
        self.config = config or BrokerConfig()
        self.topics: dict[Topic, TopicLog] = {}
        self._by_ledger: dict[int, TopicLog] = {}
        self.consumers: dict[int, ConsumerState] = {}
        self._next_consumer_id = 1
        self._outbox: list[Delivery] = []

    def topic(self, topic: Topic) -> TopicLog:
        log = self.topics.get(topic)
        if log is None:
            log = TopicLog(topic, ledger=len(self.topics) + 1)
            self.topics[topic] = log
            self._by_ledger[log.ledger] = log
        return log

    def publish(
        self,
        topic: Topic,
        payload_b64: str,
        properties: dict[str, str] | None = None,
        key: str | None = None,
        event_time: str | None = None,
    ) -> str:
        """Append a message and dispatch it; returns its message id."""
        log = self.topic(topic)
        entry = log.append(StoredMessage(payload_b64, properties or {}, self.clock(), key, event_time))
        if not log.subscriptions:
            log.trim()  # nobody to deliver to: Pulsar retains nothing without a subscription
        else:
            for subscription in log.subscriptions.values():
                self._dispatch(subscription)
        return message_id(log.ledger, entry)

    def subscribe(
        self,
        topic: Topic,
        subscription: str,
        sub_type: str = "Exclusive",
        consumer_name: str = "",
        receiver_queue_size: int = MAX_RECEIVER_QUEUE,
    ) -> int:
        """Attach a consumer; raises :class:`BrokerError` (409) on an Exclusive or type conflict."""
        log = self.topic(topic)
        sub = log.subscriptions.get(subscription)
        if sub is None:
            sub = Subscription(log, subscription, sub_type, self.config)
            log.subscriptions[subscription] = sub
        elif sub.consumers and sub.sub_type != sub_type:
            raise BrokerError(409, f"Subscription {subscription} is of type {sub.sub_type}, not {sub_type}")
        elif sub.consumers and sub_type == "Exclusive":
            raise BrokerError(409, "Exclusive consumer is already connected")
        sub.sub_type = sub_type
        consumer_id = self._next_consumer_id
        self._next_consumer_id += 1
        queue = max(1, min(receiver_queue_size, MAX_RECEIVER_QUEUE))
        state = ConsumerState(consumer_id, sub, consumer_name, queue)
        sub.consumers.append(state)
        self.consumers[consumer_id] = state
        self._dispatch(sub)
        return consumer_id

    def ack(self, consumer_id: int, message_id_text: str) -> bool:
        """Acknowledge one message for the consumer's subscription; unknown ids are ignored."""
        state = self.consumers.get(consumer_id)
        if state is None:
            return False
        entry = self._entry_of(state.subscription, message_id_text)
        if entry is None:
            return False
        known = state.subscription.ack(entry)
        self._dispatch(state.subscription)
        return known

    def close_consumer(self, consumer_id: int) -> None:
        """The consumer left: its unacknowledged messages go to the remaining consumers."""
        state = self.consumers.pop(consumer_id, None)
        if state is None:
            return
        sub = state.subscription
        sub.consumers.remove(state)
        sub.release(state)
        self._dispatch(sub)

    def take_deliveries(self) -> list[Delivery]:
        """Every delivery decided since the last call, in order. The caller must send them."""
        out, self._outbox = self._outbox, []
        return out

    def _dispatch(self, subscription: Subscription) -> None:
        self._outbox.extend(subscription.dispatch())
        subscription.log.trim()

    def _entry_of(self, subscription: Subscription, message_id_text: str) -> int | None:
        try:
            ledger, entry = parse_message_id(message_id_text)
        except ValueError:
            return None
        return entry if ledger == subscription.log.ledger else None
