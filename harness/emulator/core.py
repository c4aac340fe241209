"""The emulated broker, without I/O: topics, subscriptions, producers, acks, timers.

Rule 1: every decision about which consumer gets which message lives in this package; the server
only feeds inputs in (publishes, commands, ``tick(now)``) and carries the :class:`Delivery`
frames and disconnect requests out.
Rule 2: no sockets, no real clock and no hidden randomness: time comes from the ``clock`` passed
in and ``tick(now)``; dispatch itself is deterministic, and the only random choices (which
deliveries a fault hits) come from the fault injector's own ``random.Random``, so every rule is
testable exactly. Stream administration (delete, clear, expire) is in :mod:`harness.emulator.admin`.

Semantics follow Pulsar 2.8 (protocol reference, section 7; ``BrokerConfig.pulsar_version`` "2.11"
for what changed since); the dispatch rules per subscription type are in
:mod:`harness.emulator.dispatch`, the per-subscription state in :mod:`harness.emulator.subscription`,
the WebSocket proxy's own consumer queue in :mod:`harness.emulator.proxy`. Nack and ack-timeout
redeliveries fire on the ticks of the proxy's Java client timers unless ``timers`` is "exact".
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from harness import wire
from harness.emulator.config import (
    MAX_RECEIVER_QUEUE,
    BacklogQuotaExceeded,
    BrokerConfig,
    BrokerError,
    ConsumerOptions,
)
from harness.emulator.dispatch import dispatcher_for
from harness.emulator.faults import FaultInjector
from harness.emulator.frames import PublishTimeFormatter, stamp
from harness.emulator.profiles import RateLimiter
from harness.emulator.proxy import ProxyQueue
from harness.emulator.store import TopicLog
from harness.emulator.subscription import Consumer, Delivery, Subscription
from harness.wire import Topic

#: The Java client's least nack delay (NegativeAcksTracker.java MIN_NACK_DELAY_NANOS, 100 ms).
MIN_NACK_DELAY_S = 0.1
#: The unacked-message tracker's tick (ConsumerConfigurationData tickDurationMillis default, 1000 ms).
ACK_TIMEOUT_TICK_S = 1.0
#: Float slack when a timer's tick lands exactly on a due time.
_EPSILON = 1e-9


@dataclass
class TopicState:
    log: TopicLog
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    producers: dict[int, str] = field(default_factory=dict)
    published: int = 0


class Broker:
    """Topics, subscriptions, producers and timers of one emulated endpoint."""

    def __init__(
        self,
        clock: Callable[[], float],
        config: BrokerConfig | None = None,
        faults: FaultInjector | None = None,
    ) -> None:
        self.clock = clock
        self.config = config or BrokerConfig()
        self.faults = faults
        self.publish_time = PublishTimeFormatter()  # publishTime in UTC, from ``clock``
        self.topics: dict[Topic, TopicState] = {}
        self.consumers: dict[int, Consumer] = {}
        self._next_id = 1
        self._next_ledger = 1
        self._out: list[Delivery] = []
        self._disconnects: list[tuple[int, str]] = []  # (consumer or producer id, reason)
        self._timers: list[tuple[float, int, str, Consumer, int, int]] = []
        self._timer_serial = 0
        self._ack_timeouts = False  # set once any consumer asks for ackTimeoutMillis
        self._batch_reads = self.config.queue_model == "proxy"
        self._unread: dict[Subscription, None] = {}  # published to, not dispatched yet (batched reads)

    # --- topics and producers ------------------------------------------------------------------

    def topic(self, topic: Topic, create: bool = True) -> TopicState:
        state = self.topics.get(topic)
        if state is None:
            if not create:
                raise BrokerError(404, f"Topic {topic} does not exist")
            state = TopicState(TopicLog(topic, self._next_ledger))
            self._next_ledger += 1
            self.topics[topic] = state
        return state

    def add_producer(self, topic: Topic, name: str = "", create: bool = True) -> int:
        state = self.topic(topic, create)
        if name and name in state.producers.values():
            raise BrokerError(409, f"Producer with name '{name}' is already connected to topic")
        producer_id = self._new_id()
        state.producers[producer_id] = name or f"emulator-{producer_id}"
        return producer_id

    def remove_producer(self, topic: Topic, producer_id: int) -> None:
        state = self.topics.get(topic)
        if state is not None:
            state.producers.pop(producer_id, None)

    def publish(self, topic: Topic, fragment: bytes, key: str | None = None) -> bytes:
        """Append a message stamped with ``publishTime`` from the clock and dispatch it.

        ``fragment`` is a parsed publish (:func:`harness.emulator.frames.parse_publish`); returns the
        message id. Raises BacklogQuotaExceeded. In the proxy queue model the dispatch waits for the
        next :meth:`take_deliveries` (or any other dispatch of the subscription): Pulsar's dispatcher
        reads what was added while its previous read was under way in one batch and hands it out round
        robin in chunks (PersistentDispatcherMultipleConsumers.readMoreEntries / sendMessagesToConsumers),
        so a burst arrives in runs of up to dispatcherMaxRoundRobinBatchSize per consumer.
        """
        state = self.topics.get(topic)
        if state is None:  # deleted under its producer: never re-created by a publish
            state = self.topic(topic, create=False)
        log = state.log
        subs = state.subscriptions
        if subs and (
            len(log) >= self.config.max_backlog_messages or log.retained_bytes >= self.config.max_backlog_bytes
        ):
            raise BacklogQuotaExceeded(topic)
        entry = log.append(stamp(fragment, self.publish_time(self.clock())), key)
        state.published += 1
        if not subs:
            log.trim(log.end)  # no subscription: Pulsar retains nothing
        elif self._batch_reads:
            unread = self._unread
            for sub in subs.values():
                if sub.consumers:
                    unread[sub] = None
        else:
            for sub in subs.values():
                if sub.consumers:
                    self._dispatch(sub)
        return log.message_id(entry)

    def flush(self) -> None:
        """Dispatch what was published since the last read, as one batch per subscription."""
        while self._unread:
            sub = next(iter(self._unread))
            self._unread.pop(sub)
            self._dispatch(sub)

    # --- consumers -----------------------------------------------------------------------------

    def subscribe(self, topic: Topic, subscription: str, options: ConsumerOptions, create: bool = True) -> Consumer:
        """Attach a consumer; BrokerError 409 for a second Exclusive consumer or a type mismatch."""
        state = self.topic(topic, create)
        sub = state.subscriptions.get(subscription)
        if sub is None:
            sub = self._new_subscription(state, subscription, options.kind, options.durable)
        elif sub.consumers and sub.kind != options.kind:
            raise BrokerError(409, f"Subscription is of different type: {sub.kind}, not {options.kind}")
        elif sub.consumers and options.kind == "Exclusive":
            raise BrokerError(409, "Exclusive consumer is already connected")
        elif sub.kind != options.kind:
            sub.kind = options.kind
            sub.dispatcher = dispatcher_for(options.kind, self.config.round_robin_batch)
            self._attach_faults(sub)
        return self._attach(sub, options)

    def reader(self, topic: Topic, start: str | int, queue: int = MAX_RECEIVER_QUEUE, name: str = "") -> Consumer:
        """A reader: a non-durable Exclusive subscription from ``earliest``, ``latest`` or an entry."""
        state = self.topic(topic)
        log = state.log
        position = log.first if start == "earliest" else log.end if start == "latest" else int(start)
        sub_name = f"reader-{self._next_id}"
        sub = Subscription(log, sub_name, "Exclusive", dispatcher_for("Exclusive"), durable=False, start=position)
        state.subscriptions[sub_name] = sub
        return self._attach(sub, ConsumerOptions(name=name, receiver_queue_size=queue), proxied=False)

    def _new_subscription(self, state: TopicState, name: str, kind: str, durable: bool = True) -> Subscription:
        sub = Subscription(state.log, name, kind, dispatcher_for(kind, self.config.round_robin_batch), durable)
        if self.config.service_rate > 0:
            sub.rate = RateLimiter(self.config.service_rate, self.clock())
        self._attach_faults(sub)
        state.subscriptions[name] = sub
        return sub

    def _attach_faults(self, sub: Subscription) -> None:
        sub.drop_hook = sub.skew_hook = None
        if self.faults is not None:
            self.faults.attach(sub)

    def _attach(self, sub: Subscription, options: ConsumerOptions, proxied: bool = True) -> Consumer:
        """Attach a consumer socket; ``proxied`` (consumers, not readers) puts the proxy's queue in between
        when the queue model is "proxy"."""
        consumer_id = self._new_id()
        size = max(0, min(options.receiver_queue_size, MAX_RECEIVER_QUEUE))
        nack_delay = options.nack_delay_ms / 1000
        if self.config.timers == "client":
            nack_delay = max(nack_delay, MIN_NACK_DELAY_S)
        consumer = Consumer(
            consumer_id,
            options.name or f"{consumer_id:05x}",
            sub,
            queue=max(1, size),
            priority=options.priority,
            pull=options.pull,
            ack_timeout=options.ack_timeout_ms / 1000,
            nack_delay=nack_delay,
            proxy=ProxyQueue(size, options.pull) if proxied and self.config.queue_model == "proxy" else None,
            since=self.clock(),
        )
        self._ack_timeouts = self._ack_timeouts or consumer.ack_timeout > 0
        sub.add_consumer(consumer)
        self.consumers[consumer_id] = consumer
        self._dispatch(sub, consumer)
        return consumer

    def close_consumer(self, consumer_id: int) -> None:
        """The consumer's socket closed: its unacknowledged messages go to the remaining consumers."""
        consumer = self.consumers.pop(consumer_id, None)
        if consumer is None:
            return
        sub = consumer.subscription
        sub.remove_consumer(consumer, self.config.replay_raises_count)
        if self.faults is not None:
            self.faults.forget(consumer)
        state = self.topics.get(sub.log.topic)
        if not sub.durable and not sub.consumers and state is not None:
            state.subscriptions.pop(sub.name, None)  # a reader's, or a NonDurable one: gone with its last consumer
        if state is not None and state.subscriptions.get(sub.name) is sub:
            self._dispatch(sub)
        elif state is not None:
            self.trim(state)

    def unsubscribe(self, consumer_id: int) -> None:
        """Delete the subscription; refused (412) while other consumers are connected."""
        consumer = self.consumers.get(consumer_id)
        if consumer is None:
            return
        sub = consumer.subscription
        if len(sub.consumers) > 1:
            raise BrokerError(412, "Subscription has other connected consumers")
        state = self.topics.get(sub.log.topic)
        if state is not None:
            state.subscriptions.pop(sub.name, None)
        self.close_consumer(consumer_id)

    def request_disconnect(self, consumer: Consumer, reason: str = "disconnected by the emulator") -> None:
        """Ask the server to close this consumer's socket; it gets nothing more meanwhile."""
        if not consumer.closing:
            consumer.closing = True
            self._disconnects.append((consumer.id, reason))

    def request_producer_disconnect(self, producer_id: int, reason: str) -> None:
        """Ask the server to close this producer's socket (its publishes fail meanwhile if the topic is gone)."""
        self._disconnects.append((producer_id, reason))

    # --- consumer commands ---------------------------------------------------------------------

    def ack(self, consumer_id: int, message_id: str) -> bool:
        """Acknowledge one message for the consumer's subscription; unknown ids are ignored (False)."""
        consumer = self.consumers.get(consumer_id)
        if consumer is None:
            return False
        answered, entry = self._answer(consumer, message_id)
        sub = consumer.subscription
        if entry is None:
            if answered:
                self._dispatch(sub, consumer)
            return False
        before = sub.mark_delete
        known = sub.ack(entry)
        if sub.mark_delete != before:
            self.trim(self.topics[sub.log.topic])
        self._dispatch(sub, consumer)
        return known

    def reader_ack(self, consumer_id: int, message_id: str | None) -> None:
        """Any frame from a reader frees one slot: the acknowledged message, or its oldest one."""
        consumer = self.consumers.get(consumer_id)
        if consumer is None or not consumer.outstanding:
            return
        entry = self._entry_of(consumer, message_id) if message_id else None
        if entry is None or entry not in consumer.outstanding:
            entry = min(consumer.outstanding)
        self.ack(consumer_id, consumer.subscription.log.message_id(entry).decode())

    def nack(self, consumer_id: int, message_id: str) -> bool:
        """Negative ack: redelivered with redeliveryCount + 1 after the consumer's nack delay.

        With client timers the Java client's NegativeAcksTracker decides when: it ticks every
        delay / 3 from the first nack it holds and sends back what is due, so a nack comes back
        between delay and 4/3 x delay after it (NegativeAcksTracker.java, triggerRedelivery).
        """
        consumer = self.consumers.get(consumer_id)
        if consumer is None:
            return False
        answered, entry = self._answer(consumer, message_id)
        sub = consumer.subscription
        if entry is None or not sub.unhold(consumer, entry):
            if answered:
                self._dispatch(sub, consumer)
            return False
        now = self.clock()
        consumer.nacked[entry] = now + consumer.nack_delay
        if self.config.timers == "exact":
            self._schedule("nack", now + consumer.nack_delay, consumer, entry, 0)
        elif consumer.nack_tick is None:
            consumer.nack_tick = now + consumer.nack_delay / 3
            self._schedule("nack-tick", consumer.nack_tick, consumer, 0, 0)
        self._dispatch(sub, consumer)
        return True

    def permit(self, consumer_id: int, count: int) -> None:
        """Pull mode: allow ``count`` more deliveries (ignored in push mode, as Pulsar does)."""
        consumer = self.consumers.get(consumer_id)
        if consumer is None or not consumer.pull or count <= 0:
            return
        if consumer.proxy is not None:
            consumer.proxy.permit(count)
        else:
            consumer.permits += count
        self._dispatch(consumer.subscription, consumer)

    # --- time ----------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Fire due timers: nack and ack-timeout redeliveries, rate refills, delayed faults, disconnects."""
        touched: set[Subscription] = set()
        timers = self._timers
        while timers and timers[0][0] <= now:
            due, _, kind, consumer, entry, serial = heapq.heappop(timers)
            sub = consumer.subscription
            if kind == "nack-tick":
                if self._nack_tick(consumer, due):
                    touched.add(sub)
                continue
            if kind == "nack":
                if consumer.nacked.pop(entry, None) is None:
                    continue  # it went back when its consumer left
            elif consumer.timer_serial.get(entry) != serial or not sub.unhold(consumer, entry):
                continue  # acknowledged, or timed again, since
            sub.redeliver(entry, count=True)
            touched.add(sub)
        for state in self.topics.values():
            for sub in state.subscriptions.values():
                if sub.rate is not None:
                    sub.rate.refill(now)
                    touched.add(sub)
        if self.faults is not None:
            self.faults.now = now
            self.faults.due(now, self._out)
            victim = self.faults.disconnect_due(now, list(self.consumers.values()))
            if victim is not None:
                self.request_disconnect(victim)
        for sub in touched:
            if sub.consumers:
                self._dispatch(sub)

    def _nack_tick(self, consumer: Consumer, now: float) -> bool:
        """One tick of a consumer's nack tracker: send back what is due, tick again while any is held."""
        if consumer.nack_tick != now:
            return False  # a stale tick: its consumer left, or the tracker was restarted since
        nacked = consumer.nacked
        if not nacked:
            consumer.nack_tick = None  # idle until the next nack
            return False
        due = sorted(entry for entry, when in nacked.items() if when <= now + _EPSILON)
        sub = consumer.subscription
        for entry in due:
            del nacked[entry]
            sub.redeliver(entry, count=True)
        consumer.nack_tick = now + consumer.nack_delay / 3
        self._schedule("nack-tick", consumer.nack_tick, consumer, 0, 0)
        return bool(due)

    def busy(self) -> bool:
        """Whether ``tick`` has work soon (the server then ticks often)."""
        if self._timers or self.config.service_rate > 0:
            return True
        return self.faults is not None and self.faults.pending()

    # --- output --------------------------------------------------------------------------------

    def take_deliveries(self) -> list[Delivery]:
        """Every delivery decided since the last call, in order. The caller must send them."""
        if self._unread:
            self.flush()
        out, self._out = self._out, []
        return out

    def take_disconnects(self) -> list[tuple[int, str]]:
        """``(id, reason)`` of each consumer or producer whose socket the server must close
        (fault injection, stream deletion)."""
        out, self._disconnects = self._disconnects, []
        return out

    # --- internals -----------------------------------------------------------------------------

    def _dispatch(self, sub: Subscription, pump: Consumer | None = None) -> None:
        """Let the dispatcher hand out what permits allow, and the proxy queues forward what they may.

        ``pump``: a consumer whose socket may take more now (it acked, nacked or sent permits): its proxy
        queue forwards first, which may flow new permits to the broker. A message dispatched to a proxied
        consumer goes on to its socket at once if the handler has room (Subscription.deliver), so the
        order of frames is the order of the broker's decisions.
        """
        if self._unread:
            self._unread.pop(sub, None)  # this dispatch reads what was published, too
        if not sub.consumers:
            return
        proxy = pump.proxy if pump is not None else None
        if proxy is None and not sub.has_next():
            return
        faults = self.faults
        plain = faults is None and not self._ack_timeouts  # the hot path: nothing to add to the decisions
        decided: list[Delivery] = self._out if plain else []
        if faults is not None:
            faults.now = self.clock()
        if pump is not None and proxy is not None:
            proxy.push(decided, pump.closing)
        sub.dispatch(decided)
        if plain:
            return
        self._arm_ack_timeouts(decided)
        if faults is not None and faults.delivery_faults:
            faults.process(decided, self._out)
        else:
            self._out.extend(decided)

    def _arm_ack_timeouts(self, deliveries: list[Delivery]) -> None:
        """Start the ack timeout of each message pushed to a socket (the proxy's consumer tracks a message
        when the handler reads it from its queue: ConsumerImpl.messageProcessed -> trackMessage)."""
        now: float | None = None
        for delivery in deliveries:
            consumer = delivery.consumer
            if consumer.ack_timeout and delivery.entry not in consumer.timer_serial:
                now = self.clock() if now is None else now
                self._timer_serial += 1
                consumer.timer_serial[delivery.entry] = self._timer_serial
                self._schedule(
                    "ack-timeout", self._ack_due(consumer, now), consumer, delivery.entry, self._timer_serial
                )

    def _ack_due(self, consumer: Consumer, now: float) -> float:
        """When a message tracked at ``now`` times out.

        Exact timers: ``now + ackTimeout``. Client timers: the UnAckedMessageTracker keeps
        ceil(timeout / tick) + 1 time partitions, adds to the newest and, every tick from the consumer's
        creation, redelivers the oldest; so a message times out on the (ceil(timeout / tick) + 1)-th tick
        after it was tracked, between timeout and timeout + tick later (UnAckedMessageTracker.java;
        tick = min(tickDurationMillis, ackTimeout)).
        """
        timeout = consumer.ack_timeout
        if self.config.timers == "exact":
            return now + timeout
        tick = min(ACK_TIMEOUT_TICK_S, timeout)
        partitions = math.ceil(timeout / tick - _EPSILON)
        ticks_done = math.floor((now - consumer.since) / tick + _EPSILON)
        return consumer.since + (ticks_done + 1 + partitions) * tick

    def _schedule(self, kind: str, due: float, consumer: Consumer, entry: int, serial: int) -> None:
        self._timer_serial += 1
        heapq.heappush(self._timers, (due, self._timer_serial, kind, consumer, entry, serial))

    def trim(self, state: TopicState) -> None:
        keep = min((s.mark_delete for s in state.subscriptions.values()), default=state.log.end)
        state.log.trim(keep)

    def _answer(self, consumer: Consumer, message_id: str | None) -> tuple[bool, int | None]:
        """Read an ack or nack frame's message id once: whether the proxy counted it as an answer, and its entry.

        The proxy's handler lowers its pending count for any message id it can decode, known or not
        (ConsumerHandler.handleAck / handleNack -> checkResumeReceive); the entry is None unless the id
        names this consumer's topic.
        """
        ids = _parse_id(message_id)
        if ids is None:
            return False, None
        proxy = consumer.proxy
        if proxy is not None:
            proxy.answered()
        ledger, entry = ids
        return proxy is not None, entry if ledger == consumer.subscription.log.ledger else None

    def _entry_of(self, consumer: Consumer, message_id: str | None) -> int | None:
        ids = _parse_id(message_id)
        if ids is None:
            return None
        ledger, entry = ids
        return entry if ledger == consumer.subscription.log.ledger else None

    def _new_id(self) -> int:
        value = self._next_id
        self._next_id += 1
        return value


def _parse_id(message_id: str | None) -> tuple[int, int] | None:
    """A frame's message id as (ledger, entry); None when it is not one."""
    if not isinstance(message_id, str):
        return None
    try:
        return wire.parse_message_id(message_id)
    except wire.WireError:
        return None
