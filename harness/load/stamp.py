"""Message bodies and how a message carries its identity, without I/O.

Every message carries its uid (``<producer>/<seq>``) and its intended and actual send times, in
message properties by default, or (``--stamp header``) in a header at the start of the payload for
endpoints that drop properties: ``sh1 <uid> <intended_ns> <sent_ns>\\n``, then the pattern fills
the payload up to ``--size`` bytes.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from harness.events import schema

HEADER_MAGIC = b"sh1 "
#: Enough base64 characters to decode any header (uid up to ~60 characters).
_HEADER_B64_CHARS = 160


def pattern_bytes(pattern: str, size: int, seed: int = 0) -> bytes:
    """``size`` bytes of the payload pattern: fill (printable ASCII), random or zeros."""
    if pattern == "zeros":
        return bytes(size)
    if pattern == "random":
        return os.urandom(size)
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789"
    start = seed % len(alphabet)
    return ((alphabet[start:] + alphabet[:start]) * (size // len(alphabet) + 1))[:size]


class PayloadSource:
    """Payloads for one producer: a few pre-encoded bodies, rotated (random stays incompressible)."""

    POOL = 16

    def __init__(self, pattern: str, size: int, seed: int = 0) -> None:
        self.pattern = pattern
        self.size = size
        count = self.POOL if pattern == "random" else 1
        self._raw = [pattern_bytes(pattern, size, seed + i) for i in range(count)]
        self._b64 = [base64.b64encode(raw).decode("ascii") for raw in self._raw]

    def b64(self, seq: int) -> str:
        """The base64 payload of message ``seq`` when the stamp is in the properties."""
        return self._b64[seq % len(self._b64)]

    def with_header(self, seq: int, uid: str, intended_ns: int, sent_ns: int) -> tuple[str, int]:
        """The base64 payload with a stamped header, and its size in bytes (never below the header)."""
        header = b"%s%s %d %d\n" % (HEADER_MAGIC, uid.encode(), intended_ns, sent_ns)
        raw = self._raw[seq % len(self._raw)]
        body = header + raw[len(header) :]
        return base64.b64encode(body).decode("ascii"), len(body)


@dataclass(frozen=True, slots=True)
class Stamp:
    """What a delivery tells about its message."""

    uid: str
    sent_ns: int | None
    intended_ns: int | None


def stamp_properties(uid: str, intended_ns: int, sent_ns: int) -> dict[str, str]:
    return {schema.PROP_UID: uid, schema.PROP_SENT_NS: str(sent_ns), schema.PROP_INTENDED_NS: str(intended_ns)}


def read_stamp(properties: dict[str, str], payload_b64: str) -> Stamp:
    """The stamp from the properties, else from a payload header; an empty uid when there is none."""
    uid = properties.get(schema.PROP_UID)
    if uid:
        return Stamp(uid, _int(properties.get(schema.PROP_SENT_NS)), _int(properties.get(schema.PROP_INTENDED_NS)))
    head = payload_b64[:_HEADER_B64_CHARS]
    try:
        raw = base64.b64decode(head[: len(head) - len(head) % 4])
    except ValueError:
        return Stamp("", None, None)
    if not raw.startswith(HEADER_MAGIC) or b"\n" not in raw:
        return Stamp("", None, None)
    parts = raw[len(HEADER_MAGIC) : raw.index(b"\n")].split(b" ")
    if len(parts) != 3:
        return Stamp("", None, None)
    return Stamp(parts[0].decode(errors="replace"), _int(parts[2]), _int(parts[1]))


def _int(value: str | bytes | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def decoded_size(payload_b64: str) -> int:
    """Bytes a base64 string decodes to, without decoding it."""
    return len(payload_b64) * 3 // 4 - payload_b64[-2:].count("=") if payload_b64 else 0
