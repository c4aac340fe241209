"""Producer frames in, consumer frames out, as Pulsar 2.8's WebSocket proxy writes them.

A published message is kept as one pre-serialised JSON fragment (``"payload":...,"properties":...,
"publishTime":...``): rendering a delivery is then a few byte concatenations, and a backlogged
message costs little more than its own bytes (see the emulator benchmark).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

import orjson

#: ProducerAck result codes (ProducerHandler.onWebSocketText).
DESERIALIZE_ERROR: Final = 3
PAYLOAD_ENCODING_ERROR: Final = 7
UNKNOWN_ERROR: Final = 8


@dataclass(frozen=True, slots=True)
class Publish:
    """A valid publish frame, ready to append to a topic."""

    fragment: bytes
    key: str | None
    context: str | None


@dataclass(frozen=True, slots=True)
class PublishRejected:
    """A publish frame the proxy answers with ``send-error:<code>``."""

    code: int
    message: str
    context: str | None = None


def format_publish_time(epoch_ms: int, tz: dt.tzinfo = dt.UTC) -> str:
    """``publishTime`` as Pulsar's DateFormatter writes it: Java's ``ISO_OFFSET_DATE_TIME``.

    Seconds are always written; the fraction only when it is not zero, with its trailing zeros
    trimmed (``.5``, ``.96``, ``.967``); a zero offset is ``Z``, any other ``+HH:MM``.
    """
    seconds, millis = divmod(epoch_ms, 1000)
    stamp = dt.datetime.fromtimestamp(seconds, tz)
    text = stamp.isoformat(timespec="seconds")
    local, offset = text[:19], text[19:]
    fraction = f".{millis:03d}".rstrip("0") if millis else ""
    return local + fraction + ("Z" if stamp.utcoffset() == dt.timedelta(0) else offset)


class PublishTimeFormatter:
    """:func:`format_publish_time` at millisecond precision, cached per millisecond (it is hot)."""

    def __init__(self, tz: dt.tzinfo = dt.UTC) -> None:
        self._tz = tz
        self._last_ms = -1
        self._last = b""

    def __call__(self, epoch_seconds: float) -> bytes:
        ms = int(epoch_seconds * 1000)
        if ms != self._last_ms:
            self._last = format_publish_time(ms, self._tz).encode()
            self._last_ms = ms
        return self._last


class _NotScalar(ValueError):
    """A JSON object or array where Jackson expects a String."""


def parse_publish(data: bytes | str) -> Publish | PublishRejected:
    """Validate a producer frame the way ProducerHandler does and build the stored fragment.

    The fragment lacks ``publishTime``: the broker stamps it (:func:`stamp`) when it accepts the message.
    """
    try:
        frame = orjson.loads(data)
    except orjson.JSONDecodeError:
        return PublishRejected(DESERIALIZE_ERROR, "Failed to de-serialize from JSON")
    if not isinstance(frame, dict):
        return PublishRejected(DESERIALIZE_ERROR, "Failed to de-serialize from JSON")
    try:
        context = _optional_scalar(frame.get("context"))
        key = _optional_scalar(frame.get("key"))
        properties = _properties(frame.get("properties"))
    except _NotScalar:
        return PublishRejected(DESERIALIZE_ERROR, "Failed to de-serialize from JSON")
    payload = frame.get("payload")
    if not isinstance(payload, str):
        return PublishRejected(PAYLOAD_ENCODING_ERROR, "Invalid message-payload: payload is missing", context)
    canonical = _canonical_base64(payload)
    if canonical is None:
        return PublishRejected(PAYLOAD_ENCODING_ERROR, "Invalid Base64 message-payload", context)
    parts = [b'"payload":"', canonical, b'","properties":', properties]
    event_time = frame.get("eventTime")
    if event_time is not None:
        if not isinstance(event_time, str) or not _is_offset_datetime(event_time):
            return PublishRejected(PAYLOAD_ENCODING_ERROR, "Invalid eventTime", context)
        parts += [b',"eventTime":', orjson.dumps(event_time)]
    if key is not None:
        parts += [b',"key":', orjson.dumps(key)]
    return Publish(b"".join(parts), key, context)


def rest_publish(body: bytes) -> bytes:
    """The stored fragment of a message published over REST: the raw body is its payload, no properties."""
    return b'"payload":"' + base64.b64encode(body) + b'","properties":{}'


def _optional_scalar(value: Any) -> str | None:
    """Jackson turns a JSON scalar into a String field; an object or array fails."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise _NotScalar


def _properties(value: Any) -> bytes:
    if value is None:
        return b"{}"
    if not isinstance(value, dict):
        raise _NotScalar
    if all(isinstance(v, str) for v in value.values()):
        return orjson.dumps(value)
    converted = {name: _optional_scalar(item) for name, item in value.items()}
    return orjson.dumps({name: text for name, text in converted.items() if text is not None})


def _canonical_base64(payload: str) -> bytes | None:
    """Java's Base64 decoder is strict but does not require padding; re-encode like Pulsar does."""
    text = payload.encode("ascii", errors="replace")
    try:
        binascii.a2b_base64(text, strict_mode=True)
        return text
    except (binascii.Error, ValueError):
        pass
    if len(text) % 4 == 1:
        return None
    try:
        raw = binascii.a2b_base64(text + b"=" * (-len(text) % 4), strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    return base64.b64encode(raw)


def _is_offset_datetime(text: str) -> bool:
    try:
        return dt.datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def publish_ack(message_id: str, context: str | None) -> bytes:
    if context is None:
        return b'{"result":"ok","messageId":"' + message_id.encode() + b'"}'
    return orjson.dumps({"result": "ok", "messageId": message_id, "context": context})


def publish_error(rejected: PublishRejected) -> bytes:
    frame: dict[str, Any] = {"result": f"send-error:{rejected.code}", "errorMsg": rejected.message}
    if rejected.context is not None:
        frame["context"] = rejected.context
    return orjson.dumps(frame)


def stamp(fragment: bytes, publish_time: bytes) -> bytes:
    """The stored fragment of an accepted message: the parsed fields plus its ``publishTime``."""
    return b'%s,"publishTime":"%s"' % (fragment, publish_time)


def message_frame(message_id: bytes, fragment: bytes, redelivery_count: int) -> bytes:
    """A ConsumerMessage frame: ``messageId``, the stored fragment, ``redeliveryCount``."""
    return b'{"messageId":"%s",%s,"redeliveryCount":%d}' % (message_id, fragment, redelivery_count)


def fragment_fields(fragment: bytes) -> dict[str, Any]:
    """The stored fields of a message (properties, key ...), for the truth log and REST stats."""
    fields: dict[str, Any] = orjson.loads(b"{" + fragment + b"}")
    return fields
