"""Query parameters parsed as Pulsar's WebSocket proxy parses them (Java's Integer.parseInt and enums)."""

from __future__ import annotations

import pytest

from harness.emulator.params import ParamError, consumer_options, java_int, producer_params


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("1000", 1000), ("+7", 7), ("-1", -1), ("2147483647", 2**31 - 1), ("-2147483648", -(2**31))],
)
def test_java_int_accepts_a_sign_and_digits_within_32_bits(text: str, value: int) -> None:
    assert java_int(text) == value


@pytest.mark.parametrize("text", ["", "+", "-", "1_000", " 1000", "1000 ", "1e3", "0x10", "2147483648", "-2147483649"])
def test_java_int_refuses_what_integer_parse_int_refuses(text: str) -> None:
    assert java_int(text) is None


def test_numeric_parameters_are_refused_like_java_refuses_them() -> None:
    with pytest.raises(ParamError, match="receiverQueueSize"):
        consumer_options({"receiverQueueSize": "1_000"})
    with pytest.raises(ParamError, match="sendTimeoutMillis"):
        producer_params({"sendTimeoutMillis": "99999999999"})
    assert consumer_options({"receiverQueueSize": "+5"}).receiver_queue_size == 5


def test_subscription_mode_chooses_durable_or_not() -> None:
    assert consumer_options({}).durable and consumer_options({"subscriptionMode": "Durable"}).durable
    assert not consumer_options({"subscriptionMode": "NonDurable"}).durable
    with pytest.raises(ParamError):
        consumer_options({"subscriptionMode": "nondurable"})


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"receiverQueueSize": "2147483648"}, "receiverQueueSize"),
        ({"receiverQueueSize": "-1"}, "receiverQueueSize needs to be >= 0"),
        ({"ackTimeoutMillis": "999"}, "Ack timeout should be greater than 1000 ms"),
        ({"ackTimeoutMillis": "1"}, "Ack timeout should be greater than 1000 ms"),
        ({"ackTimeoutMillis": "-1000"}, "Ack timeout should be greater than 1000 ms"),
        ({"ackTimeoutMillis": "2147483648"}, "ackTimeoutMillis"),
        ({"negativeAckRedeliveryDelay": "-1"}, "negativeAckRedeliveryDelay needs to be >= 0"),
        ({"priorityLevel": "-1"}, "priorityLevel needs to be >= 0"),
    ],
)
def test_consumer_values_pulsar_refuses_are_refused(query: dict[str, str], message: str) -> None:
    with pytest.raises(ParamError, match=message):
        consumer_options(query)


def test_consumer_edge_values_pulsar_accepts_are_accepted() -> None:
    assert consumer_options({"ackTimeoutMillis": "0"}).ack_timeout_ms == 0
    assert consumer_options({"ackTimeoutMillis": "1000"}).ack_timeout_ms == 1000
    assert consumer_options({"ackTimeoutMillis": "2147483647"}).ack_timeout_ms == 2**31 - 1
    assert consumer_options({"receiverQueueSize": "0"}).receiver_queue_size == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"sendTimeoutMillis": "-1"}, "sendTimeout needs to be >= 0"),
        ({"maxPendingMessages": "0"}, "maxPendingMessages needs to be > 0"),
        ({"maxPendingMessages": "-5"}, "maxPendingMessages needs to be > 0"),
        ({"batchingMaxPublishDelay": "0"}, "batch delay must be at least 1ms"),
        ({"batchingMaxMessages": "nan"}, "batchingMaxMessages"),
    ],
)
def test_producer_values_pulsar_refuses_are_refused(query: dict[str, str], message: str) -> None:
    with pytest.raises(ParamError, match=message):
        producer_params(query)
    edge = {
        "sendTimeoutMillis": "0",
        "maxPendingMessages": "1",
        "batchingMaxPublishDelay": "1",
        "batchingMaxMessages": "0",
    }
    assert producer_params(edge).name == ""
