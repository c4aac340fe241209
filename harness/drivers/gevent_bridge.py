"""Hand-off from foreign threads (pulsar-client's C++ threads) to greenlets on the gevent hub.

A client library that calls back on its own threads must never touch a greenlet, an Event or a
socket of the hub's: gevent objects are not thread-safe. The only thread-safe doors into a gevent
loop are an ``async_`` watcher's ``send()`` and ``loop.run_callback_threadsafe``; everything here
goes through one of them, and nothing here blocks the hub. Both are gevent's own primitives, so the
hand-off works the same whether or not the stdlib is monkey-patched (Locust patches it).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import gevent
from gevent.event import AsyncResult, Event

T = TypeVar("T")

log = logging.getLogger(__name__)


class Mailbox(Generic[T]):
    """Items posted from any thread, handled one at a time, in posting order, by one greenlet.

    One mailbox per session: a handler that blocks (a slow consumer sleeping in its listener) holds
    back only its own mailbox. A ``held`` mailbox keeps its items until :meth:`release` (a session
    whose open has not returned yet hands nothing over). ``post`` is a deque append (atomic under the GIL) and a watcher
    ``send``, so a C++ callback returns at once. ``after_drain`` runs on the hub each time the
    mailbox has been emptied (the native consumer resumes its paused listener there).
    """

    def __init__(
        self,
        handle: Callable[[T], None],
        after_drain: Callable[[], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        name: str = "",
        held: bool = False,
    ) -> None:
        self._items: deque[T] = deque()
        self._handle = handle
        self._after_drain = after_drain
        self._on_error = on_error
        self._wake = Event()
        self._stopped = False
        self._watcher: Any = gevent.get_hub().loop.async_()
        # The watcher stays started for the mailbox's life: libev drops a send made while it is stopped.
        self._watcher.start(self._wake.set)
        self._name = name
        self._greenlet: gevent.Greenlet[Any, None] | None = None
        if not held:
            self.release()

    def release(self) -> None:
        """Start handling (a ``held`` mailbox keeps what is posted until then); idempotent."""
        if self._greenlet is None and not self._stopped:
            self._greenlet = gevent.spawn(self._run)
            if self._name:
                self._greenlet.name = self._name

    def __len__(self) -> int:
        return len(self._items)

    @property
    def stopped(self) -> bool:
        return self._stopped

    def post(self, item: T) -> None:
        """Queue ``item`` for the greenlet; safe from any thread, never blocks; dropped once stopped."""
        if self._stopped:  # a C++ callback still arriving for a session that has closed
            return
        self._items.append(item)
        self._watcher.send()  # harmless on a watcher stopped meanwhile: it is never closed under a sender

    def stop(self) -> None:
        """No item is handled after this returns (one being handled right now finishes); idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._items.clear()
        self._watcher.stop()  # not closed: a foreign thread may be about to send; freed with the mailbox
        self._wake.set()  # the greenlet sees _stopped and ends

    def _run(self) -> None:
        items = self._items
        while not self._stopped:
            self._wake.clear()  # before draining: a post after the last pop sets it again
            while items and not self._stopped:
                try:
                    self._handle(items.popleft())
                except Exception as exc:  # noqa: BLE001 - one bad item must not end the session's hand-off
                    if self._on_error is None:
                        log.exception("mailbox handler failed")
                    else:
                        self._on_error(exc)
            if self._stopped:
                return
            if self._after_drain is not None:
                self._after_drain()
            self._wake.wait()


class HubFuture(Generic[T]):
    """A one-shot result set from any thread and awaited cooperatively by a greenlet."""

    def __init__(self) -> None:
        self._result: AsyncResult = AsyncResult()
        self._loop: Any = gevent.get_hub().loop
        self._then: Callable[[T], None] | None = None

    def set(self, value: T) -> None:
        """Called from any thread (a C++ callback); the value reaches the hub through its loop."""
        self._loop.run_callback_threadsafe(self._arrive, value)

    def then(self, callback: Callable[[T], None]) -> None:
        """The value, when it comes, also goes to ``callback`` on the hub (to close what a given-up open opened)."""
        self._then = callback

    def _arrive(self, value: T) -> None:
        self._result.set(value)
        if self._then is not None:
            self._then(value)

    def get(self, timeout: float) -> T:
        """The value; raises ``gevent.Timeout`` after ``timeout`` seconds without one."""
        value: T = self._result.get(timeout=timeout)
        return value

    @property
    def ready(self) -> bool:
        return bool(self._result.ready())
