"""An in-process broker and its driver: one topic, one Shared subscription, for fast tests of the load side.

What it keeps of a Shared subscription (after Pulsar's PersistentDispatcherMultipleConsumers):
messages go round robin to the consumers that have permits (the receiver queue: a message taken
from a consumer's queue frees its permit), an ack settles a message, a negative ack sends it back
after the nack delay with its redelivery count raised, and a consumer that leaves (or is cut off)
gives back everything it held unacknowledged, redelivered to the others with the count raised.
Publishes are answered with ids ``<n>:0``, in order.

It obeys the drivers' threading contract: every listener call comes from one greenlet per session,
in order; nothing blocks the hub.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import gevent
from gevent import Greenlet
from gevent.event import Event

from harness.drivers.base import (
    Closed,
    ConnectError,
    ConsumerListener,
    ConsumerSession,
    Delivery,
    Driver,
    OutgoingMessage,
    ProducerListener,
    ProducerSession,
    Published,
    PublishOutcome,
    Refused,
    SessionClosed,
)
from harness.load.stamp import read_stamp_raw


@dataclass(slots=True)
class StoredMessage:
    """A message the broker holds until it is acknowledged."""

    message_id: str
    payload: bytes
    properties: Mapping[str, str]
    key: str | None
    publish_ns: int
    redelivery: int = 0


class MemoryBroker:
    """One topic with one Shared subscription. ``max_consumers`` refuses further consumers as busy (HTTP 409)."""

    def check_up(self) -> None:
        """Raises ConnectError while the broker is down."""
        if self.down:
            raise ConnectError("cannot connect: [Errno 111] Connection refused")

    def __init__(
        self,
        receiver_queue_size: int = 1000,
        nack_delay_s: float = 0.05,
        max_consumers: int | None = None,
        refuse: Callable[[OutgoingMessage], str] | None = None,
    ) -> None:
        self.receiver_queue_size = max(1, receiver_queue_size)
        self.nack_delay_s = nack_delay_s
        self.max_consumers = max_consumers
        self.refuse = refuse  # a publish it answers with a non-empty error is refused, not stored
        self.down = False  # while set, every connect fails as an unreachable endpoint's would
        self.backlog: deque[StoredMessage] = deque()  # stored, held by no consumer
        self.consumers: list[MemoryConsumerSession] = []
        self.producers: list[MemoryProducerSession] = []
        self.published: list[str] = []  # every message id, in publish order
        self.acked: dict[str, int] = {}  # message id -> acks received
        self._next = 0
        self._turn = 0

    @property
    def unacked(self) -> int:
        """Messages stored and not yet acknowledged (in the backlog, in flight or held)."""
        return len(self.published) - len(self.acked)

    def publish(self, message: OutgoingMessage) -> PublishOutcome:
        now = time.time_ns()
        error = self.refuse(message) if self.refuse is not None else ""
        if error:
            return Refused(message.context, error, now)
        message_id = f"{self._next}:0"
        self._next += 1
        self.published.append(message_id)
        self.backlog.append(StoredMessage(message_id, message.payload, message.properties, message.key, now))
        self.dispatch()
        return Published(message.context, message_id, now)

    def dispatch(self) -> None:
        """Hand the backlog out, round robin over the consumers with permits."""
        consumers = self.consumers
        while self.backlog and consumers:
            for step in range(len(consumers)):
                consumer = consumers[(self._turn + step) % len(consumers)]
                if consumer.permits > 0:
                    self._turn = (self._turn + step + 1) % len(consumers)
                    consumer.push(self.backlog.popleft())
                    break
            else:
                return  # every consumer's queue is full

    def give_back(self, messages: list[StoredMessage]) -> None:
        """Messages a consumer held go back to the front, redelivered with the count raised."""
        for message in reversed(messages):
            if message.message_id not in self.acked:
                message.redelivery += 1
                self.backlog.appendleft(message)
        self.dispatch()

    def ack(self, message_id: str) -> None:
        self.acked[message_id] = self.acked.get(message_id, 0) + 1

    def end_sessions(self, reason: str = "closed by peer (1011)") -> None:
        """The broker drops every session, as an endpoint restart would (each hears ``on_closed``)."""
        for consumer in list(self.consumers):
            consumer.end(reason)
        for producer in list(self.producers):
            producer.end(reason)


class MemoryProducerSession(ProducerSession):
    """Sends are stored at once; their answers reach the listener from this session's greenlet, in order."""

    def __init__(self, broker: MemoryBroker, listener: ProducerListener) -> None:
        self.broker = broker
        self.listener = listener
        self._outcomes: deque[PublishOutcome] = deque()
        self._wake = Event()
        self._closing = False
        self._ended: str | None = None
        self._greenlet: Greenlet = gevent.spawn(self._run)

    @property
    def closed(self) -> bool:
        return self._closing or self._ended is not None

    def send(self, message: OutgoingMessage) -> None:
        if self.closed:
            raise SessionClosed("the session is closed")
        self._outcomes.append(self.broker.publish(message))
        self._wake.set()

    def end(self, reason: str) -> None:
        if not self.closed:
            self._ended = reason
            self._wake.set()

    def close(self) -> int:
        at_ns = time.time_ns()
        if not self._closing:
            self._closing = True
            if self in self.broker.producers:
                self.broker.producers.remove(self)
            if self._greenlet is not gevent.getcurrent():
                self._greenlet.kill(block=True, timeout=2)
        return at_ns

    def _run(self) -> None:
        while True:
            while self._outcomes and self._ended is None:
                self.listener.on_outcome(self._outcomes.popleft())
            if self._ended is not None:
                if self in self.broker.producers:
                    self.broker.producers.remove(self)
                self.listener.on_closed(Closed(time.time_ns(), self._ended))
                return
            self._wake.clear()
            self._wake.wait()


