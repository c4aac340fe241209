"""Locust users: producers on an absolute schedule and consumers on one subscription.

Every send, publish ack, delivery and ack is written to the event log and fired as a Locust
request event (type ``WS``; names ``send``, ``publish``, ``deliver``, ``connect``), so the live
statistics mean something: ``send``'s response time is the schedule lag, ``publish``'s the time
to the publish ack and ``deliver``'s the end-to-end latency, all in milliseconds.
"""

from __future__ import annotations

from locust import User, constant, task

import time
from typing import Any

import gevent
from gevent import Greenlet

from harness import wire
from harness.events import schema
from harness.load.pacing import Schedule
from harness.load.runtime import Phase, Runtime, runtime_of
from harness.load.ws import ConnectError, WsConnection
from harness.targets.base import Endpoint

REQUEST_TYPE = "WS"
RECONNECT_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)
IDLE_POLL_S = 0.05


class StreamUser(User):
    """One socket with a receive greenlet that never dies silently."""

    abstract = True
    wait_time = constant(0)
    kind = ""

    def on_start(self) -> None:
        self.runtime: Runtime = runtime_of(self.environment)
        self.actor = self.runtime.new_actor(self.kind)
        self.conn: WsConnection | None = None
        self.rx: Greenlet | None = None
        self._failures = 0

    def endpoint(self) -> Endpoint:
        raise NotImplementedError

    def on_frame(self, conn: WsConnection, text: str) -> None:
        """Handle one frame received on ``conn``."""
        raise NotImplementedError

    def on_connected(self) -> None:
        """Called once a socket is open."""

    def on_disconnected(self) -> None:
        """Called once per socket that closed."""

    def connected(self) -> bool:
        """Make sure a socket is open, reconnecting with backoff; False while it cannot be."""
        if self.conn is not None and not self.conn.closed:
            return True
        if self.conn is not None:
            self._drop_connection("closed by peer")
        start = time.perf_counter()
        try:
            self.conn = WsConnection(self.endpoint())
        except ConnectError as exc:
            self._fire("connect", start, exception=exc)
            self.runtime.record(schema.ERROR, self.actor, detail=f"connect: {exc}")
            gevent.sleep(RECONNECT_BACKOFF_S[min(self._failures, len(RECONNECT_BACKOFF_S) - 1)])
            self._failures += 1
            return False
        self._failures = 0
        self._fire("connect", start)
        self.runtime.record(schema.CONNECT, self.actor, detail=self.connect_detail())
        self.on_connected()
        self.rx = gevent.spawn(self._receive_loop, self.conn)
        return True

    def connect_detail(self) -> str:
        return ""

    def _receive_loop(self, conn: WsConnection) -> None:
        while True:
            text = conn.recv()
            if text is None:
                return
            try:
                self.on_frame(conn, text)
            except Exception as exc:  # noqa: BLE001 - counted as a Locust failure, never silent
                self.environment.events.request.fire(
                    request_type=REQUEST_TYPE,
                    name="receive",
                    response_time=None,
                    response_length=len(text),
                    exception=exc,
                    context={"actor": self.actor},
                )
                self.runtime.record(schema.ERROR, self.actor, detail=f"receive: {type(exc).__name__}: {exc}")

    def _drop_connection(self, reason: str) -> None:
        conn, self.conn = self.conn, None
        if self.rx is not None:
            if self.rx is not gevent.getcurrent():
                self.rx.kill(block=True, timeout=2)
            self.rx = None
        if conn is not None:
            code = conn.close_status
            conn.close()
            self.runtime.record(schema.DISCONNECT, self.actor, detail=f"{reason}" + (f" ({code})" if code else ""))
            self.on_disconnected()

    def on_stop(self) -> None:
        self._drop_connection("user stopped")

    def _fire(
        self,
        name: str,
        start: float | None,
        exception: Exception | None = None,
        length: int = 0,
        ms: float | None = None,
    ) -> None:
        if ms is None and start is not None:
            ms = (time.perf_counter() - start) * 1000.0
        self.environment.events.request.fire(
            request_type=REQUEST_TYPE,
            name=name,
            response_time=ms,
            response_length=length,
            exception=exception,
            context={"actor": self.actor},
        )


class PublishRefused(Exception):
    """The endpoint answered a publish with ``send-error``."""


