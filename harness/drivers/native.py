"""The native driver: Pulsar's binary protocol through the official ``pulsar-client`` (C++ inside).

Threading. The C++ client calls back (publish receipts, deliveries, open and close completions) on
its own threads. Every callback only appends to a session's :class:`Mailbox` (or sets a
:class:`HubFuture`) and returns; a greenlet per session hands the items to the listener on the hub,
in arrival order. No blocking client call runs on the hub: opening and closing use the client's
``*_async`` variants, acks use ``acknowledge_async`` (the blocking ``acknowledge`` waits on a
promise), ``negative_acknowledge`` and ``send_async`` only queue.

Flow control. The C++ client hands a listener one message at a time and grants the broker a permit
for the next only when the listener returns; this listener returns at once, so the session pauses
the C++ listener while its mailbox holds ``receiver_queue_size`` deliveries (at least one) and
resumes it when the mailbox is empty. A consumer therefore holds at most about twice its receiver
queue (the C++ queue plus the mailbox), where a native listener holds the queue plus one.

Connection loss. pulsar-client reconnects by itself and tells nobody. The load users need to know
(a user cut off while the endpoint is down), so the rule here is: a session whose producer or
consumer reports ``is_connected() == False`` at a check (every :data:`WATCH_INTERVAL_S`), or whose
send receipt says the connection failed (:data:`LOSS_RESULTS`), is lost: its listener hears
``on_closed``, the C++ producer or consumer is closed, and the user opens a new session. Sends still
without a receipt then are indeterminate: they get no outcome.

pulsar-lite 0.2.0 consumer ids. pulsar-lite keys a subscription's consumers by the client-chosen
consumer id (real Pulsar scopes it to the connection), and every client numbers its consumers 0, 1,
2, ... (C++ ``ClientImpl::newConsumerId``, called in the ``ConsumerImpl`` constructor once the topic's
partition lookup succeeded). With ``distinct_consumer_ids``, each consumer session gets a client of
its own: it burns ``index + count * slot`` ids with throw-away readers on a pad topic (a reader is a
non-durable ``ConsumerImpl``: one id, nothing left on the broker), so its real consumer gets exactly
that id, distinct from every other process's (other residue mod ``count``) and from this process's
other live consumers (other ``slot``). A fresh client is what keeps this exact: a failed subscribe
may or may not have used an id (a timeout before or after the lookup looks the same), and a client
that failed is thrown away, never reused. A slot is reused only once its client's close completed.
The client of its own also keeps pulsar-lite's answer to any refused subscribe (it closes the whole
connection, e.g. for a second Exclusive consumer) away from the producers and other consumers.
"""

from __future__ import annotations

import functools
import logging
import time
import weakref
from collections.abc import Callable
from typing import Any

import _pulsar
import gevent
import pulsar

from harness.drivers import Placement
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
    Refused,
    SessionClosed,
)
from harness.drivers.gevent_bridge import HubFuture, Mailbox
from harness.load.stamp import read_stamp_raw
from harness.settings import LoadSettings
from harness.targets.base import NativeEndpoint, TargetError

#: How often open sessions are asked whether their connection is up.
WATCH_INTERVAL_S = 0.25
#: The C++ client's own bound on lookups, subscribes and producer creation.
OPERATION_TIMEOUT_S = 10
#: How long a greenlet waits for an open beyond the client's own timeout before giving up.
OPEN_GRACE_S = 5.0
#: How long closing the client may take before the driver stops waiting (its threads are daemons).
CLOSE_TIMEOUT_S = 5.0
#: Sends a producer may have without a receipt before the client refuses more (ProducerQueueIsFull).
MAX_PENDING_MESSAGES = 100_000
#: A publish not answered within this is failed by the client with Timeout (indeterminate).
SEND_TIMEOUT_MS = 30_000

#: Where the C++ client's warnings and errors go (its default is INFO and up on stdout).
CLIENT_LOG_PATH = "/dev/stderr"

