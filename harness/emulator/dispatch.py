"""Who gets the next message: one dispatcher per subscription type, as Pulsar 2.8 decides.

* Shared: round robin over the consumers that have permits, highest ``priorityLevel`` first (0 is
  highest), each turn giving up to ``dispatcherMaxRoundRobinBatchSize`` messages
  (PersistentDispatcherMultipleConsumers). A consumer's permits are its proxy queue's room in the
  proxy queue model (:mod:`harness.emulator.proxy`), where a burst is also read as one batch.
* Exclusive and Failover: one active consumer, the first by priority and then subscribe order;
  the others get nothing until it leaves.
* Key_Shared: the same key always goes to the same consumer (a hash ring over the consumers);
  messages without a key share one bucket. A message whose consumer is full waits, and so does
  every later message with its key, so per-key order holds.
"""

from __future__ import annotations

import bisect
import zlib
from typing import Final, Protocol

from harness.emulator.subscription import Consumer, Delivery, Subscription

#: Pulsar's ``dispatcherMaxRoundRobinBatchSize`` default.
ROUND_ROBIN_BATCH: Final = 20

#: Key_Shared looks at most this many waiting messages per dispatch (Pulsar reads in batches too).
KEY_SHARED_SCAN: Final = 1000

_RING_POINTS: Final = 64


class Dispatcher(Protocol):
    def dispatch(self, sub: Subscription, out: list[Delivery]) -> None:
        """Hand out as many messages as the consumers have permits for."""

    def consumers_changed(self, sub: Subscription) -> None:
        """A consumer joined or left."""


class SharedDispatcher:
    """Round robin in chunks, by priority level; an optional skew hook may redirect a message."""

    def __init__(self, batch: int = ROUND_ROBIN_BATCH) -> None:
        self.batch = max(1, batch)
        self._next = 0

    def consumers_changed(self, sub: Subscription) -> None:
        self._next %= max(1, len(sub.consumers))

    def _pick(self, consumers: list[Consumer]) -> Consumer | None:
        count = len(consumers)
        best: Consumer | None = None
        best_index = 0
        for step in range(count):
            index = (self._next + step) % count
            candidate = consumers[index]
            if candidate.available() > 0 and (best is None or candidate.priority < best.priority):
                best, best_index = candidate, index
        if best is not None:
            self._next = (best_index + 1) % count
        return best

    def dispatch(self, sub: Subscription, out: list[Delivery]) -> None:
        consumers = sub.consumers
        skew = sub.skew_hook
        while sub.has_next():
            consumer = self._pick(consumers)
            if consumer is None:
                return
            for _ in range(min(consumer.available(), self.batch)):
                entry = sub.next_entry()
                if entry is None:
                    return
                target = consumer if skew is None else skew(sub, consumer, entry)
                sub.deliver(target, entry, out)
                if consumer.available() <= 0:
                    break


class SingleActiveDispatcher:
    """Exclusive and Failover: everything to the first consumer (by priority, then subscribe order)."""

    def consumers_changed(self, sub: Subscription) -> None:
        return

    def dispatch(self, sub: Subscription, out: list[Delivery]) -> None:
        active = sub.consumers[0]
        while active.available() > 0:
            entry = sub.next_entry()
            if entry is None:
                return
            sub.deliver(active, entry, out)


class KeySharedDispatcher:
    """Sticky key hashing over the connected consumers."""

    def __init__(self) -> None:
        self._points: list[int] = []
        self._owners: list[Consumer] = []

    def consumers_changed(self, sub: Subscription) -> None:
        ring = sorted(
            (zlib.crc32(f"{consumer.name}#{consumer.id}/{i}".encode()), consumer.id, consumer)
            for consumer in sub.consumers
            for i in range(_RING_POINTS)
        )
        self._points = [point for point, _, _ in ring]
        self._owners = [consumer for _, _, consumer in ring]

    def owner(self, key: str) -> Consumer:
        index = bisect.bisect(self._points, zlib.crc32(key.encode())) % len(self._points)
        return self._owners[index]

    def dispatch(self, sub: Subscription, out: list[Delivery]) -> None:
        keys = sub.log.keys
        waiting: list[int] = []
        while len(waiting) < KEY_SHARED_SCAN and any(c.available() > 0 for c in sub.consumers):
            entry = sub.next_entry()
            if entry is None:
                break
            consumer = self.owner(keys.get(entry, ""))
            if consumer.available() > 0:
                sub.deliver(consumer, entry, out)
            else:
                waiting.append(entry)
        for entry in waiting:
            sub.push_back(entry)


def dispatcher_for(kind: str, batch: int = ROUND_ROBIN_BATCH) -> Dispatcher:
    if kind == "Shared":
        return SharedDispatcher(batch)
    if kind == "Key_Shared":
        return KeySharedDispatcher()
    return SingleActiveDispatcher()
