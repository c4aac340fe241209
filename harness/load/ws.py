"""A WebSocket connection for the load users: websocket-client, cooperative under gevent.

websocket-client is pure Python, so Locust's monkey-patching makes its blocking calls yield to
other greenlets. UTF-8 validation of received frames is skipped and frames are handed over as
bytes: validating and decoding would triple the receive cost, and the frames are JSON that orjson
parses from bytes anyway.
"""

from __future__ import annotations

import contextlib
import ssl

import websocket
from websocket import ABNF

from harness.targets.base import Endpoint

_TEXT = ABNF.OPCODE_TEXT
#: websocket-client asks the socket for exactly the bytes it still lacks (2-3 reads per frame);
#: reading ahead this much lets one read bring many small frames. Its frame buffer keeps the rest.
READ_AHEAD_BYTES = 4096
_DATA_OPCODES = (ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY)


class ConnectError(Exception):
    """A connection that could not be opened; ``status`` is the HTTP status of a refused handshake."""

    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


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
            body = getattr(exc, "resp_body", None) or b""
            text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else str(body)
            raise ConnectError(f"handshake refused with HTTP {exc.status_code}", exc.status_code, text) from None
        except ssl.SSLCertVerificationError as exc:
            raise ConnectError(
                f"TLS certificate not trusted ({exc.verify_message}); pass --ca-file, or --insecure to skip checks"
            ) from None
        except (OSError, ssl.SSLError, websocket.WebSocketException) as exc:
            raise ConnectError(f"cannot connect: {exc}") from None
        self._ws.settimeout(None)
        self._read_ahead()
        self.closed = False

    def _read_ahead(self) -> None:
        buffer = getattr(self._ws, "frame_buffer", None)
        read = getattr(buffer, "recv", None)
        if buffer is None or read is None:
            return  # another websocket-client layout: keep its own reads

        def read_ahead(size: int) -> bytes:
            data: bytes = read(max(size, READ_AHEAD_BYTES))
            return data

        buffer.recv = read_ahead

    def send(self, frame: str | bytes) -> None:
        """Send one text frame (bytes must be UTF-8 already)."""
        self._ws.send(frame, _TEXT)

    def recv(self) -> bytes | None:
        """The next data frame's bytes, or None once the connection is closed."""
        try:
            opcode, data = self._ws.recv_data()
        except (websocket.WebSocketConnectionClosedException, OSError):
            self.closed = True
            return None
        if opcode not in _DATA_OPCODES or not data:
            self.closed = True
            return None
        return data if isinstance(data, bytes) else str(data).encode()

    @property
    def close_status(self) -> int | None:
        status = getattr(self._ws, "close_status", None)
        return status if isinstance(status, int) else None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError, websocket.WebSocketException):
                self._ws.close(timeout=1)
