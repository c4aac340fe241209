"""The Pulsar WebSocket / Macrometa GDN wire format, with no I/O.

Both halves speak it: the load users build and read frames with these functions, the emulator
parses and answers them. Frame shapes follow Pulsar 2.8's WebSocket proxy, which Macrometa GDN
streams inherit (see the protocol reference): JSON text frames, base64 payloads, opaque message ids.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, unquote

import orjson

SUBSCRIPTION_TYPES: Final = ("Exclusive", "Shared", "Failover", "Key_Shared")
ROLES: Final = ("producer", "consumer", "reader")

#: Pulsar's proxy refuses text frames above ``webSocketMaxTextFrameSize`` (1 MiB by default).
MAX_TEXT_FRAME_BYTES: Final = 1024 * 1024
#: Java's ``int`` range: Pulsar's WebSocket ConsumerHandler and builders parse receiverQueueSize,
#: ackTimeoutMillis, negativeAckRedeliveryDelay and permits with ``Integer.parseInt``.
JAVA_INT_MIN: Final = -(2**31)
JAVA_INT_MAX: Final = 2**31 - 1
#: ConsumerBuilderImpl.MIN_ACK_TIMEOUT_MILLIS: a non-zero ack timeout below it is refused
#: ("Ack timeout should be greater than 1000 ms"), so the consumer never subscribes.
MIN_ACK_TIMEOUT_MS: Final = 1000
#: The C++ client's (pulsar-client on PyPI) least: ConsumerConfiguration::setUnAckedMessagesTimeoutMs
#: refuses a non-zero value under 10 s ("Unacknowledged message timeout should be greater than 10 seconds").
MIN_NATIVE_ACK_TIMEOUT_MS: Final = 10_000

#: Macrometa serves the Pulsar proxy under this prefix on its ``api-`` hosts.
MACROMETA_WS_PREFIX: Final = "/_ws"


class WireError(ValueError):
    """A path, frame or message id that does not follow the protocol."""


@dataclass(frozen=True)
class Topic:
    """A persistent topic: ``persistent://<tenant>/<namespace>/<name>``."""

    tenant: str
    namespace: str
    name: str

    @property
    def path(self) -> str:
        return "persistent/" + "/".join(quote(part, safe="") for part in (self.tenant, self.namespace, self.name))

    def __str__(self) -> str:
        return f"persistent://{self.tenant}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class WsPath:
    """What a WebSocket URL path asks for: a producer, consumer or reader on a topic."""

    role: str
    topic: Topic
    subscription: str | None = None


def ws_path(role: str, topic: Topic, subscription: str | None = None, prefix: str = "") -> str:
    """The URL path of a WebSocket endpoint; ``prefix`` is ``/_ws`` for Macrometa."""
    if role not in ROLES:
        raise WireError(f"unknown role {role!r}")
    path = f"{prefix}/ws/v2/{role}/{topic.path}"
    if role == "consumer":
        if not subscription:
            raise WireError("a consumer needs a subscription name")
        path += "/" + quote(subscription, safe="")
    return path


def parse_ws_path(path: str) -> WsPath:
    """Parse a WebSocket URL path the way Pulsar's proxy does.

    Duplicate leading slashes collapse (the seed's jsc8 flow sends ``//_ws/...``), the Macrometa
    ``/_ws`` prefix is optional, segments are URL-decoded and a consumer's subscription is the last
    segment.
    """
    trimmed = "/" + path.lstrip("/")
    if trimmed.startswith(MACROMETA_WS_PREFIX + "/"):
        trimmed = trimmed[len(MACROMETA_WS_PREFIX) :]
    parts = trimmed.strip("/").split("/")
    if len(parts) < 4 or parts[0] != "ws" or parts[1] != "v2":
        raise WireError(f"not a Pulsar v2 WebSocket path: {path}")
    role = parts[2]
    if role not in ROLES:
        raise WireError(f"unknown endpoint {role!r} in {path}")
    rest = [unquote(p) for p in parts[3:]]
    expected = 5 if role == "consumer" else 4
    if len(rest) != expected or rest[0] != "persistent" or not all(rest):
        raise WireError(f"invalid {role} path: {path}")
    topic = Topic(rest[1], rest[2], rest[3])
    return WsPath(role, topic, rest[4] if role == "consumer" else None)


# --- message ids ---------------------------------------------------------------------------------


def varint(value: int) -> bytes:
    """Protobuf base-128 varint, as in Pulsar's ``MessageIdData``."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def message_id_prefix(ledger: int) -> bytes:
    """The bytes of ``MessageIdData`` before the entry number: the ledger field and the entry field's tag.

    The same for every message of a topic, so the emulator's log computes it once.
    """
    return b"\x08" + varint(ledger) + b"\x10"


def message_id(ledger: int, entry: int) -> bytes:
    """A message id as Pulsar encodes it: base64 of protobuf ``MessageIdData{ledgerId, entryId}``."""
    return base64.b64encode(message_id_prefix(ledger) + varint(entry))


def parse_message_id(text: str) -> tuple[int, int]:
    """Inverse of :func:`message_id`; raises :class:`WireError` for anything else."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WireError(f"message id is not base64: {text!r}") from exc
    fields: dict[int, int] = {}
    pos = 0
    while pos < len(raw):
        tag = raw[pos]
        pos += 1
        value = shift = 0
        while True:
            if pos >= len(raw):
                raise WireError(f"truncated message id: {text!r}")
            byte = raw[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        fields[tag >> 3] = value
    if 1 not in fields or 2 not in fields:
        raise WireError(f"message id lacks ledger or entry: {text!r}")
    return fields[1], fields[2]


# --- publish acks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishAck:
    """The endpoint's answer to one publish: ``result`` is ``ok`` or ``send-error:<code>``."""

    result: str
    message_id: str | None = None
    context: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.result == "ok"


def decode_publish_ack(text: str | bytes) -> PublishAck:
    frame = _load_object(text)
    result = frame.get("result")
    if not isinstance(result, str):
        raise WireError("publish ack has no result")
    context = frame.get("context")
    return PublishAck(
        result=result,
        message_id=_opt_str(frame.get("messageId")),
        context=None if context is None else str(context),
        error=_opt_str(frame.get("errorMsg")),
    )


# --- consumer frames -----------------------------------------------------------------------------


def encode_ack(message_id_value: str) -> bytes:
    """An ack frame, as UTF-8 bytes (what the socket sends)."""
    return orjson.dumps({"messageId": message_id_value})


def encode_nack(message_id_value: str) -> bytes:
    return orjson.dumps({"type": "negativeAcknowledge", "messageId": message_id_value})


def encode_permit(count: int) -> bytes:
    return orjson.dumps({"type": "permit", "permitMessages": count})


def _load_object(text: str | bytes) -> dict[str, Any]:
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise WireError(f"frame is not JSON: {exc}") from exc
    if not isinstance(frame, dict):
        raise WireError("frame is not a JSON object")
    return frame


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
