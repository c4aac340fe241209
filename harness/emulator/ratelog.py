"""Warnings about clients' bad requests, at most a burst per window, so a flood cannot fill the log.

A socket's own bad frames are logged once per connection (``Connection.warn_once``); REST calls
and refused handshakes have no connection to remember them by, so they share this limit instead.
Callers never pass a credential (API key, JWT, OTP) in the message or its arguments.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimitedLog:
    """Log at most ``burst`` warnings per ``window_s``; the next one after a window says how many were left out."""

    def __init__(
        self,
        logger: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
        burst: int = 20,
        window_s: float = 10.0,
    ) -> None:
        self.logger = logger
        self.clock = clock
        self.burst = burst
        self.window_s = window_s
        self._window_start = clock()
        self._logged = 0
        self._left_out = 0

    def warning(self, message: str, *args: object) -> None:
        now = self.clock()
        if now - self._window_start >= self.window_s:
            if self._left_out:
                self.logger.warning("%d more bad requests were not logged", self._left_out)
            self._window_start, self._logged, self._left_out = now, 0, 0
        if self._logged < self.burst:
            self._logged += 1
            self.logger.warning(message, *args)
        else:
            self._left_out += 1
