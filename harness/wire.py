"""The Pulsar WebSocket / Macrometa GDN wire format, with no I/O.

Both halves speak it: the load users build and read frames with these functions, the emulator
parses and answers them. Frame shapes follow Pulsar 2.8's WebSocket proxy, which Macrometa GDN
streams inherit (see the protocol reference): JSON text frames, base64 payloads, opaque message ids.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote, unquote

import orjson

SUBSCRIPTION_TYPES: Final = ("Exclusive", "Shared", "Failover", "Key_Shared")
ROLES: Final = ("producer", "consumer", "reader")

#: Pulsar's proxy refuses text frames above ``webSocketMaxTextFrameSize`` (1 MiB by default).
MAX_TEXT_FRAME_BYTES: Final = 1024 * 1024

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


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def message_id(ledger: int, entry: int) -> str:
    """A message id as Pulsar encodes it: base64 of protobuf ``MessageIdData{ledgerId, entryId}``."""
    return base64.b64encode(b"\x08" + _varint(ledger) + b"\x10" + _varint(entry)).decode("ascii")


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


# --- producer frames -----------------------------------------------------------------------------


def encode_payload(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode_payload(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WireError("payload is not valid base64") from exc


def encode_publish(
    payload_b64: str, properties: dict[str, str] | None = None, context: str | None = None, key: str | None = None
) -> str:
    """A producer's publish frame. Only ``payload`` is required by the protocol."""
    frame: dict[str, Any] = {"payload": payload_b64}
    if properties:
        frame["properties"] = properties
    if context is not None:
        frame["context"] = context
    if key is not None:
        frame["key"] = key
    return orjson.dumps(frame).decode()


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


def encode_publish_ack(ack: PublishAck) -> str:
    """Serialise as Pulsar's ProducerAck: absent fields are omitted, never null."""
    frame: dict[str, Any] = {"result": ack.result}
    if ack.message_id is not None:
        frame["messageId"] = ack.message_id
    if ack.error is not None:
        frame["errorMsg"] = ack.error
    if ack.context is not None:
        frame["context"] = ack.context
    return orjson.dumps(frame).decode()


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


@dataclass(frozen=True)
class Message:
    """A message frame pushed to a consumer or reader."""

    message_id: str
    payload_b64: str
    properties: dict[str, str] = field(default_factory=dict)
    publish_time: str = ""
    redelivery_count: int = 0
    key: str | None = None
    event_time: str | None = None


def encode_message(message: Message) -> str:
    frame: dict[str, Any] = {
        "messageId": message.message_id,
        "payload": message.payload_b64,
        "properties": message.properties,
        "publishTime": message.publish_time,
        "redeliveryCount": message.redelivery_count,
    }
    if message.event_time is not None:
        frame["eventTime"] = message.event_time
    if message.key is not None:
        frame["key"] = message.key
    return orjson.dumps(frame).decode()


def decode_message(text: str | bytes) -> Message:
    frame = _load_object(text)
    message_id_value = frame.get("messageId")
    if not isinstance(message_id_value, str):
        raise WireError("message frame has no messageId")
    properties = frame.get("properties") or {}
    if not isinstance(properties, dict):
        raise WireError("message properties are not an object")
    redelivery = frame.get("redeliveryCount", 0)
    return Message(
        message_id=message_id_value,
        payload_b64=str(frame.get("payload", "")),
        properties={str(k): str(v) for k, v in properties.items()},
        publish_time=str(frame.get("publishTime", "")),
        redelivery_count=redelivery if isinstance(redelivery, int) else 0,
        key=_opt_str(frame.get("key")),
        event_time=_opt_str(frame.get("eventTime")),
    )


def encode_ack(message_id_value: str) -> str:
    return orjson.dumps({"messageId": message_id_value}).decode()


def encode_nack(message_id_value: str) -> str:
    return orjson.dumps({"type": "negativeAcknowledge", "messageId": message_id_value}).decode()


def encode_permit(count: int) -> str:
    return orjson.dumps({"type": "permit", "permitMessages": count}).decode()


def format_publish_time(epoch_seconds: float, tz: dt.tzinfo | None = None) -> str:
    """``publishTime`` as Pulsar writes it: ISO-8601 with offset, millisecond precision."""
    stamp = dt.datetime.fromtimestamp(epoch_seconds, tz or dt.UTC)
    return stamp.isoformat(timespec="milliseconds")


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