#: Send receipts that say the connection failed, not the broker refusing this message: the session is lost.
LOSS_RESULTS = frozenset(
    {
        _pulsar.Result.Timeout,
        _pulsar.Result.AlreadyClosed,
        _pulsar.Result.NotConnected,
        _pulsar.Result.ConnectError,
        _pulsar.Result.Interrupted,
        _pulsar.Result.ProducerFenced,
    }
)
#: Subscribe results that mean the subscription turns a further consumer away (Exclusive, Failover).
BUSY_RESULTS = frozenset({_pulsar.Result.ConsumerBusy})

SUBSCRIPTION_TYPES = {
    "Shared": _pulsar.ConsumerType.Shared,
    "Exclusive": _pulsar.ConsumerType.Exclusive,
    "Failover": _pulsar.ConsumerType.Failover,
    "Key_Shared": _pulsar.ConsumerType.KeyShared,
}

log = logging.getLogger(__name__)


def _ignore_result(_result: object) -> None:
    """Callback for acks and closes whose outcome changes nothing here."""


def client_logger() -> Any:
    """The C++ client's own file logger on stderr, WARN and up, filtered in C++.

    Not a Python logger: the client sends every line of every level (DEBUG included) through a
    Python logger, taking the GIL on its own threads, and an executor thread logging its exit while
    the interpreter shuts down aborts the process ("terminate called without an active exception").
    The client never logs the token: ``AuthToken`` only puts it in the CONNECT command.
    """
    return pulsar.FileLogger(pulsar.LoggerLevel.Warn, CLIENT_LOG_PATH)


def _result_name(value: object) -> str:
    """``Timeout``, ``ConsumerBusy``, ... from a ``_pulsar.Error`` or ``_pulsar.Result``."""
    if isinstance(value, _pulsar.Error):
        detail = f": {value.message}" if value.message else ""
        return f"{value.error.name}{detail}"
    name = getattr(value, "name", None)
    return str(name) if name else str(value)


