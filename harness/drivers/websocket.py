"""The WebSocket driver: the Pulsar 2.8 WebSocket proxy's JSON frames, as GDN and the emulator speak them.

Each session owns one :class:`~harness.drivers.ws_connection.WsConnection` and its receive greenlet,
which decodes every frame and calls the listener, in the order the frames arrived. An error while
handling one frame (a malformed frame, or the listener's own) goes to ``on_failure("receive", …)``
and the loop goes on; an error that ends the loop itself goes to ``on_failure("receive loop
failed", …)``, the socket is closed and ``on_closed`` follows: never silent, never a socket left
open with nobody reading it.

A send is never cut in half: :meth:`_WsSession.close` waits for a frame being written (from the
receive greenlet, an ack greenlet or the producer) before it kills the receive greenlet.

Frames follow the Pulsar WebSocket API (pulsar.apache.org/docs/client-libraries-websocket):
publish ``{"payload", "properties", "context", "key"}`` answered by ``{"result", "messageId",
"context", "errorMsg"}``; deliveries ``{"messageId", "payload", "properties", "redeliveryCount",
"key", "publishTime"}``; ``{"messageId"}`` acks, ``negativeAcknowledge`` and ``permit`` frames.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from typing import TYPE_CHECKING, Any

import gevent
import orjson
from gevent import Greenlet

from harness import wire
from harness.drivers import ws_connection
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
from harness.drivers.ws_connection import WsConnection
from harness.load.stamp import decoded_size, read_stamp
from harness.targets.base import Endpoint, TargetError

if TYPE_CHECKING:
    from collections.abc import Callable

    from harness.settings import LoadSettings
    from harness.targets.base import Target


#: The HTTP status of a handshake refused because the subscription admits no further consumer.
CONSUMER_BUSY = 409
#: Subscription types whose rules turn a further consumer away (a refusal that is no outage).
EXCLUSIVE_TYPES = ("Exclusive", "Failover")
#: Longest wait for a frame being written before its greenlet is killed anyway.
SEND_WAIT_S = 1.0
#: Shared bodies whose base64 is kept (a producer rotates at most PayloadSource.POOL of them).
ENCODING_CACHE = 64
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class WebSocketDriver(Driver):
    """Sessions over the WebSocket proxy of ``target``; nothing to release between them."""

    name = "websocket"

    def __init__(self, target: Target, settings: LoadSettings) -> None:
        self.target = target
        self.exclusive = settings.subscription_type in EXCLUSIVE_TYPES
        self._encodings: dict[int, tuple[bytes, str]] = {}

    def open_producer(self, actor: str, listener: ProducerListener) -> ProducerSession:
        conn = self._connect(self.target.producer_endpoint, consumer=False)
        return WsProducerSession(conn, listener, self.encode)

    def open_consumer(self, actor: str, listener: ConsumerListener) -> ConsumerSession:
        conn = self._connect(lambda: self.target.consumer_endpoint(actor), consumer=True)
        return WsConsumerSession(conn, listener)

    def _connect(self, endpoint: Callable[[], Endpoint], consumer: bool) -> WsConnection:
        """Open a socket (cooperatively); a refusal is :class:`ConnectError`, busy when the type makes it normal."""
        try:
            return WsConnection(endpoint())
        except TargetError as exc:  # the endpoint could not even be named (a token fetch failed)
            raise ConnectError(str(exc)) from None
        except ws_connection.ConnectError as exc:
            busy = consumer and self.exclusive and exc.status == CONSUMER_BUSY
            raise ConnectError(str(exc), exc.status, exc.body, busy=busy) from None

    def encode(self, payload: bytes) -> str:
        """``payload`` in base64, cached by identity: producers hand over the same few shared bodies again and again."""
        cached = self._encodings.get(id(payload))
        if cached is not None and cached[0] is payload:
            return cached[1]
        text = base64.b64encode(payload).decode("ascii")
        if len(self._encodings) >= ENCODING_CACHE:
            self._encodings.clear()  # header-stamped bodies are new each time: keep the cache small
        self._encodings[id(payload)] = (payload, text)  # holding the body keeps its id from being reused
        return text


class _WsSession:
    """One socket and its receive greenlet; sends are guarded so a kill never lands inside one."""

    def __init__(
        self, conn: WsConnection, on_closed: Callable[[Closed], None], on_failure: Callable[[str, Exception], None]
    ) -> None:
        self.conn = conn
        self._on_closed = on_closed
        self._on_failure = on_failure
        self._closing = False  # this side began closing: no send goes out, no listener call comes
        self._ended = False  # the endpoint ended it and the listener was told
        self._sending = 0  # frames being written right now
        self._rx: Greenlet = gevent.spawn(self._run)

    @property
    def closed(self) -> bool:
        return self._closing or self._ended or self.conn.closed

    def _send(self, frame: str | bytes) -> bool:
        """Write one frame; False (nothing sent) once the session has closed. Raises what the socket raises."""
        if self._closing or self.conn.closed:
            return False
        self._sending += 1
        try:
            self.conn.send(frame)
        finally:
            self._sending -= 1
        return True

    def close(self) -> int:
        if not self._closing:
            self._closing = True
            rx = self._rx
            if rx is not gevent.getcurrent():
                deadline = time.perf_counter() + SEND_WAIT_S
                while self._sending and time.perf_counter() < deadline:
                    gevent.sleep(0.001)
                rx.kill(block=True, timeout=2)
            # the endpoint may redeliver what this session held as soon as it sees the close, and the
            # log must show the leaving first: closed_ns is when the peer's close was read, or when
            # this side began closing (before its close frame went out)
            self.conn.close()
        return self.conn.closed_ns or time.time_ns()

    def _run(self) -> None:
        conn = self.conn
        try:
            self._receive()
            reason = "closed by peer" + (f" ({conn.close_status})" if conn.close_status else "")
        except Exception as exc:  # noqa: BLE001 - reported, and the socket closed: never silent
            self._on_failure("receive loop failed", exc)
            conn.close()
            reason = "receive loop failed"
        if not self._closing:
            self._ended = True
            self._on_closed(Closed(conn.closed_ns or time.time_ns(), reason))

    def _receive(self) -> None:
        conn = self.conn
        handle, on_failure = self._handle, self._on_failure
        while True:
            data = conn.recv()  # looked up each time: a test may replace it on one connection
            if data is None:
                return
            try:
                handle(data)
            except Exception as exc:  # noqa: BLE001 - counted by the listener, never silent
                on_failure("receive", exc)

    def _handle(self, data: bytes) -> None:
        raise NotImplementedError


class WsProducerSession(_WsSession, ProducerSession):
    """Publish frames out, publish acks in."""

    def __init__(self, conn: WsConnection, listener: ProducerListener, encode: Callable[[bytes], str]) -> None:
        self._listener = listener
        self._encode = encode
        super().__init__(conn, listener.on_closed, listener.on_failure)

    def send(self, message: OutgoingMessage) -> None:
        frame: dict[str, Any] = {"payload": self._encode(message.payload), "context": str(message.context)}
        properties = message.properties
        if properties:
            frame["properties"] = properties if type(properties) is dict else dict(properties)
        if message.key is not None:
            frame["key"] = message.key
        try:
            sent = self._send(orjson.dumps(frame))
        except Exception as exc:  # noqa: BLE001 - the socket broke: the message is indeterminate
            raise SessionClosed(str(exc) or type(exc).__name__) from exc
        if not sent:
            raise SessionClosed("the session is closed")

    def _handle(self, data: bytes) -> None:
        ack = wire.decode_publish_ack(data)
        try:
            context = int(ack.context or "")
        except ValueError:
            raise wire.WireError(f"publish ack for unknown context {ack.context!r}") from None
        at_ns = self.conn.received_ns
        if ack.ok:
            self._listener.on_outcome(Published(context, ack.message_id or "", at_ns))
        else:
            self._listener.on_outcome(Refused(context, ack.result + (f": {ack.error}" if ack.error else ""), at_ns))


class WsConsumerSession(_WsSession, ConsumerSession):
    """Deliveries in; acks, negative acks and permits out."""

    def __init__(self, conn: WsConnection, listener: ConsumerListener) -> None:
        self._listener = listener
        self._publish_text = ""
        self._publish_ns: int | None = None
        super().__init__(conn, listener.on_closed, listener.on_failure)

    def ack(self, delivery: Delivery) -> bool:
        return self._send(wire.encode_ack(delivery.message_id))

    def nack(self, delivery: Delivery) -> bool:
        return self._send(wire.encode_nack(delivery.message_id))

    def permit(self, count: int) -> bool:
        return self._send(wire.encode_permit(count))

    def _handle(self, data: bytes) -> None:
        received_ns = self.conn.received_ns  # when the socket read returned, not when this frame's turn came
        try:
            frame = orjson.loads(data)  # the hot path reads the dict itself: no Message object per delivery
            message_id = str(frame["messageId"])
            payload = frame.get("payload") or ""
            stamp = read_stamp(frame.get("properties") or {}, payload)
            redelivery = int(frame.get("redeliveryCount") or 0)
            key = frame.get("key")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise wire.WireError(f"bad delivery frame: {type(exc).__name__}: {exc}") from None
        published = frame.get("publishTime")
        delivery = Delivery(
            message_id=message_id,
            stamp=stamp,
            redelivery=redelivery,
            key=None if key is None else str(key),
            size=decoded_size(payload),
            received_ns=received_ns,
            publish_ns=self._publish_time(published) if published else None,
            handle=message_id,
        )
        self._listener.on_delivery(delivery)

    def _publish_time(self, text: object) -> int | None:
        """The proxy's ISO-8601 publishTime as wall ns; cached, since a burst shares its millisecond."""
        if text != self._publish_text:
            self._publish_text = str(text)
            try:
                moment = dt.datetime.fromisoformat(self._publish_text)
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=dt.UTC)
                self._publish_ns = (moment - EPOCH) // dt.timedelta(microseconds=1) * 1000
            except ValueError:
                self._publish_ns = None
        return self._publish_ns
