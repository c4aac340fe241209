"""Locust users: the socket-owning base class; producers and consumers live in their own modules.

Each socket has a receive greenlet. An error while handling one frame is a failed ``receive``
request and an error row, and the loop goes on; an error that ends the loop itself is the same
failure and row, and the socket is closed, so the user reconnects: never silent, never a socket
left open with nobody reading it.

Every publish ack and delivery is also fired as a Locust request event (type ``WS``; names
``publish``, ``deliver``, ``connect``, and ``send``, ``receive`` and ``ack`` for failures), so the
live statistics mean something: ``publish``'s response time is the time to the publish ack and
``deliver``'s the end-to-end latency, in milliseconds.

A user is cut off from the endpoint from a socket it did not close itself, or from a failed
connect attempt (one error row per attempt, between backoff sleeps), until its next connect: the
process's :class:`~harness.load.outages.OutageBook` keeps the times, and the master decides from
every process's book whether the endpoint was lost. A user whose requests go unanswered for longer
than the bound (an endpoint frozen, or a link gone quiet, its socket still open) is cut off too.
Closing a socket on purpose (churn, the user stopping) is no outage, nor is a refusal the
subscription type makes normal (:meth:`expected_refusal`).
"""

from __future__ import annotations

from locust import User, constant

import functools
import time

import gevent
from gevent import Greenlet

from harness.events import schema
from harness.load.runtime import Runtime, runtime_of
from harness.settings import LoadSettings
from harness.targets.base import Endpoint, TargetError
from harness.targets.connection import ConnectError, WsConnection

REQUEST_TYPE = "WS"
RECONNECT_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)
IDLE_POLL_S = 0.05


