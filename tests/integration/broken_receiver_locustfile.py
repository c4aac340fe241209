"""The harness's locustfile, with consumers whose first socket's receive loop dies of an unexpected error.

No endpoint makes the real receive loop raise anything but the errors it handles, so the socket
read of the WebSocket driver's session is made to fail once per consumer, after some frames:
everything else (Locust, the plugin, the driver, the emulator, the event log) is the real thing.
"""

from locust import events

from typing import Any

import harness.load.consumer as consumer_module
from harness.drivers.base import Session
from harness.drivers.websocket import WsConsumerSession
from harness.load import plugin
from harness.load.producer import Producer
from harness.load.shape import StreamShape

plugin.register(events)

FRAMES_BEFORE_FAILURE = 20


class ReceiverBug(Exception):
    """An error the receive loop does not expect."""


class BrokenConsumer(consumer_module.Consumer):
    def on_start(self) -> None:
        super().on_start()
        self.broke = False

    def on_connected(self, session: Session) -> None:
        super().on_connected(session)
        if self.broke:
            return
        self.broke = True
        assert isinstance(session, WsConsumerSession)
        conn = session.conn  # its receive greenlet has not run yet: the patched read is its first
        real_recv = conn.recv
        frames = [0]

        def recv() -> Any:
            frames[0] += 1
            if frames[0] > FRAMES_BEFORE_FAILURE:
                raise ReceiverBug("socket read failed unexpectedly")
            return real_recv()

        setattr(conn, "recv", recv)  # noqa: B010 - replaces the bound method on this one connection


__all__ = ["BrokenConsumer", "Producer", "StreamShape"]
