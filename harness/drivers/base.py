"""One interface between the Locust users and every endpoint's wire.

The users keep what a load test decides: pacing, stamping, event rows, churn, nack and ack-delay
choices, the drain counters. A driver keeps what a protocol decides: how a message is framed, how
a publish is answered, how a delivery arrives and how it is acknowledged. The shape follows
OpenMessaging Benchmark's ``BenchmarkDriver`` / ``BenchmarkProducer`` / ``BenchmarkConsumer``:
one driver per load process, and sessions it opens for one producer or consumer at a time.

Threading contract, for every driver: every listener call happens in a greenlet on the process's
gevent hub, never on a foreign thread, and one session's calls happen one after another, in the
order the endpoint gave them (a consumer's rows keep the order its deliveries arrived in), and
none before the call that opened the session has returned (acks then go out on that session). A
listener may block (a slow consumer sleeps in ``on_delivery``); that session's next call waits.
No driver method blocks the hub: what waits on the network waits cooperatively.

The records below are plain slotted dataclasses, not frozen ones: one is built per message on the
hot path, and a frozen dataclass's ``__init__`` costs several times as much (about 1.5 µs against
0.2 µs for a Delivery here). Nobody mutates them by convention.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from harness.errors import HarnessError
from harness.load.stamp import Stamp


class ConnectError(HarnessError):
    """A session that could not be opened.

    ``status`` is the endpoint's HTTP status for a refused WebSocket handshake (409: the
    subscription admits no further consumer); ``busy`` says the endpoint answered and refused
    only because the subscription type turns a further consumer away (Exclusive, Failover), which
    is no sign of the endpoint being lost.
    """

    def __init__(self, message: str, status: int | None = None, body: str = "", busy: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.busy = busy


class SessionClosed(HarnessError):
    """A send on a session that has closed, or whose connection broke during the send."""


@dataclass(slots=True)
class OutgoingMessage:
    """One stamped message a producer hands over; ``context`` comes back with its outcome."""

    context: int  # the producer's sequence number
    payload: bytes  # the body as sent (with the stamp header at its start under ``--stamp header``)
    properties: Mapping[str, str]  # the stamp, under ``--stamp properties`` (empty otherwise)
    key: str | None = None  # the message key (Key_Shared routes by it)


@dataclass(slots=True)
class Published:
    """The endpoint stored the message: ``message_id`` is its own id for it."""

    context: int
    message_id: str
    at_ns: int  # wall time the answer was received


@dataclass(slots=True)
class Refused:
    """The endpoint answered the publish with an error: the message was not stored."""

    context: int
    error: str
    at_ns: int


PublishOutcome = Published | Refused
"""A send whose session closes before either outcome is indeterminate: no outcome ever comes."""


@dataclass(slots=True)
class Delivery:
    """One message handed to a consumer, as the endpoint gave it."""

    message_id: str  # the endpoint's id, as text (what the event log records)
    stamp: Stamp  # run, uid and send times read from the properties or the payload header
    redelivery: int  # the endpoint's redelivery count
    key: str | None
    size: int  # payload bytes
    received_ns: int  # wall time the bytes arrived (not when this delivery's turn in the listener came)
    publish_ns: int | None  # the endpoint's publish time, where the protocol carries it
    handle: object  # what ``ack`` and ``nack`` need; opaque to the users


@dataclass(slots=True)
class Closed:
    """How a session ended when this side did not end it."""

    at_ns: int  # when the close (or end of stream, or broken connection) was seen
    reason: str  # one line: "closed by peer (1011)", "connection reset", ...


class ProducerListener(Protocol):
    """What a producer user hears from its session."""

    def on_outcome(self, outcome: PublishOutcome) -> None: ...

    def on_closed(self, closed: Closed) -> None:
        """The endpoint ended the session; every send still without an outcome is indeterminate."""

    def on_failure(self, what: str, exc: Exception) -> None:
        """Something the endpoint sent could not be handled (a malformed publish answer): counted, never silent."""


class ConsumerListener(Protocol):
    """What a consumer user hears from its session."""

    def on_delivery(self, delivery: Delivery) -> None: ...

    def on_closed(self, closed: Closed) -> None:
        """The endpoint ended the session; what this consumer held unacked goes back to the subscription."""

    def on_failure(self, what: str, exc: Exception) -> None:
        """Something the endpoint sent could not be handled (a malformed frame): counted, never silent."""


class Session(ABC):
    """One producer's or consumer's connection to the endpoint."""

    @property
    @abstractmethod
    def closed(self) -> bool: ...

    @abstractmethod
    def close(self) -> int:
        """Close on purpose (churn, the user stopping); idempotent; returns when it began closing (wall ns).

        No listener call happens after it returns.
        """


class ProducerSession(Session):
    @abstractmethod
    def send(self, message: OutgoingMessage) -> None:
        """Send one message; its outcome comes to the listener. Raises SessionClosed if it cannot go out."""


class ConsumerSession(Session):
    @abstractmethod
    def ack(self, delivery: Delivery) -> bool:
        """Acknowledge; False (and nothing sent) when the session has closed."""

    @abstractmethod
    def nack(self, delivery: Delivery) -> bool:
        """Negatively acknowledge (redelivered after the nack delay); False when the session has closed."""

    def permit(self, count: int) -> bool:
        """Pull mode: allow ``count`` more deliveries. Drivers without pull mode ignore it (False)."""
        return False


class Driver(ABC):
    """One endpoint protocol for one load process: it opens sessions; ``close`` releases everything."""

    name: str = ""

    @abstractmethod
    def open_producer(self, actor: str, listener: ProducerListener) -> ProducerSession:
        """Connect a producer; cooperative (the hub runs meanwhile). Raises ConnectError."""

    @abstractmethod
    def open_consumer(self, actor: str, listener: ConsumerListener) -> ConsumerSession:
        """Subscribe a consumer named ``actor`` with the run's subscription settings. Raises ConnectError."""

    def close(self) -> None:
        """Release the driver's connections and threads (after every session has closed)."""
