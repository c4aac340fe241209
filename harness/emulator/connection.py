"""Frames waiting to go out on one socket, sent in order by the socket's own sender task.

The broker decides deliveries synchronously; they are queued here and written by a task per
socket, so one slow consumer never stalls a producer. A region profile's latency is applied
here: each frame gets a release time ``now + latency ± jitter``, never earlier than the frame
before it, so a socket's order is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable

from aiohttp import WSMsgType, web

from harness.emulator.profiles import RegionProfile

log = logging.getLogger("harness.emulator")

#: How long a fault-injected close waits for the client's close frame before dropping the socket.
CLOSE_WAIT_S = 5.0


def release_time(now: float, previous: float, latency: float, jitter: float, rng: random.Random) -> float:
    """When a frame queued at ``now`` may go out: ``now + latency ± jitter`` (uniform, seconds), but
    never before ``previous``, the release time of the frame queued before it on the same socket."""
    return max(previous, now + latency + rng.uniform(-jitter, jitter))


class Connection:
    """One WebSocket's outgoing queue; ``push`` from anywhere, ``run`` as its sender task."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        clock: Callable[[], float],
        profile: RegionProfile | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.ws = ws
        self.clock = clock
        self.latency = (profile.latency_ms / 1000) if profile else 0.0
        self.jitter = (profile.jitter_ms / 1000) if profile else 0.0
        self.rng = rng or random.Random(0)
        self._frames: deque[bytes] = deque()
        self._due: deque[float] = deque()
        self._last_due = 0.0
        self._wake = asyncio.Event()
        self._close: tuple[int, str] | None = None
        self.warned = False

    def push(self, frame: bytes) -> None:
        self._frames.append(frame)
        if self.latency:
            self._last_due = release_time(self.clock(), self._last_due, self.latency, self.jitter, self.rng)
            self._due.append(self._last_due)
        self._wake.set()

    def close_after_sending(self, code: int, reason: str) -> None:
        """Send what is queued, then a close frame; the receive loop goes on until the client answers."""
        self._close = (code, reason)
        self._wake.set()

    def warn_once(self, message: str, *args: object) -> None:
        """Log a client's bad input once per connection, so a misbehaving client cannot flood the log.

        For input the connection survives (a send-error, an ack for an unknown id); whatever closes
        the connection is logged every time by the socket handler.
        """
        if not self.warned:
            self.warned = True
            log.warning(message, *args)

    async def run(self) -> None:
        ws, frames, due = self.ws, self._frames, self._due
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while frames:
                    if due:
                        delay = due[0] - self.clock()
                        if delay > 0:
                            await asyncio.sleep(delay)
                        due.popleft()
                    await ws.send_frame(frames.popleft(), WSMsgType.TEXT)
                if self._close is not None:
                    await self._send_close(*self._close)
                    return
        except (ConnectionError, RuntimeError):
            return  # the socket went away; the receive loop cleans up

    async def _send_close(self, code: int, reason: str) -> None:
        # Only the close frame: aiohttp's own close() would read and discard the client's frames
        # (acks still in flight) until the answer; the receive loop must see them.
        if self.ws.closed:
            return
        await self.ws.send_frame(code.to_bytes(2, "big") + reason.encode(), WSMsgType.CLOSE)
        await asyncio.sleep(CLOSE_WAIT_S)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close()