class MemoryConsumerSession(ConsumerSession):
    """A receiver queue of ``receiver_queue_size`` permits; deliveries reach the listener from one greenlet."""

    def __init__(self, broker: MemoryBroker, listener: ConsumerListener) -> None:
        self.broker = broker
        self.listener = listener
        self.permits = broker.receiver_queue_size
        self._queue: deque[tuple[StoredMessage, int]] = deque()  # (message, when it arrived)
        self.held: dict[str, StoredMessage] = {}  # dispatched to this consumer, not yet acknowledged
        self._wake = Event()
        self._closing = False
        self._ended: str | None = None
        self._last_ns = 0
        self._greenlet: Greenlet = gevent.spawn(self._run)

    @property
    def closed(self) -> bool:
        return self._closing or self._ended is not None

    def push(self, message: StoredMessage) -> None:
        self.permits -= 1
        self.held[message.message_id] = message
        self._last_ns = max(time.time_ns(), self._last_ns + 1)  # arrival order survives equal clock readings
        self._queue.append((message, self._last_ns))
        self._wake.set()

    def ack(self, delivery: Delivery) -> bool:
        if self.closed:
            return False
        message = self.held.pop(str(delivery.handle), None)
        if message is not None:
            self.broker.ack(message.message_id)
        return True

    def nack(self, delivery: Delivery) -> bool:
        if self.closed:
            return False
        message = self.held.pop(str(delivery.handle), None)
        if message is not None:
            gevent.spawn_later(self.broker.nack_delay_s, self.broker.give_back, [message])
        return True

    def end(self, reason: str) -> None:
        if not self.closed:
            self._ended = reason
            self._leave()
            self._wake.set()

    def close(self) -> int:
        at_ns = time.time_ns()
        if not self._closing:
            self._closing = True
            if self._greenlet is not gevent.getcurrent():
                self._greenlet.kill(block=True, timeout=2)
            self._leave()
        return at_ns

    def _leave(self) -> None:
        """Out of the subscription: what this consumer held goes to the others."""
        if self in self.broker.consumers:
            self.broker.consumers.remove(self)
        held = list(self.held.values())
        self.held.clear()
        self._queue.clear()
        self.broker.give_back(held)

    def _run(self) -> None:
        while True:
            while self._queue and self._ended is None:
                message, arrived_ns = self._queue.popleft()
                self.permits += 1  # taken from the receiver queue: room for one more
                self.broker.dispatch()
                self.listener.on_delivery(
                    Delivery(
                        message_id=message.message_id,
                        stamp=read_stamp_raw(message.properties, message.payload),
                        redelivery=message.redelivery,
                        key=message.key,
                        size=len(message.payload),
                        received_ns=arrived_ns,
                        publish_ns=message.publish_ns,
                        handle=message.message_id,
                    )
                )
            if self._ended is not None:
                self.listener.on_closed(Closed(time.time_ns(), self._ended))
                return
            self._wake.clear()
            self._wake.wait()


class MemoryDriver(Driver):
    """Sessions on a :class:`MemoryBroker` (a fresh one unless the test hands its own)."""

    name = "memory"

    def __init__(self, broker: MemoryBroker | None = None) -> None:
        self.broker = broker or MemoryBroker()

    def open_producer(self, actor: str, listener: ProducerListener) -> ProducerSession:
        gevent.sleep(0)  # connecting is cooperative
        self.broker.check_up()
        session = MemoryProducerSession(self.broker, listener)
        self.broker.producers.append(session)
        return session

    def open_consumer(self, actor: str, listener: ConsumerListener) -> ConsumerSession:
        gevent.sleep(0)
        broker = self.broker
        broker.check_up()
        if broker.max_consumers is not None and len(broker.consumers) >= broker.max_consumers:
            raise ConnectError("handshake refused with HTTP 409", 409, "consumer busy", busy=True)
        session = MemoryConsumerSession(broker, listener)
        broker.consumers.append(session)
        broker.dispatch()
        return session
