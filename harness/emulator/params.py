"""Query parameters of the Pulsar 2.8 WebSocket endpoints, validated as the proxy validates them.

A bad value raises :class:`ParamError`; the server answers the handshake with 400
"Invalid query params: ..." (500 "Failed to create reader: ..." for a reader, as ReaderHandler
does). Unknown parameters are ignored, as Pulsar only looks for the keys it knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from harness import wire
from harness.emulator.config import MAX_RECEIVER_QUEUE, ConsumerOptions

ROUTING_MODES: Final = ("SinglePartition", "RoundRobinPartition", "CustomPartition")
COMPRESSION_TYPES: Final = ("NONE", "LZ4", "ZLIB", "ZSTD", "SNAPPY")
HASHING_SCHEMES: Final = ("JavaStringHash", "Murmur3_32Hash")
SUBSCRIPTION_MODES: Final = ("Durable", "NonDurable")


class ParamError(ValueError):
    """A query parameter the proxy refuses."""


#: Java's ``int`` range, which ``Integer.parseInt`` enforces.
INT_MIN, INT_MAX = wire.JAVA_INT_MIN, wire.JAVA_INT_MAX


def java_int(text: str) -> int | None:
    """Java's ``Integer.parseInt``: an optional sign, then decimal digits only, within 32 bits; else None.

    Unlike Python's ``int()``, no surrounding spaces and no ``_`` separators (``1_000``).
    """
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits.isdecimal():  # also false for ""
        return None
    value = int(text)
    return value if INT_MIN <= value <= INT_MAX else None


def _int(query: Mapping[str, str], name: str, default: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    value = java_int(text)
    if value is None:
        raise ParamError(f'{name}: For input string: "{text[:40]}"')
    return value


def _bool(query: Mapping[str, str], name: str) -> bool:
    """Java's ``Boolean.parseBoolean``: ``true`` in any case is true, anything else false."""
    return query.get(name, "").lower() == "true"


def _choice(query: Mapping[str, str], name: str, choices: tuple[str, ...]) -> None:
    value = query.get(name)
    if value is not None and value not in choices:
        raise ParamError(f"Invalid {name} {value[:40]}")


@dataclass(frozen=True)
class ProducerParams:
    name: str


def producer_params(query: Mapping[str, str]) -> ProducerParams:
    # ProducerHandler.getProducerBuilder passes these to the builder, whose ProducerConfigurationData
    # setters checkArgument them; an IllegalArgumentException is a 400 at the handshake.
    if _int(query, "sendTimeoutMillis", 0) < 0:
        raise ParamError("sendTimeout needs to be >= 0")
    _int(query, "batchingMaxMessages", 0)
    if _int(query, "maxPendingMessages", 1) <= 0:
        raise ParamError("maxPendingMessages needs to be > 0")
    if _int(query, "batchingMaxPublishDelay", 1) < 1:
        raise ParamError("configured value for batch delay must be at least 1ms")
    _choice(query, "messageRoutingMode", ROUTING_MODES)
    _choice(query, "compressionType", COMPRESSION_TYPES)
    _choice(query, "hashingScheme", HASHING_SCHEMES)
    if "initialSequenceId" in query:
        # Pulsar 2.8 parses the literal string "initialSequenceId" here, so any value is refused.
        raise ParamError('For input string: "initialSequenceId"')
    return ProducerParams(query.get("producerName", ""))


def consumer_options(query: Mapping[str, str]) -> ConsumerOptions:
    kind = query.get("subscriptionType", "Exclusive")
    if kind not in wire.SUBSCRIPTION_TYPES:
        raise ParamError(f"Invalid subscriptionType {kind[:40]}")
    _choice(query, "subscriptionMode", SUBSCRIPTION_MODES)
    durable = query.get("subscriptionMode", "Durable") == "Durable"
    ack_timeout = _int(query, "ackTimeoutMillis", 0)
    if ack_timeout != 0 and ack_timeout < wire.MIN_ACK_TIMEOUT_MS:  # ConsumerBuilderImpl.ackTimeout's checkArgument
        raise ParamError(f"Ack timeout should be greater than {wire.MIN_ACK_TIMEOUT_MS} ms")
    nack_delay = _int(query, "negativeAckRedeliveryDelay", 60_000)
    if nack_delay < 0:
        raise ParamError("negativeAckRedeliveryDelay needs to be >= 0")
    priority = _int(query, "priorityLevel", 0)
    if priority < 0:
        raise ParamError("priorityLevel needs to be >= 0")
    queue = _int(query, "receiverQueueSize", MAX_RECEIVER_QUEUE)
    if queue < 0:
        raise ParamError("receiverQueueSize needs to be >= 0")
    _int(query, "maxRedeliverCount", 0)
    return ConsumerOptions(
        kind=kind,
        name=query.get("consumerName", ""),
        receiver_queue_size=queue,
        priority=priority,
        pull=_bool(query, "pullMode"),
        ack_timeout_ms=ack_timeout,
        nack_delay_ms=nack_delay,
        durable=durable,
    )


@dataclass(frozen=True)
class ReaderParams:
    name: str
    queue: int
    start: str | tuple[int, int]  # "earliest", "latest" or (ledger, entry)


def reader_params(query: Mapping[str, str]) -> ReaderParams:
    queue = _int(query, "receiverQueueSize", MAX_RECEIVER_QUEUE)
    start_text = query.get("messageId", "latest")
    start: str | tuple[int, int]
    if start_text in ("earliest", "latest"):
        start = start_text
    else:
        try:
            start = wire.parse_message_id(start_text)
        except wire.WireError:
            raise ParamError(f"Invalid messageId {start_text[:40]!r}") from None
    return ReaderParams(query.get("readerName", ""), max(1, min(queue, MAX_RECEIVER_QUEUE)), start)