class NativeDriver(Driver):
    """One pulsar-client ``Client`` per load process (plus one per consumer where ids must be distinct)."""

    name = "native"

    def __init__(self, native: NativeEndpoint, settings: LoadSettings, placement: Placement) -> None:
        if settings.subscription_type not in SUBSCRIPTION_TYPES:
            raise TargetError(f"subscription type {settings.subscription_type!r} is not one pulsar-client knows")
        self.native = native
        self.settings = settings
        self.placement = placement
        self._logger = client_logger()
        self._clients_per_consumer = native.distinct_consumer_ids
        self._slots: set[int] = set()  # consumer slots in use (per-consumer clients)
        self._closing: list[_Closing] = []  # closes not yet completed, or whose callback C++ still holds
        # Every client, producer and consumer handle this driver made, kept until the driver is gone:
        # a C++ object that holds a Python callable (a listener, a callback) and dies on one of the
        # client's threads while the interpreter exits takes the GIL too late, and the process aborts
        # ("terminate called without an active exception"). Held here, they die on the main thread.
        self._handles: list[Any] = []
        self._client = self._new_client()
        self._sessions: set[_NativeSession] = set()
        self._watcher: gevent.Greenlet[Any, None] | None = None
        self._closed = False

    # -- clients -------------------------------------------------------------------------------

    def _new_client(self) -> pulsar.Client:
        """A client; creating one starts its threads but opens no connection (cheap on the hub)."""
        native = self.native
        tls = native.tls
        try:
            client = pulsar.Client(
                native.service_url,
                authentication=pulsar.AuthenticationToken(native.token) if native.token else None,
                operation_timeout_seconds=OPERATION_TIMEOUT_S,
                tls_trust_certs_file_path=tls.ca_file or None,
                tls_allow_insecure_connection=tls.insecure,
                tls_validate_hostname=not tls.insecure,
                logger=self._logger,
            )
        except (ValueError, _pulsar.PulsarException) as exc:
            raise TargetError(f"pulsar client for {native.service_url}: {exc}") from None
        return self._keep(client)

    def _await(self, start: Callable[[Callable[[Any], None]], None], what: str) -> Any:
        """Run an ``*_async_v2`` call and wait cooperatively for its value (a handle or ``_pulsar.Error``)."""
        future: HubFuture[Any] = HubFuture()
        start(future.set)
        try:
            return self._keep(future.get(timeout=OPERATION_TIMEOUT_S + OPEN_GRACE_S))
        except gevent.Timeout:
            future.then(self._close_late)  # nobody waits any more
            raise ConnectError(f"{what}: no answer within {OPERATION_TIMEOUT_S + OPEN_GRACE_S:g} s") from None

    # -- producers -----------------------------------------------------------------------------

    def open_producer(self, actor: str, listener: ProducerListener) -> ProducerSession:
        self._check_open()
        conf = _pulsar.ProducerConfiguration()
        conf.send_timeout_millis(SEND_TIMEOUT_MS)
        conf.max_pending_messages(MAX_PENDING_MESSAGES)
        conf.max_pending_messages_across_partitions(MAX_PENDING_MESSAGES)
        conf.block_if_queue_full(False)  # a full queue is a Refused outcome, never a blocked hub
        conf.batching_enabled(self.settings.batching)
        client = self._client._client
        value = self._await(
            lambda done: client.create_producer_async_v2(self.native.topic, conf, done),
            "create producer",
        )
        if isinstance(value, _pulsar.Error):
            raise ConnectError(f"create producer on {self.native.topic}: {_result_name(value)}")
        session = NativeProducerSession(self, value, listener)
        self._track(session)
        return session

    # -- consumers -----------------------------------------------------------------------------

    def open_consumer(self, actor: str, listener: ConsumerListener) -> ConsumerSession:
        self._check_open()
        if not self._clients_per_consumer:
            return self._subscribe(self._client, None, -1, actor, listener)
        slot = next(s for s in range(len(self._slots) + 1) if s not in self._slots)
        self._slots.add(slot)
        own = self._new_client()
        try:
            self._burn_ids(own, self.placement.index + self.placement.count * slot)
            return self._subscribe(own, own, slot, actor, listener)
        except BaseException:
            self._close_handle(own._client, slot)
            raise

    def _burn_ids(self, client: pulsar.Client, count: int) -> None:
        """Use up the client's first ``count`` consumer ids with readers on a pad topic, all at once."""
        if not count:
            return
        pad = f"{self.native.topic}-consumer-id-pad"
        futures: list[HubFuture[Any]] = []
        for _ in range(count):
            conf = _pulsar.ReaderConfiguration()
            conf.receiver_queue_size(1)
            future: HubFuture[Any] = HubFuture()
            client._client.create_reader_async_v2(pad, _pulsar.MessageId.latest, conf, future.set)
            futures.append(future)
        deadline = time.monotonic() + OPERATION_TIMEOUT_S + OPEN_GRACE_S
        failure = ""
        for future in futures:
            try:
                value = future.get(timeout=max(0.0, deadline - time.monotonic()))
            except gevent.Timeout:
                future.then(self._close_late)  # nobody waits any more
                failure = failure or "no answer"
                continue
            if isinstance(value, _pulsar.Error):
                failure = failure or _result_name(value)
            else:
                self._close_handle(self._keep(value))
        if failure:
            raise ConnectError(f"subscribe {self.native.subscription}: padding the consumer id failed: {failure}")

    def _subscribe(
        self, client: pulsar.Client, own: pulsar.Client | None, slot: int, actor: str, listener: ConsumerListener
    ) -> ConsumerSession:
        settings = self.settings
        session = NativeConsumerSession(self, listener, own, slot, max(1, settings.receiver_queue_size))
        conf = _pulsar.ConsumerConfiguration()
        conf.consumer_type(SUBSCRIPTION_TYPES[settings.subscription_type])
        conf.receiver_queue_size(settings.receiver_queue_size)
        conf.consumer_name(actor)
        if settings.ack_timeout_ms:
            conf.unacked_messages_timeout_ms(settings.ack_timeout_ms)
        conf.negative_ack_redelivery_delay_ms(settings.nack_delay_ms)
        # Latest, as Pulsar's WebSocket proxy and the emulator: it only matters when the subscription
        # is new, and the users subscribe before any producer sends.
        conf.subscription_initial_position(_pulsar.InitialPosition.Latest)
        conf.message_listener(session._on_message)
        value = self._await(
            lambda done: client._client.subscribe_async_v2(self.native.topic, self.native.subscription, conf, done),
            "subscribe",
        )
        if isinstance(value, _pulsar.Error):
            session._abandon()
            busy = value.error in BUSY_RESULTS and settings.subscription_type in ("Exclusive", "Failover")
            raise ConnectError(
                f"subscribe {self.native.subscription} on {self.native.topic}: {_result_name(value)}", busy=busy
            )
        session._attach(value)
        self._track(session)
        return session

    # -- bookkeeping ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ConnectError("the native driver is closed")

    def _track(self, session: _NativeSession) -> None:
        self._sessions.add(session)
        if self._watcher is None or self._watcher.dead:
            self._watcher = gevent.spawn(self._watch)

    def _forget(self, session: _NativeSession) -> None:
        self._sessions.discard(session)

    def _keep(self, handle: Any) -> Any:
        if not isinstance(handle, _pulsar.Error):
            self._handles.append(handle)
        return handle

    def _close_late(self, value: object) -> None:
        """An open that answered after its caller gave up: close what it opened."""
        if hasattr(value, "close_async"):
            self._close_handle(self._keep(value))

    def _close_handle(self, handle: Any, slot: int = -1) -> None:
        """``close_async`` a producer, consumer or a consumer's own client, tracked until it completes.

        A consumer's slot (its consumer id) is reused only once its client's close completed, i.e.
        once the broker let go of that id.
        """
        closing = _Closing()
        self._closing.append(closing)
        if slot >= 0:
            closing.future.then(lambda _result: self._slots.discard(slot))
        handle.close_async(closing.callback())

    def _wait_closing(self, deadline: float) -> bool:
        """Wait until every close completed and C++ let go of its callback; False at the deadline."""
        while time.monotonic() < deadline:
            self._closing = [closing for closing in self._closing if not closing.released()]
            if not self._closing:
                return True
            gevent.sleep(0.005)
        return False

    def _watch(self) -> None:
        """Declares a session lost once its producer or consumer says it is not connected."""
        while self._sessions and not self._closed:
            gevent.sleep(WATCH_INTERVAL_S)
            for session in list(self._sessions):
                if not session.closed and not session._connected():
                    session._lose("connection lost")

    def close(self) -> None:
        """Close every session, then the client; bounded, cooperative."""
        if self._closed:
            return
        self._closed = True
        # Sessions stop listening; the client's close closes their producers and consumers. Closing
        # each as well only races the client's close (and logs "Failed to close ...: AlreadyClosed").
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        self._wait_closing(deadline)  # sessions closed just before: their closes first
        for session in list(self._sessions):
            session._shut()
        self._close_handle(self._client._client)
        # Wait for every close, and for C++ to drop its callback: the client's close runs a detached
        # thread that holds the callback after calling it, and a thread that releases a Python object
        # while the interpreter exits aborts the process ("terminate called without an active
        # exception"; seen with the driver closed just before the process ended).
        if not self._wait_closing(deadline):
            log.warning("pulsar client did not close within %g s", CLOSE_TIMEOUT_S)


