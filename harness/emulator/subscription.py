"""A subscription's state: read cursor, acknowledgements, who holds what, what to send again.

Pulsar keeps a durable subscription as a mark-delete position plus the individually acknowledged
entries above it; everything between mark-delete and the read cursor that is neither acknowledged
nor held by a consumer is waiting in the replay set (a departing consumer's messages, negatively
acknowledged or timed-out ones). This module keeps exactly that, with no clock and no I/O.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.emulator.frames import message_frame
from harness.emulator.profiles import RateLimiter
from harness.emulator.proxy import ProxyQueue
from harness.emulator.store import TopicLog

if TYPE_CHECKING:
    from harness.emulator.dispatch import Dispatcher


@dataclass(eq=False, slots=True)
class Consumer:
    """One consumer (or reader) socket attached to a subscription."""

    id: int
    name: str
    subscription: Subscription
    queue: int  # direct push mode: most unacknowledged messages it may hold (receiverQueueSize, capped)
    priority: int = 0  # priorityLevel: 0 is served first
    pull: bool = False  # pullMode: only ``permit`` commands grant deliveries
    permits: int = 0
    ack_timeout: float = 0.0  # seconds; 0 is off
    nack_delay: float = 60.0  # seconds
    closing: bool = False  # a fault disconnect is under way: it gets nothing more
    proxy: ProxyQueue | None = None  # --queue-model proxy: the WebSocket proxy's consumer in between
    since: float = 0.0  # when it subscribed: the phase of its ack-timeout tracker's ticks
    nack_tick: float | None = None  # the nack tracker's next tick (client timers), None while idle
    outstanding: set[int] = field(default_factory=set)  # the broker's pending acks, proxy queue included
    timer_serial: dict[int, int] = field(default_factory=dict)  # entry -> ack-timeout timer, if any
    nacked: dict[int, float] = field(default_factory=dict)  # negatively acknowledged -> when it is due back

    def available(self) -> int:
        """How many more messages the broker may send it now (its permits)."""
        if self.closing:
            return 0
        if self.proxy is not None:
            return self.proxy.permits
        if self.pull:
            return self.permits
        return self.queue - len(self.outstanding)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message frame for one consumer, rendered when decided (the entry may be trimmed later)."""

    consumer: Consumer
    entry: int
    redelivery_count: int
    message_id: bytes
    frame: bytes


DropHook = Callable[["Subscription", int], bool]
SkewHook = Callable[["Subscription", Consumer, int], Consumer]


