"""Message bodies and how a message carries its identity, without I/O.

Every message carries the id of the run that sent it, its uid (``<producer>/<seq>``) and its
intended and actual send times, in message properties by default, or (``--stamp header``) in a
header at the start of the payload for endpoints that drop properties:
``sh2 <run> <uid> <intended_ns> <sent_ns>\\n``, then the pattern fills the payload up to ``--size``
bytes. Uids restart with every run, so the run id is what tells this run's messages from those a
durable subscription kept from an earlier one.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass

from harness.events import schema

HEADER_MAGIC = b"sh2 "
#: Enough base64 characters to decode any header (run id and uid up to ~180 characters together).
_HEADER_B64_CHARS = 320


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
    """Payloads for one producer: a few bodies, rotated (random stays incompressible)."""

    POOL = 16

    def __init__(self, pattern: str, size: int, seed: int = 0) -> None:
        self.pattern = pattern
        self.size = size
        count = self.POOL if pattern == "random" else 1
        self._raw = [pattern_bytes(pattern, size, seed + i) for i in range(count)]

    def raw(self, seq: int) -> bytes:
        """The body of message ``seq`` when the stamp is in the properties: one of a few shared objects.

        The same object comes back for every message sharing a body, so a driver that must encode
        it (base64 for the WebSocket proxy) can cache the encoding by identity.
        """
        return self._raw[seq % len(self._raw)]

    def with_header_raw(self, seq: int, run: str, uid: str, intended_ns: int, sent_ns: int) -> bytes:
        """The body with a stamped header at its start (never shorter than the header)."""
        header = b"%s%s %s %d %d\n" % (HEADER_MAGIC, run.encode(), uid.encode(), intended_ns, sent_ns)
        return header + self._raw[seq % len(self._raw)][len(header) :]


@dataclass(frozen=True, slots=True)
class Stamp:
    """What a delivery tells about its message."""

    run: str
    uid: str
    sent_ns: int | None
    intended_ns: int | None


NO_STAMP = Stamp("", "", None, None)


def stamp_properties(run: str, uid: str, intended_ns: int, sent_ns: int) -> dict[str, str]:
    return {
        schema.PROP_RUN: run,
        schema.PROP_UID: uid,
        schema.PROP_SENT_NS: str(sent_ns),
        schema.PROP_INTENDED_NS: str(intended_ns),
    }


def read_stamp(properties: Mapping[str, str], payload_b64: str) -> Stamp:
    """The stamp from the properties, else from a base64 payload's header; empty run and uid when there is none."""
    stamp = _from_properties(properties)
    if stamp is not None:
        return stamp
    head = payload_b64[:_HEADER_B64_CHARS]
    try:
        raw = base64.b64decode(head[: len(head) - len(head) % 4])
    except ValueError:
        return NO_STAMP
    return _from_header(raw)


def read_stamp_raw(properties: Mapping[str, str], payload: bytes) -> Stamp:
    """:func:`read_stamp` for a driver that receives the payload as bytes (no base64 on its wire)."""
    stamp = _from_properties(properties)
    if stamp is not None:
        return stamp
    return _from_header(payload[: _HEADER_B64_CHARS * 3 // 4])


def _from_properties(properties: Mapping[str, str]) -> Stamp | None:
    uid = properties.get(schema.PROP_UID)
    if not uid:
        return None
    sent, intended = _int(properties.get(schema.PROP_SENT_NS)), _int(properties.get(schema.PROP_INTENDED_NS))
    return Stamp(properties.get(schema.PROP_RUN) or "", uid, sent, intended)


def _from_header(raw: bytes) -> Stamp:
    if not raw.startswith(HEADER_MAGIC) or b"\n" not in raw:
        return NO_STAMP
    parts = raw[len(HEADER_MAGIC) : raw.index(b"\n")].rsplit(b" ", 3)  # a run id may hold spaces, a uid not
    if len(parts) != 4:
        return NO_STAMP
    run, uid, intended_text, sent_text = (part.decode(errors="replace") for part in parts)
    return Stamp(run, uid, _int(sent_text), _int(intended_text))


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
