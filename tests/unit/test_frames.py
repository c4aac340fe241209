"""The frame reader against frames built by websocket-client itself, fed whole and byte by byte."""

from __future__ import annotations

import pytest
from websocket import ABNF

from harness.drivers.ws_frames import OP_CLOSE, OP_PING, OP_TEXT, FrameError, FrameReader, close_code


def server_frame(payload: bytes, opcode: int = ABNF.OPCODE_TEXT, fin: int = 1, mask: int = 0) -> bytes:
    frame = ABNF(fin, 0, 0, 0, opcode, mask, payload)
    return frame.format()


@pytest.mark.parametrize("size", [0, 5, 125, 126, 1000, 65535, 65536, 200_000])
def test_lengths_of_every_encoding(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    reader = FrameReader()
    reader.feed(server_frame(payload))
    assert reader.next_frame() == (OP_TEXT, True, payload)
    assert reader.next_frame() is None


def test_frames_fed_byte_by_byte_come_out_whole_and_in_order() -> None:
    stream = b"".join(server_frame(f'{{"n":{i}}}'.encode()) for i in range(50)) + server_frame(b"hi", ABNF.OPCODE_PING)
    reader = FrameReader()
    out = []
    for byte in stream:
        reader.feed(bytes([byte]))
        while (frame := reader.next_frame()) is not None:
            out.append(frame)
    assert [f[2] for f in out[:50]] == [f'{{"n":{i}}}'.encode() for i in range(50)]
    assert out[50] == (OP_PING, True, b"hi")


def test_fragments_masks_and_close_codes() -> None:
    reader = FrameReader()
    reader.feed(server_frame(b"par", fin=0) + server_frame(b"tial", ABNF.OPCODE_CONT))
    assert reader.next_frame() == (OP_TEXT, False, b"par")
    assert reader.next_frame() == (0, True, b"tial")
    reader.feed(server_frame(b"masked payload", mask=1))
    assert reader.next_frame() == (OP_TEXT, True, b"masked payload")
    reader.feed(server_frame((1008).to_bytes(2, "big") + b"policy", ABNF.OPCODE_CLOSE))
    opcode, _, payload = reader.next_frame() or (0, False, b"")
    assert opcode == OP_CLOSE and close_code(payload) == 1008 and close_code(b"") is None


def test_reserved_bits_are_refused() -> None:
    reader = FrameReader()
    reader.feed(bytes([0xC1, 0x00]))  # RSV1 set: compression that was never negotiated
    with pytest.raises(FrameError):
        reader.next_frame()