class Producer(StreamUser):
    """Sends messages at ``--rate`` per second on an absolute schedule, stamped with a uid."""

    fixed_count = 0
    kind = "p"

    def on_start(self) -> None:
        super().on_start()
        settings = self.runtime.settings
        assert settings is not None
        self.rate = settings.rate
        self.size = settings.size
        self.payload_b64 = wire.encode_payload(b"x" * settings.size)
        self.schedule: Schedule | None = None
        self.seq = 0
        self.awaiting: dict[str, tuple[str, float]] = {}  # context -> (uid, perf_counter at send)

    def endpoint(self) -> Endpoint:
        target = self.runtime.target
        assert target is not None
        return target.producer_endpoint()

    @task
    def produce(self) -> None:
        runtime = self.runtime
        while True:
            if runtime.phase is not Phase.PRODUCING:
                gevent.sleep(IDLE_POLL_S)
                continue
            if not self.connected():
                continue
            if self.schedule is None:
                self.schedule = Schedule(self.rate, time.perf_counter())
            delay = self.schedule.wait(self.seq, time.perf_counter())
            if delay > 0:
                gevent.sleep(delay)
                continue
            self._send_next()

    def _send_next(self) -> None:
        assert self.schedule is not None and self.conn is not None and self.runtime.run is not None
        seq = self.seq
        self.seq += 1
        uid = f"{self.actor}/{seq}"
        due = self.schedule.due(seq)
        intended_ns = self.runtime.run.anchor.wall_ns_at(due)
        sent_mono = time.perf_counter()
        sent_ns = time.time_ns()
        properties = {
            schema.PROP_UID: uid,
            schema.PROP_SENT_NS: str(sent_ns),
            schema.PROP_INTENDED_NS: str(intended_ns),
        }
        context = str(seq)
        self.awaiting[context] = (uid, sent_mono)
        self.runtime.tracker.sent()
        self.runtime.record(schema.SEND, self.actor, uid=uid, intended_ns=intended_ns, size=self.size, t_ns=sent_ns)
        try:
            self.conn.send(wire.encode_publish(self.payload_b64, properties, context))
        except Exception as exc:  # noqa: BLE001 - the socket broke; the send stays indeterminate
            self._fire("send", None, exception=exc, ms=0.0)
            self._drop_connection(f"send failed: {exc}")
            return
        self._fire("send", None, length=self.size, ms=max(0.0, sent_mono - due) * 1000.0)

    def on_frame(self, conn: WsConnection, text: str) -> None:
        ack = wire.decode_publish_ack(text)
        pending = self.awaiting.pop(ack.context or "", None)
        if pending is None:
            self.runtime.record(schema.ERROR, self.actor, detail=f"publish ack for unknown context {ack.context!r}")
            return
        uid, sent_mono = pending
        self.runtime.tracker.settled()
        if ack.ok:
            self.runtime.record(schema.PUBLISH_OK, self.actor, uid=uid, msg_id=ack.message_id or "")
            self.runtime.tracker.published(uid)
            self._fire("publish", sent_mono)
        else:
            detail = ack.result + (f": {ack.error}" if ack.error else "")
            self.runtime.record(schema.PUBLISH_ERR, self.actor, uid=uid, detail=detail)
            self._fire("publish", sent_mono, exception=PublishRefused(detail))

    def on_disconnected(self) -> None:
        # Sends with no publish ack stay in the log without one: the checker calls them indeterminate.
        self.runtime.tracker.settled(len(self.awaiting))
        self.awaiting.clear()


class Consumer(StreamUser):
    """Receives, records and acknowledges every message on the shared subscription."""

    fixed_count = 0
    kind = "c"

    def endpoint(self) -> Endpoint:
        target = self.runtime.target
        assert target is not None
        return target.consumer_endpoint(self.actor)

    def connect_detail(self) -> str:
        settings = self.runtime.settings
        return settings.subscription_type if settings else ""

    @task
    def consume(self) -> None:
        # The work happens in the receive greenlet; this loop only keeps the socket open.
        while True:
            if self.runtime.phase is Phase.DONE or self.connected():
                gevent.sleep(IDLE_POLL_S)

    def on_connected(self) -> None:
        self.runtime.tracker.consumers_connected += 1

    def on_disconnected(self) -> None:
        self.runtime.tracker.consumers_connected -= 1

    def on_frame(self, conn: WsConnection, text: str) -> None:
        received_ns = time.time_ns()
        message = wire.decode_message(text)
        properties = message.properties
        uid = properties.get(schema.PROP_UID, "")
        size = _decoded_size(message.payload_b64)
        self.runtime.record(
            schema.DELIVER,
            self.actor,
            uid=uid,
            msg_id=message.message_id,
            redelivery=message.redelivery_count,
            size=size,
            detail="" if uid else "message has no uid property",
            t_ns=received_ns,
        )
        sent = properties.get(schema.PROP_SENT_NS)
        latency_ms = max(0.0, (received_ns - int(sent)) / 1e6) if sent and sent.isdigit() else None
        self._fire("deliver", None, length=size, ms=latency_ms)
        conn.send(wire.encode_ack(message.message_id))
        self.runtime.record(schema.ACK, self.actor, uid=uid, msg_id=message.message_id)
        self.runtime.tracker.acked(uid)


def _decoded_size(payload_b64: str) -> int:
    """Bytes a base64 string decodes to, without decoding it."""
    return len(payload_b64) * 3 // 4 - payload_b64[-2:].count("=") if payload_b64 else 0


__all__: list[Any] = ["Consumer", "Producer"]
