"""A WebSocket connection for the load users: websocket-client, cooperative under gevent.

websocket-client is pure Python, so Locust's monkey-patching makes its blocking calls yield to
other greenlets. UTF-8 validation of received frames is skipped: it triples the receive cost and
the frames are JSON that is parsed anyway.
"""

from __future__ import annotations

import contextlib
import ssl

import websocket

from harness.targets.base import Endpoint


class ConnectError(Exception):
    """A connection that could not be opened; ``status`` is the HTTP status of a refused handshake."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class WsConnection:
    """One open socket: ``send`` text frames, ``recv`` until the peer closes."""

    def __init__(self, endpoint: Endpoint, timeout: float = 10.0) -> None:
        self.endpoint = endpoint
        try:
            self._ws = websocket.create_connection(
                endpoint.url,
                header=endpoint.headers,
                sslopt=endpoint.sslopt or None,
                timeout=timeout,
                skip_utf8_validation=True,
                enable_multithread=True,
            )
        except websocket.WebSocketBadStatusException as exc:
            raise ConnectError(f"handshake refused with HTTP {exc.status_code}", exc.status_code) from None
        except (OSError, ssl.SSLError, websocket.WebSocketException) as exc:
            raise ConnectError(f"cannot connect: {exc}") from None
        self._ws.settimeout(None)
        self.closed = False

    def send(self, text: str) -> None:
        self._ws.send(text)

    def recv(self) -> str | None:
        """The next text frame, or None once the connection is closed."""
        try:
            data = self._ws.recv()
        except (websocket.WebSocketConnectionClosedException, OSError):
            self.closed = True
            return None
        if data in ("", b""):
            self.closed = True
            return None
        return data if isinstance(data, str) else data.decode("utf-8", errors="replace")

    @property
    def close_status(self) -> int | None:
        status = getattr(self._ws, "close_status", None)
        return status if isinstance(status, int) else None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError, websocket.WebSocketException):
                self._ws.close(timeout=1)
