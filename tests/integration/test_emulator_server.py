"""The emulator's Pulsar WebSocket endpoints over real sockets on loopback (plain /ws/v2/ paths)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import orjson
import pytest
import websocket

from harness import wire
from harness.targets.emulator import EmulatorProcess
from tests.integration.emulator_client import (
    TOPIC,
    ack,
    close_all,
    connect,
    consumer,
    number,
    producer,
    receive,
    receive_all,
    send,
)


@pytest.fixture(autouse=True)
def _close_sockets() -> Iterator[None]:
    yield
    close_all()


def test_publish_ack_is_exactly_the_reference_frame(ws_url: str) -> None:
    p = producer(ws_url)
    acked = send(p, 1)
    assert set(acked) == {"result", "messageId", "context"}
    assert acked["result"] == "ok" and acked["context"] == "1"
    p.send('{"payload":"eA=="}')
    assert set(orjson.loads(p.recv())) == {"result", "messageId"}  # no context sent, none echoed
    p.close()


def test_message_frame_carries_the_reference_fields(ws_url: str) -> None:
    c = consumer(ws_url)
    p = producer(ws_url)
    send(p, 7, key="k1", eventTime="2021-10-29T16:01:38.967-07:00")
    frame = receive(c)
    assert set(frame) == {"messageId", "payload", "properties", "publishTime", "redeliveryCount", "key", "eventTime"}
    assert frame["payload"] == "bTc=" and frame["properties"] == {"n": "7"} and frame["redeliveryCount"] == 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,2}[1-9])?Z", frame["publishTime"])
    assert frame["key"] == "k1" and frame["eventTime"] == "2021-10-29T16:01:38.967-07:00"
    c.close()
    p.close()


def test_shared_consumers_split_the_stream_also_with_a_doubled_slash(ws_url: str) -> None:
    a = consumer(ws_url)
    b = consumer(ws_url, prefix="/")  # "//ws/v2/...", as the seed's jsc8 flow produces
    p = producer(ws_url)
    for n in range(10):
        send(p, n)
    seen = {}
    for name, ws in (("a", a), ("b", b)):
        frames = [receive(ws) for _ in range(5)]
        for frame in frames:
            ack(ws, frame)
        seen[name] = [number(f) for f in frames]
    assert seen == {"a": [0, 2, 4, 6, 8], "b": [1, 3, 5, 7, 9]}
    for ws in (a, b, p):
        ws.close()


def test_unacked_messages_of_a_closed_consumer_go_to_the_other(ws_url: str) -> None:
    a = consumer(ws_url)
    b = consumer(ws_url)
    p = producer(ws_url)
    for n in range(4):
        send(p, n)
    held = [receive(a) for _ in range(2)]  # a never acks
    a.close()
    got = [receive(b) for _ in range(4)]
    assert sorted(number(f) for f in got) == [0, 1, 2, 3]
    assert {number(f) for f in held} <= {number(f) for f in got}
    # Pulsar 2.8 (the default) counts a replay after a consumer leaves (PR #5895; reverted in 2.11 by #17060).
    held_numbers = {number(f) for f in held}
    assert all(f["redeliveryCount"] == (1 if number(f) in held_numbers else 0) for f in got)
    b.close()
    p.close()


@pytest.mark.parametrize(
    ("frame", "result"),
    [
        ("{not json", "send-error:3"),
        ('["an", "array"]', "send-error:3"),
        ('{"payload": "eA==", "properties": {"a": {"nested": 1}}}', "send-error:3"),
        ('{"payload": "!!not base64!!", "context": "c"}', "send-error:7"),
        ('{"context": "c"}', "send-error:7"),
        ('{"payload": "eA==", "eventTime": "yesterday"}', "send-error:7"),
    ],
)
def test_bad_publish_frames_get_send_errors_and_the_socket_stays_open(ws_url: str, frame: str, result: str) -> None:
    p = producer(ws_url)
    p.send(frame)
    answer = orjson.loads(p.recv())
    assert answer["result"] == result and answer["errorMsg"]
    assert send(p, 1)["result"] == "ok"
    p.close()


def test_a_frame_over_1_mib_closes_that_socket_only(ws_url: str) -> None:
    other = producer(ws_url)
    big = producer(ws_url)
    big.send('{"payload":"' + "A" * (1024 * 1024) + '"}')
    frame = big.recv_frame()  # type: ignore[no-untyped-call]
    assert frame.opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(frame.data[:2], "big") == 1009
    assert send(other, 1)["result"] == "ok"
    other.close()


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ws/v2/consumer/persistent/a/b/c/sub?subscriptionType=Sharded", 400),
        ("/ws/v2/consumer/persistent/a/b/c/sub?receiverQueueSize=many", 400),
        ("/ws/v2/consumer/persistent/a/b/c/sub?ackTimeoutMillis=500", 400),
        ("/ws/v2/consumer/persistent/a/b/c/sub?priorityLevel=-1", 400),
        ("/ws/v2/consumer/persistent/a/b/c/sub?receiverQueueSize=1_000", 400),
        ("/ws/v2/consumer/persistent/a/b/c/sub?priorityLevel=2147483648", 400),
        ("/ws/v2/producer/persistent/a/b/c?messageRoutingMode=Random", 400),
        ("/ws/v2/producer/persistent/a/b/c?initialSequenceId=5", 400),
        ("/ws/v2/consumer/persistent/a/b", 400),
        ("/ws/v2/reader/persistent/a/b/c?messageId=nonsense", 500),
        ("/ws/v2/nothing/here", 404),
        ("/admin/v2/clusters", 404),
    ],
)
def test_bad_handshakes_get_http_errors(ws_url: str, path: str, status: int) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        connect(ws_url + path)
    assert caught.value.status_code == status


def test_second_exclusive_consumer_and_a_type_mismatch_get_409(ws_url: str) -> None:
    first = consumer(ws_url, sub="ex", query="")
    for query in ("subscriptionType=Exclusive", "subscriptionType=Shared"):
        with pytest.raises(websocket.WebSocketBadStatusException) as caught:
            consumer(ws_url, sub="ex", query=query)
        assert caught.value.status_code == 409
    first.close()


def test_negative_ack_comes_back_with_a_redelivery_count(ws_url: str) -> None:
    c = consumer(ws_url, query="subscriptionType=Shared&negativeAckRedeliveryDelay=0")
    p = producer(ws_url)
    send(p, 1)
    first = receive(c)
    c.send(orjson.dumps({"type": "negativeAcknowledge", "messageId": first["messageId"]}).decode())
    again = receive(c)
    assert again["messageId"] == first["messageId"] and again["redeliveryCount"] == 1
    c.close()
    p.close()


def test_ack_timeout_redelivers_with_a_redelivery_count(ws_url: str) -> None:
    c = consumer(ws_url, query="subscriptionType=Shared&ackTimeoutMillis=1000")
    p = producer(ws_url)
    send(p, 1)
    first = receive(c)
    again = receive(c)  # never acked: back after the 1 s timeout
    assert again["messageId"] == first["messageId"] and again["redeliveryCount"] == 1
    c.close()
    p.close()


def test_pull_mode_permits_and_end_of_topic(ws_url: str) -> None:
    c = consumer(ws_url, query="subscriptionType=Shared&pullMode=true")
    p = producer(ws_url)
    for n in range(3):
        send(p, n)
    c.send('{"type":"isEndOfTopic"}')
    assert receive(c) == {"endOfTopic": False}  # nothing was pushed before it: pull mode
    c.send('{"type":"permit","permitMessages":2}')
    assert [number(receive(c)) for _ in range(2)] == [0, 1]
    assert receive_all(c, wait=0.3) == []
    c.close()
    p.close()


@pytest.mark.parametrize("command", ["{oops", '{"type":"permit"}'])
def test_unparseable_commands_close_the_consumer_with_the_pulsar_reason(ws_url: str, command: str) -> None:
    c = consumer(ws_url)
    c.send(command)
    frame = c.recv_frame()  # type: ignore[no-untyped-call]
    assert frame.opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(frame.data[:2], "big") == 1008 and frame.data[2:] == b"Failed to de-serialize from JSON"
    c.send_close()  # answer the close handshake, as any client does


def test_unknown_command_types_count_as_acks(ws_url: str) -> None:
    c = consumer(ws_url, query="subscriptionType=Shared&receiverQueueSize=1")
    p = producer(ws_url)
    send(p, 0)
    send(p, 1)
    first = receive(c)
    c.send(orjson.dumps({"type": "whatever", "messageId": first["messageId"]}).decode())
    assert number(receive(c)) == 1
    c.close()
    p.close()


def test_reader_reads_the_retained_backlog_from_earliest(ws_url: str) -> None:
    keeper = consumer(ws_url, query="subscriptionType=Shared&receiverQueueSize=1")
    p = producer(ws_url)
    for n in range(3):
        send(p, n)
    r = connect(ws_url + wire.ws_path("reader", TOPIC) + "?messageId=earliest")
    assert [number(receive(r)) for _ in range(3)] == [0, 1, 2]
    for ws in (r, keeper, p):
        ws.close()


@pytest.mark.parametrize("cap", [["--backlog-cap", "2"], ["--backlog-bytes", "100"]])  # a message is ~80 bytes
def test_backlog_cap_answers_send_error_8_and_keeps_what_it_accepted(cap: list[str]) -> None:
    with EmulatorProcess(cap) as emulator:
        base = emulator.url.replace("http://", "ws://")
        c = consumer(base, query="subscriptionType=Shared&receiverQueueSize=1")
        p = producer(base)
        assert [send(p, n)["result"] for n in range(3)] == ["ok", "ok", "send-error:8"]
        first = receive(c)
        ack(c, first)
        assert number(receive(c)) == 1
        assert send(p, 3)["result"] == "ok"
        for ws in (c, p):
            ws.close()
