"""The WebSocket proxy's own consumer between the broker and one consumer socket (``--queue-model proxy``).

Pulsar's WebSocket proxy subscribes a Java client consumer per socket and forwards from it
(pulsar-websocket ConsumerHandler.java), so a socket sits behind two queues:

* the Java consumer prefetches: the broker may send it ``receiverQueueSize`` messages ahead, and it
  grants the broker more only once it has taken half that many from its queue (pulsar-client
  ConsumerImpl.java: the first flow is the whole queue, then ``increaseAvailablePermits`` flows at
  ``receiverQueueRefillThreshold`` = size / 2); a size of 0 is a zero-queue consumer that asks for one
  message each time it is read (ZeroQueueConsumerImpl.java);
* the handler reads from that queue and writes to the socket while ``pendingMessages`` is below
  ``maxPendingMessages`` (receiverQueueSize, 1 if 0). Every ack or nack frame lowers the count by one,
  whatever it names; an ack timeout does not. In pull mode the limit is 0 and a permit frame lowers it.

So one socket can be charged up to 2 x receiverQueueSize messages at the broker. No clock, no I/O.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.emulator.subscription import Delivery


@dataclass(slots=True)
class ProxyQueue:
    """One socket's proxy-side state: the Java consumer's queue and permits, the handler's pending count."""

    size: int  # the Java consumer's receiverQueueSize (0: zero queue)
    pull: bool = False
    permits: int = 0  # what the broker may still send the proxy's consumer (broker Consumer.java messagePermits)
    unflowed: int = 0  # read from the queue since the last flow to the broker
    pending: int = 0  # the handler's pendingMessages
    held: OrderedDict[int, Delivery] = field(default_factory=OrderedDict)  # entry -> delivery, not yet pushed

    def __post_init__(self) -> None:
        self.permits = self.size  # the Java consumer's first flow asks for its whole queue

    @property
    def max_pending(self) -> int:
        return 0 if self.pull else max(1, self.size)

    def hold(self, delivery: Delivery) -> None:
        """The broker sent a message to the proxy's consumer: it waits in that consumer's queue."""
        self.permits -= 1
        self.held[delivery.entry] = delivery

    def drop(self, entry: int) -> None:
        """An entry taken back (acked, nacked) before it was pushed: gone from the queue, read as far as
        permits go (the Java consumer would have read it and counted it towards its next flow)."""
        if self.held.pop(entry, None) is not None:
            self._read()

    def answered(self) -> None:
        """An ack or nack frame with a message id the handler can decode (ConsumerHandler.checkResumeReceive)."""
        if not self.pull:
            self.pending -= 1

    def permit(self, count: int) -> None:
        """A pull-mode permit frame (ConsumerHandler.handlePermit)."""
        if self.pull:
            self.pending -= count

    def push(self, out: list[Delivery], closing: bool = False) -> bool:
        """Forward from the queue to the socket as the handler would; True when the broker got new permits."""
        if closing:
            return False
        before = self.permits
        held, limit = self.held, self.max_pending
        while held and self.pending < limit:
            _, delivery = held.popitem(last=False)
            self.pending += 1
            out.append(delivery)
            self._read()
        if self.size == 0 and not held and self.pending < limit and self.permits <= 0:
            self.permits = 1  # a zero-queue consumer asks for one message when the handler reads
        return self.permits > before

    def _read(self) -> None:
        if self.size == 0:
            return
        self.unflowed += 1
        if self.unflowed >= self.size // 2:
            self.permits += self.unflowed
            self.unflowed = 0