class StreamUser(User):
    """One socket with a receive greenlet that never dies silently, and reconnection with backoff."""

    abstract = True
    wait_time = constant(0)
    kind = ""

    def on_start(self) -> None:
        self.runtime: Runtime = runtime_of(self.environment)
        settings = self.runtime.settings
        assert settings is not None  # parsed when Locust initialised, before any user starts
        self.settings: LoadSettings = settings
        self.actor = self.runtime.new_actor(self.kind)
        self.conn: WsConnection | None = None
        self.rx: Greenlet | None = None
        self._failures = 0
        self._in_send = False  # the receive greenlet is writing a frame: not a moment to kill it
        self._request = self.environment.events.request
        self._context = {"actor": self.actor}
        self.runtime.counters.answers[self.actor] = self.unanswered_since  # an endpoint gone silent is cut off too

    def endpoint(self) -> Endpoint:
        raise NotImplementedError

    def on_frame(self, conn: WsConnection, data: bytes) -> None:
        """Handle one frame received on ``conn``."""
        raise NotImplementedError

    def on_connected(self, conn: WsConnection) -> None:
        """Called once a socket is open, before its receive greenlet starts."""

    def on_disconnected(self) -> str:
        """Called once per socket that closed; returns a note for the disconnect row."""
        return ""

    def connect_detail(self) -> str:
        return ""

    def unanswered_since(self) -> float | None:
        """When (perf_counter) the oldest request still without the endpoint's answer went out; None if none."""
        return None

    def expected_refusal(self, exc: Exception) -> bool:
        """A refused connect that the endpoint's rules make normal, not a sign of it being lost."""
        return False

    def connected(self) -> bool:
        """Make sure a socket is open, reconnecting with backoff; False while it cannot be."""
        if self.conn is not None and not self.conn.closed:
            return True
        if self.conn is not None:
            self.drop_connection("closed by peer")
        start = time.perf_counter()
        attempt_ns = time.time_ns()
        outages = self.runtime.counters.outages
        try:
            self.conn = WsConnection(self.endpoint())
        except (ConnectError, TargetError) as exc:
            self.fire("connect", (time.perf_counter() - start) * 1000.0, exception=exc)
            self.runtime.record(schema.ERROR, self.actor, detail=f"connect: {exc}", t_ns=attempt_ns)
            if self.expected_refusal(exc):
                outages.restore(self.actor, attempt_ns)  # the endpoint answered: reachable, only busy
            else:
                outages.cut(self.actor, attempt_ns)
            gevent.sleep(RECONNECT_BACKOFF_S[min(self._failures, len(RECONNECT_BACKOFF_S) - 1)])
            self._failures += 1
            return False
        self._failures = 0
        outages.restore(self.actor, time.time_ns())
        self.fire("connect", (time.perf_counter() - start) * 1000.0)
        self.runtime.record(schema.CONNECT, self.actor, detail=self.connect_detail())
        self.on_connected(self.conn)
        self.rx = gevent.spawn(self._receive_loop, self.conn)
        self.rx.link_exception(functools.partial(self._receiver_died, self.conn))
        return True

    def _receive_loop(self, conn: WsConnection) -> None:
        on_frame = self.on_frame
        while True:
            data = conn.recv()
            if data is None:
                if self.conn is conn:  # the endpoint closed it: the leaving is logged now, when it was seen
                    self.drop_connection("closed by peer")
                return
            try:
                on_frame(conn, data)
            except Exception as exc:  # noqa: BLE001 - counted as a Locust failure, never silent
                self.fire("receive", None, exception=exc, length=len(data))
                self.runtime.record(schema.ERROR, self.actor, detail=f"receive: {type(exc).__name__}: {exc}")

    def _receiver_died(self, conn: WsConnection, rx: Greenlet) -> None:
        """A receive loop ended by an error outside a frame's handling: a failure, an error row, a closed socket.

        Runs in a greenlet of its own (gevent's ``link_exception``), after the loop has died.
        """
        exc = rx.exception
        failure = exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
        self.fire("receive", None, exception=failure)
        self.runtime.record(schema.ERROR, self.actor, detail=f"receive loop failed: {type(exc).__name__}: {exc}")
        if self.rx is rx:
            self.rx = None
        if conn is self.conn:
            self.drop_connection("receive loop failed")  # the task loop reconnects
        else:
            conn.close()

    def send_from_rx(self, conn: WsConnection, frame: str | bytes) -> bool:
        """Send from the receive greenlet; False when the socket is closed (the frame is not sent).

        A kill never lands inside this send (see :meth:`drop_connection`), so a frame is either
        sent whole and recorded, or not sent at all.
        """
        if conn.closed:
            return False
        self._in_send = True
        try:
            conn.send(frame)
        finally:
            self._in_send = False
        return True

    def wait_for_send(self, limit_s: float = 1.0) -> None:
        """Let a frame being written from the receive side finish before that greenlet is killed."""
        deadline = time.perf_counter() + limit_s
        while self._in_send and time.perf_counter() < deadline:
            gevent.sleep(0.001)

    def drop_connection(self, reason: str, deliberate: bool = False) -> None:
        """Close the socket and kill its receive greenlet; records one disconnect row.

        Unless ``deliberate`` (this user chose to close), the user is cut off from the endpoint from then on.
        """
        conn, self.conn = self.conn, None
        if self.rx is not None:
            if self.rx is not gevent.getcurrent():
                self.wait_for_send()
                self.rx.kill(block=True, timeout=2)
            self.rx = None
        if conn is not None:
            # the endpoint may redeliver what this user held as soon as it sees the close, and the
            # log must show the leaving first: closed_ns is when the peer's close was read, or when
            # this side began closing (before its close frame went out)
            code = conn.close_status
            conn.close()
            left_ns = conn.closed_ns or time.time_ns()
            note = self.on_disconnected()
            detail = reason + (f" ({code})" if code else "") + (f"; {note}" if note else "")
            self.runtime.record(schema.DISCONNECT, self.actor, detail=detail, t_ns=left_ns)
            if not deliberate:
                self.runtime.counters.outages.cut(self.actor, left_ns)

    def on_stop(self) -> None:
        self.drop_connection("user stopped", deliberate=True)

    def fire(self, name: str, ms: float | None, exception: Exception | None = None, length: int = 0) -> None:
        self._request.fire(
            request_type=REQUEST_TYPE,
            name=name,
            response_time=ms,
            response_length=length,
            exception=exception,
            context=self._context,
        )
