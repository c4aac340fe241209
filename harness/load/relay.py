"""SIGINT and SIGTERM to this process, relayed once to every Locust child it is waiting on.

Locust children run in sessions of their own, so a Ctrl-C at the terminal reaches them only
through this relay: each gets one SIGINT and takes its orderly path (events flushed, run.json
marked incomplete). Python lets only the main thread install handlers, so a caller that waits on
children from other threads (a parallel capacity search) installs the relay around them first.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
from collections.abc import Iterator
from types import FrameType

RELAYED = (signal.SIGINT, signal.SIGTERM)


class SignalRelay:
    """The children being waited on, and the signals received since the relay was installed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._children: set[subprocess.Popen[bytes]] = set()
        self._depth = 0
        self.received: list[int] = []

    def _pass_on(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        with self._lock:
            children = list(self._children)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGINT)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Relay signals while inside; nested or off the main thread, the outer installation serves."""
        if self._depth or threading.current_thread() is not threading.main_thread():
            yield
            return
        self.received.clear()
        previous = {signum: signal.signal(signum, self._pass_on) for signum in RELAYED}
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    @contextlib.contextmanager
    def watching(self, child: subprocess.Popen[bytes]) -> Iterator[None]:
        """``child`` gets a SIGINT for every signal relayed while inside (or already received)."""
        with self._lock:
            self._children.add(child)
        if self.received:  # a signal came before the child existed: it stops at once
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGINT)
        try:
            yield
        finally:
            with self._lock:
                self._children.discard(child)


class Interrupted(KeyboardInterrupt):
    """A child ended because a relayed signal reached it; ``code`` is its exit code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


#: The one relay of this process.
RELAY = SignalRelay()
