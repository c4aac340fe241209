"""Server-to-client WebSocket frames (RFC 6455 section 5.2), parsed without I/O.

websocket-client parses every received frame in several small steps (2-3 socket reads and a
dozen calls per frame); the load users receive two frames per message, so they read the socket
in large chunks and cut frames out of the buffer here instead. The handshake, sending and
masking stay with websocket-client.
"""

from __future__ import annotations

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class FrameError(ValueError):
    """Bytes that are not a valid frame sequence."""


class FrameReader:
    """Feed bytes in; take whole frames out as ``(opcode, fin, payload)``, in order."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_frame(self) -> tuple[int, bool, bytes] | None:
        """The next whole frame, or None until more bytes arrive."""
        buf = self._buf
        have = len(buf)
        if have < 2:
            return None
        first, second = buf[0], buf[1]
        if first & 0x70:
            raise FrameError("reserved bits set (no extension was negotiated)")
        length = second & 0x7F
        pos = 2
        if length == 126:
            if have < 4:
                return None
            length = int.from_bytes(buf[2:4], "big")
            pos = 4
        elif length == 127:
            if have < 10:
                return None
            length = int.from_bytes(buf[2:10], "big")
            pos = 10
        masked = second & 0x80
        if masked:
            pos += 4
        end = pos + length
        if have < end:
            return None
        payload = bytes(buf[pos:end])
        if masked:  # servers must not mask, but a frame that is masked is still readable
            key = buf[pos - 4 : pos]
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        del buf[:end]  # bytearray drops a prefix without moving the rest
        return first & 0x0F, bool(first & 0x80), payload


def close_code(payload: bytes) -> int | None:
    """The status code of a close frame's payload, if it has one."""
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
