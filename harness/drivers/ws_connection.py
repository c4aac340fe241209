"""A WebSocket connection to an endpoint: websocket-client, cooperative under gevent.

Each session of the WebSocket driver (:mod:`harness.drivers.websocket`) keeps one; a target opens
one with :func:`probe` to check that the endpoint accepts a socket before any load starts.
websocket-client is pure Python, so Locust's monkey-patching makes its blocking calls yield to
other greenlets. It does the
handshake and sends; received frames are cut out of large socket reads by
:class:`~harness.drivers.ws_frames.FrameReader` and handed over as bytes, with no UTF-8 validation
(it would triple the receive cost, and the frames are JSON that orjson parses from bytes anyway).

Times are taken where they happen: ``received_ns`` when the socket read that completed the
current frame returned (frames handed over later, after a slow consumer's processing, keep it),
and ``closed_ns`` when the peer's close frame or end of stream was read, or when this side
started closing. Frames that came in one read get times 1 ns apart, in arrival order, so the
event log keeps the order in which one socket received its messages.
"""

from __future__ import annotations

import contextlib
import ssl
import time

import websocket
from websocket import ABNF

from harness.drivers.ws_frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_TEXT,
    FrameError,
    FrameReader,
    close_code,
)
from harness.targets.base import Endpoint, TargetError, status_line

_TEXT = ABNF.OPCODE_TEXT
#: Bytes asked of the socket per read: many small frames at once.
READ_BYTES = 65536
CLOSE_WAIT_S = 1.0


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
        sock = self._ws.sock
        if sock is None:
            raise ConnectError("cannot connect: no socket after the handshake")
        self._sock = sock
        self._reader = FrameReader()
        self._fragments: list[bytes] = []
        self.close_status: int | None = None
        self.closed = False
        self.received_ns = 0  # when the read that completed the last frame handed over returned
        self._read_ns = 0
        self.closed_ns: int | None = None  # when the peer's close (or end of stream) was read, or we closed

    def send(self, frame: str | bytes) -> None:
        """Send one text frame (bytes must be UTF-8 already)."""
        self._ws.send(frame, _TEXT)

    def recv(self) -> bytes | None:
        """The next data message's bytes, or None once the connection is closed."""
        if self.closed:
            return None
        try:
            return self._next_message()
        except (OSError, FrameError, websocket.WebSocketException):
            self._mark_closed()
            return None

    def _mark_closed(self, at_ns: int | None = None) -> None:
        if self.closed_ns is None:
            self.closed_ns = at_ns or time.time_ns()
        self.closed = True

    def _next_message(self) -> bytes | None:
        reader = self._reader
        while True:
            frame = reader.next_frame()
            if frame is None:
                # Reads happen only when no whole frame is left, so every frame taken out before
                # the next read was completed by this one: its time is every such frame's arrival.
                data = self._sock.recv(READ_BYTES)
                self._read_ns = time.time_ns()
                if not data:
                    self._mark_closed(self._read_ns)
                    return None
                reader.feed(data)
                continue
            opcode, fin, payload = frame
            if opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
                if fin and not self._fragments:
                    self.received_ns = max(self._read_ns, self.received_ns + 1)
                    return payload
                self._fragments.append(payload)
                if fin:
                    message, self._fragments = b"".join(self._fragments), []
                    self.received_ns = max(self._read_ns, self.received_ns + 1)
                    return message
            elif opcode == OP_PING:
                self._ws.pong(payload)
            elif opcode == OP_CLOSE:
                self.closed_ns = max(self._read_ns, self.received_ns + 1)  # the peer left when its close arrived
                self.close_status = close_code(payload)
                self.close()
                return None

    def close(self) -> None:
        """Send a close frame, wait briefly for the peer's, then drop the socket."""
        if self.closed:
            return
        self._mark_closed()
        with contextlib.suppress(OSError, websocket.WebSocketException, FrameError):
            if self.close_status is None:  # we close first: the peer answers with its close frame
                self._ws.send_close()
                self._sock.settimeout(CLOSE_WAIT_S)
                while (frame := self._reader.next_frame()) is None or frame[0] != OP_CLOSE:
                    if frame is None:
                        data = self._sock.recv(READ_BYTES)
                        if not data:
                            break
                        self._reader.feed(data)
            else:
                self._ws.send_close()
        with contextlib.suppress(OSError, websocket.WebSocketException):
            self._ws.shutdown()  # type: ignore[no-untyped-call]  # websocket-client has no hints here


def probe(endpoint: Endpoint, what: str) -> None:
    """Open one WebSocket and close it, so a refused handshake is one line before any load."""
    try:
        WsConnection(endpoint, timeout=10.0).close()
    except ConnectError as exc:
        if exc.status is not None:
            raise TargetError(status_line(f"{what} refused", exc.status, exc.body)) from None
        raise TargetError(f"{what} failed: {exc}") from None
