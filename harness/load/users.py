"""Locust users: the session-owning base class; producers and consumers live in their own modules.

A user talks to the endpoint only through the process's driver (:mod:`harness.drivers`): it opens
one session at a time and hears back through the listener methods. An error the session reports
(a frame that could not be handled, a receive loop that died) is a failed ``receive`` request and
an error row; a session the endpoint ended is a disconnect row, and the user reconnects: never
silent.

Every publish answer and delivery is also fired as a Locust request event (type ``WS`` for the
WebSocket driver, ``PULSAR`` for the native one; names ``publish``, ``deliver``, ``connect``, and
``send``, ``receive`` and ``ack`` for failures), so the live statistics mean something:
``publish``'s response time is the time to the publish answer and ``deliver``'s the end-to-end
latency, in milliseconds.

A user is cut off from the endpoint from a session it did not close itself, or from a failed
connect attempt (one error row per attempt, between backoff sleeps), until its next connect: the
process's :class:`~harness.load.outages.OutageBook` keeps the times, and the master decides from
every process's book whether the endpoint was lost. A user whose requests go unanswered for longer
than the bound (an endpoint frozen, or a link gone quiet, its socket still open) is cut off too.
Closing a session on purpose (churn, the user stopping) is no outage, nor is a refusal the
subscription type makes normal (``ConnectError.busy``).
"""

from __future__ import annotations

from locust import User, constant

import time

import gevent

from harness.drivers.base import Closed, ConnectError, Driver, Session
from harness.events import schema
from harness.load.runtime import Runtime, runtime_of
from harness.settings import LoadSettings
from harness.targets.base import TargetError

#: Locust's request type per driver: the WebSocket driver's events keep the type they always had.
REQUEST_TYPES = {"websocket": "WS", "native": "PULSAR", "memory": "MEMORY"}
RECONNECT_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)
IDLE_POLL_S = 0.05


def request_type(driver: Driver) -> str:
    return REQUEST_TYPES.get(driver.name, driver.name.upper() or "WS")


class StreamUser(User):
    """One session at a time, reconnected with backoff; every session that ends is one disconnect row."""

    abstract = True
    wait_time = constant(0)
    kind = ""

    def on_start(self) -> None:
        self.runtime: Runtime = runtime_of(self.environment)
        self.session: Session | None = None  # the open session; None while cut off or closing
        settings, driver = self.runtime.settings, self.runtime.driver
        # A run refused at its start (one error line said why) has no driver: users the shape's first
        # tick already asked for idle until the runner stops them, rather than fail in a traceback.
        self.refused = driver is None or settings is None or self.runtime.run is None
        if driver is None or settings is None:
            return
        self.settings: LoadSettings = settings
        self.driver: Driver = driver
        self.actor = self.runtime.new_actor(self.kind)
        self._failures = 0
        self._request = self.environment.events.request
        self._request_type = request_type(driver)
        self._context = {"actor": self.actor}
        self.runtime.counters.answers[self.actor] = self.unanswered_since  # an endpoint gone silent is cut off too

    def open_session(self) -> Session:
        """Open this user's kind of session. Raises ConnectError."""
        raise NotImplementedError

    def on_connected(self, session: Session) -> None:
        """Called once a session is open."""

    def on_disconnected(self) -> str:
        """Called once per session that ended; returns a note for the disconnect row."""
        return ""

    def connect_detail(self) -> str:
        return ""

    def unanswered_since(self) -> float | None:
        """When (perf_counter) the oldest request still without the endpoint's answer went out; None if none."""
        return None

    def connected(self) -> bool:
        """Make sure a session is open, reconnecting with backoff; False while it cannot be."""
        session = self.session
        if session is not None:
            if not session.closed:
                return True
            gevent.sleep(0)  # the session's own report of its end (with the peer's reason) may be on its way
            if self.session is session:
                self.drop_session("closed by peer")
        start = time.perf_counter()
        attempt_ns = time.time_ns()
        outages = self.runtime.counters.outages
        try:
            session = self.open_session()
        except (ConnectError, TargetError) as exc:
            self.fire("connect", (time.perf_counter() - start) * 1000.0, exception=exc)
            self.runtime.record(schema.ERROR, self.actor, detail=f"connect: {exc}", t_ns=attempt_ns)
            if isinstance(exc, ConnectError) and exc.busy:
                outages.restore(self.actor, attempt_ns)  # the endpoint answered: reachable, only busy
            else:
                outages.cut(self.actor, attempt_ns)
            gevent.sleep(RECONNECT_BACKOFF_S[min(self._failures, len(RECONNECT_BACKOFF_S) - 1)])
            self._failures += 1
            return False
        self.session = session
        self._failures = 0
        outages.restore(self.actor, time.time_ns())
        self.fire("connect", (time.perf_counter() - start) * 1000.0)
        self.runtime.record(schema.CONNECT, self.actor, detail=self.connect_detail())
        self.on_connected(session)
        return self.session is session

    # --- what every session tells its user ---------------------------------------------------------

    def on_closed(self, closed: Closed) -> None:
        """The endpoint ended the session: the leaving is logged as of when it was seen, and the user is cut off."""
        if self.session is None:
            return  # this side is closing it already, and logs the leaving itself
        self.session = None
        self._left(closed.reason, closed.at_ns, deliberate=False)

    def on_failure(self, what: str, exc: Exception) -> None:
        """Something the endpoint sent could not be handled, or the receive loop died: a failure and an error row."""
        self.fire(what.split(" ", 1)[0], None, exception=exc)
        self.runtime.record(schema.ERROR, self.actor, detail=f"{what}: {type(exc).__name__}: {exc}")

    # --- closing -----------------------------------------------------------------------------------

    def drop_session(self, reason: str, deliberate: bool = False) -> None:
        """Close the session; records one disconnect row.

        Unless ``deliberate`` (this user chose to close), the user is cut off from the endpoint from then on.
        """
        session, self.session = self.session, None
        if session is not None:
            # the endpoint may redeliver what this user held as soon as it sees the close, and the log
            # must show the leaving first: close() returns when the peer's close was seen, or when this
            # side began closing
            self._left(reason, session.close(), deliberate)

    def _left(self, reason: str, at_ns: int, deliberate: bool) -> None:
        note = self.on_disconnected()
        detail = reason + (f"; {note}" if note else "")
        self.runtime.record(schema.DISCONNECT, self.actor, detail=detail, t_ns=at_ns)
        if not deliberate:
            self.runtime.counters.outages.cut(self.actor, at_ns)

    def idle_while_refused(self) -> bool:
        """True (after a short sleep) for a user of a refused run: its task has nothing to do."""
        if self.refused:
            gevent.sleep(IDLE_POLL_S)
        return self.refused

    def on_stop(self) -> None:
        if not self.refused:
            self.drop_session("user stopped", deliberate=True)

    def fire(self, name: str, ms: float | None, exception: Exception | None = None, length: int = 0) -> None:
        self._request.fire(
            request_type=self._request_type,
            name=name,
            response_time=ms,
            response_length=length,
            exception=exception,
            context=self._context,
        )
