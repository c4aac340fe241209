"""Wire frames, paths and message ids, as the protocol reference gives them."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import wire
from harness.emulator import frames
from harness.emulator.store import TopicLog

TOPIC = wire.Topic("demo_tenant", "c8global._system", "c8globals.streamQuickstart")


def test_message_id_matches_pulsar_example() -> None:
    """Ledger 0, entry 3 encodes as the reference's ``CAAQAw==``."""
    assert wire.message_id(0, 3) == b"CAAQAw=="
    assert wire.parse_message_id("CAAQAw==") == (0, 3)


@given(st.integers(0, 2**40), st.integers(0, 2**40))
def test_message_id_round_trips_and_the_topic_log_mints_the_same(ledger: int, entry: int) -> None:
    assert wire.parse_message_id(wire.message_id(ledger, entry).decode()) == (ledger, entry)
    assert TopicLog(TOPIC, ledger).message_id(entry) == wire.message_id(ledger, entry)


@pytest.mark.parametrize("bad", ["", "not base64!", "CA==", "EAM="])
def test_bad_message_ids_are_refused(bad: str) -> None:
    with pytest.raises(wire.WireError):
        wire.parse_message_id(bad)


def test_consumer_path_of_the_seed_parses_with_double_slash_and_prefix() -> None:
    """jsc8's seed flow sends ``//_ws/ws/v2/consumer/...``; the subscription is the last segment."""
    parsed = wire.parse_ws_path(
        "//_ws/ws/v2/consumer/persistent/demo_tenant/c8global._system/c8globals.streamQuickstart/consumer-subscription"
    )
    assert parsed == wire.WsPath("consumer", TOPIC, "consumer-subscription")


def test_paths_round_trip_with_and_without_prefix() -> None:
    for prefix in ("", "/_ws"):
        assert wire.parse_ws_path(wire.ws_path("producer", TOPIC, prefix=prefix)) == wire.WsPath("producer", TOPIC)
        path = wire.ws_path("consumer", TOPIC, "sub/with slash", prefix=prefix)
        assert wire.parse_ws_path(path).subscription == "sub/with slash"


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/ws/v1/producer/persistent/a/b/c",
        "/ws/v2/admin/persistent/a/b/c",
        "/ws/v2/producer/non-persistent/a/b/c",
        "/ws/v2/producer/persistent/a/b",
        "/ws/v2/consumer/persistent/a/b/c",
        "/ws/v2/producer/persistent/a//c",
    ],
)
def test_invalid_paths_are_refused(path: str) -> None:
    with pytest.raises(wire.WireError):
        wire.parse_ws_path(path)


def test_the_load_side_decodes_the_emulators_publish_acks() -> None:
    """ProducerAck is NON_NULL: no ``context`` key when none was sent; a numeric context reads as text."""
    ok = wire.decode_publish_ack(frames.publish_ack("CAAQAw==", "1"))
    assert ok == wire.PublishAck("ok", "CAAQAw==", "1") and ok.ok
    assert wire.decode_publish_ack(frames.publish_ack("CAAQAw==", None)).context is None
    error = wire.decode_publish_ack(frames.publish_error(frames.PublishRejected(7, "Invalid", "c")))
    assert error == wire.PublishAck("send-error:7", None, "c", "Invalid") and not error.ok
    assert wire.decode_publish_ack('{"result":"send-error:7","errorMsg":"Invalid","context":7}').context == "7"


def test_consumer_commands() -> None:
    assert orjson.loads(wire.encode_ack("X")) == {"messageId": "X"}
    assert orjson.loads(wire.encode_nack("X")) == {"type": "negativeAcknowledge", "messageId": "X"}
    assert orjson.loads(wire.encode_permit(5)) == {"type": "permit", "permitMessages": 5}


@pytest.mark.parametrize("bad", ["", "[]", "{", '{"result": 1}'])
def test_bad_publish_acks_raise_wire_errors(bad: str) -> None:
    with pytest.raises(wire.WireError):
        wire.decode_publish_ack(bad)