class _CloseCallback:
    """The callable handed to one ``close_async``; only C++ holds it (pybind11 keeps a reference)."""

    __slots__ = ("future", "__weakref__")

    def __init__(self, future: HubFuture[Any]) -> None:
        self.future = future

    def __call__(self, result: Any) -> None:
        self.future.set(result)


class _Closing:
    """One ``close_async`` in flight: done when it completed and C++ let go of its callback.

    The driver keeps only a weak reference to the callback, so it dies exactly when the C++
    ``std::function`` holding it does; after that no C++ thread touches Python for this close.
    """

    __slots__ = ("future", "_callback", "_hold")

    def __init__(self) -> None:
        self.future: HubFuture[Any] = HubFuture()
        callback = _CloseCallback(self.future)
        self._callback = weakref.ref(callback)
        self._hold: _CloseCallback | None = callback

    def callback(self) -> _CloseCallback:
        """The callable for ``close_async``, handed over once (the driver keeps no strong reference)."""
        callback, self._hold = self._hold, None
        assert callback is not None
        return callback

    def released(self) -> bool:
        return self.future.ready and self._callback() is None


class _NativeSession:
    """What the driver's watcher needs of a session."""

    @property
    def closed(self) -> bool:
        raise NotImplementedError

    def _connected(self) -> bool:
        raise NotImplementedError

    def _lose(self, reason: str) -> None:
        raise NotImplementedError

    def close(self) -> int:
        raise NotImplementedError

    def _shut(self) -> None:
        """The driver closes: stop listening and leave the producer or consumer to the client's close."""
        raise NotImplementedError