class Subscription:
    """A durable subscription, or a non-durable one (a reader's, ``subscriptionMode=NonDurable``), on one topic.

    Both keep the log from ``mark_delete`` on while they exist; a non-durable one is removed with
    its last consumer.
    """

    def __init__(
        self,
        log: TopicLog,
        name: str,
        kind: str,
        dispatcher: Dispatcher,
        durable: bool = True,
        start: int | None = None,
    ) -> None:
        self.log = log
        self.name = name
        self.kind = kind
        self.dispatcher = dispatcher
        self.durable = durable
        position = log.end if start is None else max(log.first, min(start, log.end))
        self.cursor = position  # next entry never dispatched
        self.mark_delete = position  # every entry below is acknowledged
        self.acked: set[int] = set()  # acknowledged entries at or above mark_delete
        self.holder: dict[int, Consumer] = {}  # entry -> the consumer it is outstanding at
        self.redeliveries: dict[int, int] = {}  # entry -> redeliveryCount, when not 0
        self._replay: list[int] = []  # heap: entries to dispatch again, lowest first
        self._replay_set: set[int] = set()
        self.consumers: list[Consumer] = []  # by priority, then in subscribe order
        self.rate: RateLimiter | None = None
        self.drop_hook: DropHook | None = None
        self.skew_hook: SkewHook | None = None
        self.delivered = 0  # messages handed out, for stats

    # --- state ---------------------------------------------------------------------------------

    @property
    def backlog(self) -> int:
        """Messages not yet acknowledged on this subscription (Pulsar's ``msgBacklog``)."""
        return self.log.end - self.mark_delete - len(self.acked)

    def has_next(self) -> bool:
        if self.rate is not None and self.rate.tokens < 1:
            return False
        return bool(self._replay) or self.cursor < self.log.end

    def add_consumer(self, consumer: Consumer) -> None:
        index = len(self.consumers)
        while index > 0 and self.consumers[index - 1].priority > consumer.priority:
            index -= 1
        self.consumers.insert(index, consumer)
        self.dispatcher.consumers_changed(self)

    def remove_consumer(self, consumer: Consumer, replay_count: bool = True) -> None:
        """Detach a consumer; its messages go back (``replay_count``: with redeliveryCount + 1, as 2.5-2.10 do).

        With no consumer left Pulsar forgets every redelivery count
        (PersistentDispatcherMultipleConsumers.removeConsumer clears its redeliveryTracker).
        """
        self.consumers.remove(consumer)
        self.release(consumer, count=replay_count and bool(self.consumers))
        if not self.consumers:
            self.redeliveries.clear()
        self.dispatcher.consumers_changed(self)

    # --- dispatch ------------------------------------------------------------------------------

    def next_entry(self) -> int | None:
        """The next entry to hand out: replays first (lowest first), then new entries."""
        if self.rate is not None and self.rate.tokens < 1:
            return None
        replay = self._replay
        while replay:
            entry = heapq.heappop(replay)
            self._replay_set.discard(entry)
            if entry >= self.mark_delete and entry not in self.acked and entry not in self.holder:
                return entry
        end = self.log.end
        if self.cursor < self.log.first:
            self.cursor = self.log.first  # a reader whose position was trimmed away
        while self.cursor < end:
            entry = self.cursor
            self.cursor += 1
            if self.drop_hook is not None and self.drop_hook(self, entry):
                self._mark_acked(entry)
                continue
            return entry
        return None

    def push_back(self, entry: int) -> None:
        """An entry taken but not delivered (Key_Shared: its consumer is full): keep it first in line."""
        if entry not in self._replay_set:
            self._replay_set.add(entry)
            heapq.heappush(self._replay, entry)

    def deliver(self, consumer: Consumer, entry: int, out: list[Delivery]) -> None:
        consumer.outstanding.add(entry)
        self.holder[entry] = consumer
        if self.rate is not None:
            self.rate.tokens -= 1
        count = self.redeliveries.get(entry, 0) if self.redeliveries else 0
        log = self.log
        message_id = log.message_id(entry)
        self.delivered += 1
        delivery = Delivery(consumer, entry, count, message_id, message_frame(message_id, log.fragment(entry), count))
        proxy = consumer.proxy
        if proxy is not None:
            proxy.hold(delivery)  # into the proxy's consumer queue, and on to the socket if it has room
            proxy.push(out, consumer.closing)
            return
        if consumer.pull:
            consumer.permits -= 1
        out.append(delivery)

    # --- acknowledgements and redelivery -------------------------------------------------------

    def ack(self, entry: int) -> bool:
        """Acknowledge one entry for the whole subscription; False if it was unknown or done."""
        holder = self.holder.pop(entry, None)
        if holder is not None:
            holder.outstanding.discard(entry)
            if holder.timer_serial:
                holder.timer_serial.pop(entry, None)
            if holder.proxy is not None:
                holder.proxy.drop(entry)
        if entry < self.mark_delete or entry >= self.cursor or entry in self.acked:
            return holder is not None
        self._mark_acked(entry)
        return True

    def _mark_acked(self, entry: int) -> None:
        if self.redeliveries:
            self.redeliveries.pop(entry, None)
        if entry == self.mark_delete:
            self.mark_delete += 1
            acked = self.acked
            while self.mark_delete in acked:
                acked.remove(self.mark_delete)
                self.mark_delete += 1
        else:
            self.acked.add(entry)

    def unhold(self, consumer: Consumer, entry: int) -> bool:
        """Take an entry back from the consumer that holds it (nack, ack timeout)."""
        if self.holder.get(entry) is not consumer:
            return False
        del self.holder[entry]
        consumer.outstanding.discard(entry)
        consumer.timer_serial.pop(entry, None)
        if consumer.proxy is not None:
            consumer.proxy.drop(entry)
        return True

    def redeliver(self, entry: int, count: bool = True) -> None:
        """Send an entry again to whoever has permits; ``count`` bumps its redeliveryCount."""
        if entry < self.mark_delete or entry in self.acked or entry in self.holder or entry >= self.cursor:
            return
        if count:
            self.redeliveries[entry] = self.redeliveries.get(entry, 0) + 1
        self.push_back(entry)

    def release(self, consumer: Consumer, count: bool = False) -> None:
        """A departing consumer's unacknowledged messages go back; ``count`` raises their redeliveryCount.

        Pulsar 2.5 to 2.10 raise it (PR #5895: the replayed positions join the redelivery tracker,
        and Consumer.sendMessages increments a tracked position's count as it sends it); 2.11 on keep it
        (PR #17060). That includes the messages in the proxy's queue that were never pushed, and the
        ones it negatively acknowledged whose delay has not run out: the broker still counts them all
        as pending at this consumer, so they go back now, not after the delay.
        """
        for entry in sorted(consumer.outstanding):
            if self.holder.get(entry) is consumer:
                del self.holder[entry]
                self.redeliver(entry, count=count)
        for entry in sorted(consumer.nacked):
            self.redeliver(entry, count=count)
        consumer.outstanding.clear()
        consumer.timer_serial.clear()
        consumer.nacked.clear()
        consumer.nack_tick = None
        if consumer.proxy is not None:
            consumer.proxy.held.clear()

    def clear(self) -> None:
        """Skip the whole backlog (REST clearbacklog): everything up to the end counts as acknowledged."""
        for consumer in self.consumers:
            consumer.outstanding.clear()
            consumer.timer_serial.clear()
            consumer.nacked.clear()
            if consumer.proxy is not None:
                for entry in list(consumer.proxy.held):
                    consumer.proxy.drop(entry)
        self.holder.clear()
        self.acked.clear()
        self.redeliveries.clear()
        self._replay.clear()
        self._replay_set.clear()
        self.cursor = self.mark_delete = self.log.end

    def dispatch(self, out: list[Delivery]) -> None:
        if self.consumers and self.has_next():
            self.dispatcher.dispatch(self, out)