class _Lost:
    """The mailbox item that ends a lost session, after everything that arrived before it."""

    __slots__ = ("closed",)

    def __init__(self, closed: Closed) -> None:
        self.closed = closed


class NativeProducerSession(_NativeSession, ProducerSession):
    """A C++ producer; receipts come back through the mailbox as outcomes."""

    def __init__(self, driver: NativeDriver, producer: Any, listener: ProducerListener) -> None:
        self._driver = driver
        self._producer = producer
        self._listener = listener
        self._closed = False
        self._mailbox: Mailbox[tuple[int, Any, Any, int] | _Lost] = Mailbox(self._handle, name="native-producer")

    @property
    def closed(self) -> bool:
        return self._closed

    def send(self, message: OutgoingMessage) -> None:
        if self._closed:
            raise SessionClosed("producer session is closed")
        builder = _pulsar.MessageBuilder()
        builder.content(message.payload)
        if message.properties:
            builder.properties(dict(message.properties))
        if message.key:
            builder.partition_key(message.key)
        self._producer.send_async(builder.build(), functools.partial(self._sent, message.context))

    def _sent(self, context: int, result: Any, message_id: Any) -> None:
        """C++ thread: the receipt, timed now, goes to the hub."""
        self._mailbox.post((context, result, message_id, time.time_ns()))

    def _handle(self, item: tuple[int, Any, Any, int] | _Lost) -> None:
        if isinstance(item, _Lost):
            self._mailbox.stop()
            self._listener.on_closed(item.closed)
            return
        context, result, message_id, at_ns = item
        if result == _pulsar.Result.Ok:
            self._listener.on_outcome(Published(context, str(message_id), at_ns))
        elif result in LOSS_RESULTS:
            self._lose(f"connection lost: send failed with {_result_name(result)}")
        else:
            self._listener.on_outcome(Refused(context, _result_name(result), at_ns))

    def _connected(self) -> bool:
        return bool(self._producer.is_connected())

    def _lose(self, reason: str) -> None:
        """Closed by the endpoint: what arrived before goes out first, then ``on_closed``."""
        if self._closed:
            return
        self._closed = True
        self._driver._forget(self)
        self._mailbox.post(_Lost(Closed(time.time_ns(), reason)))
        self._driver._close_handle(self._producer)

    def close(self) -> int:
        began = time.time_ns()
        self._mailbox.stop()
        if not self._closed:
            self._closed = True
            self._driver._forget(self)
            self._driver._close_handle(self._producer)
        return began

    def _shut(self) -> None:
        self._mailbox.stop()
        self._closed = True
        self._driver._forget(self)


class NativeConsumerSession(_NativeSession, ConsumerSession):
    """A C++ consumer whose listener hands each message to the hub with the time it arrived."""

    def __init__(
        self, driver: NativeDriver, listener: ConsumerListener, own: pulsar.Client | None, slot: int, pause_at: int
    ) -> None:
        self._driver = driver
        self._listener = listener
        self._own = own  # the client of its own, under distinct consumer ids
        self._slot = slot
        self._pause_at = pause_at
        self._paused = False
        self._consumer: Any = None
        self._closed = False
        self._listening: Any = None  # the consumer its C++ listener thread last paused
        # held until the subscribe is answered: the C++ client may deliver before, and the interface
        # promises no listener call before the open returns
        self._mailbox: Mailbox[tuple[Any, Any, int] | _Lost] = Mailbox(
            self._handle, self._resume, lambda exc: listener.on_failure("listener", exc), "native-consumer", held=True
        )

    @property
    def closed(self) -> bool:
        return self._closed

    def _attach(self, consumer: Any) -> None:
        self._consumer = consumer
        self._mailbox.release()

    def _abandon(self) -> None:
        """The subscribe failed: nothing is delivered."""
        self._closed = True
        self._mailbox.stop()

    def _on_message(self, consumer: Any, message: Any) -> None:
        """C++ listener thread: time it, hand it over, and pause the listener if the hub lags behind."""
        received_ns = time.time_ns()
        mailbox = self._mailbox
        if len(mailbox) + 1 >= self._pause_at and not self._paused:
            # paused before posting: the hub drains this message after it sees the flag, and resumes
            self._paused = True
            self._listening = consumer
            consumer.pause_message_listener()
        mailbox.post((consumer, message, received_ns))

    def _resume(self) -> None:
        if self._paused and not self._closed:
            self._paused = False
            try:
                self._listening.resume_message_listener()
            except Exception as exc:  # noqa: BLE001 - counted; the watcher will see a consumer that broke
                self._listener.on_failure("resume listener", exc)

    def _handle(self, item: tuple[Any, Any, int] | _Lost) -> None:
        if isinstance(item, _Lost):
            self._mailbox.stop()
            self._listener.on_closed(item.closed)
            return
        _consumer, message, received_ns = item
        try:
            properties = message.properties()
            data = message.data()
            published_ms = message.publish_timestamp()
            delivery = Delivery(
                message_id=str(message.message_id()),
                stamp=read_stamp_raw(properties, data),
                redelivery=message.redelivery_count(),
                key=message.partition_key() or None,
                size=len(data),
                received_ns=received_ns,
                publish_ns=published_ms * 1_000_000 if published_ms else None,
                handle=message,
            )
        except Exception as exc:  # noqa: BLE001 - a message that cannot be read is counted, not fatal
            self._listener.on_failure("delivery", exc)
            return
        self._listener.on_delivery(delivery)

    def ack(self, delivery: Delivery) -> bool:
        if self._closed or self._consumer is None:
            return False
        self._consumer.acknowledge_async(delivery.handle, _ignore_result)
        return True

    def nack(self, delivery: Delivery) -> bool:
        if self._closed or self._consumer is None:
            return False
        self._consumer.negative_acknowledge(delivery.handle)
        return True

    def _connected(self) -> bool:
        consumer = self._consumer
        return consumer is None or bool(consumer.is_connected())

    def _lose(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self._mailbox.post(_Lost(Closed(time.time_ns(), reason)))
        self._release()

    def close(self) -> int:
        began = time.time_ns()
        self._mailbox.stop()
        if not self._closed:
            self._closed = True
            self._release()
        return began

    def _shut(self) -> None:
        """Stop listening; the consumer stays referenced until its client has closed it."""
        self._mailbox.stop()
        if not self._closed:
            self._closed = True
            self._driver._forget(self)
            if self._own is not None:
                self._driver._close_handle(self._own._client, self._slot)

    def _release(self) -> None:
        """Close the C++ consumer (its unacked messages go back to the subscription) and its own client."""
        self._driver._forget(self)
        consumer, own = self._consumer, self._own
        self._consumer = None
        if own is not None:
            # closes the consumer with it; the slot (its consumer id) is free once the broker let go of it
            self._driver._close_handle(own._client, self._slot)
        elif consumer is not None:
            self._driver._close_handle(consumer)
