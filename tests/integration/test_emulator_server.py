"""The emulator over real WebSockets on loopback, spoken to with websocket-client."""

from __future__ import annotations

import orjson
import pytest
import websocket

from harness import wire
from tests.conftest import timeout

TOPIC = wire.Topic("demo_tenant", "c8global._system", "c8globals.streamQuickstart")


def connect(url: str) -> websocket.WebSocket:
    return websocket.create_connection(url, timeout=timeout(5))


def producer(base: str, prefix: str = "") -> websocket.WebSocket:
    return connect(base + wire.ws_path("producer", TOPIC, prefix=prefix))


def consumer(
    base: str, sub: str = "sub", query: str = "subscriptionType=Shared", prefix: str = ""
) -> websocket.WebSocket:
    return connect(base + wire.ws_path("consumer", TOPIC, sub, prefix=prefix) + "?" + query)


def publish(ws: websocket.WebSocket, n: int) -> dict[str, object]:
    ws.send(wire.encode_publish(wire.encode_payload(f"m{n}".encode()), {"n": str(n)}, str(n)))
    ack: dict[str, object] = orjson.loads(ws.recv())
    return ack


def test_publish_ack_is_exactly_the_reference_frame(ws_url: str) -> None:
    p = producer(ws_url)
    ack = publish(p, 1)
    assert set(ack) == {"result", "messageId", "context"}
    assert ack["result"] == "ok" and ack["context"] == "1"
    wire.parse_message_id(str(ack["messageId"]))
    p.close()


def test_shared_consumers_under_both_prefixes_split_the_stream(ws_url: str) -> None:
    """One consumer on /ws/v2, one on Macrometa's //_ws/ws/v2 (the seed's doubled slash)."""
    a = consumer(ws_url)
    b = consumer(ws_url, prefix="//_ws")
    p = producer(ws_url, prefix="/_ws")
    seen: dict[str, list[int]] = {"a": [], "b": []}
    for n in range(10):
        publish(p, n)
    for name, ws in (("a", a), ("b", b)):
        for _ in range(5):
            frame = wire.decode_message(ws.recv())
            seen[name].append(int(frame.properties["n"]))
            assert frame.redelivery_count == 0 and frame.publish_time
            ws.send(wire.encode_ack(frame.message_id))
    assert sorted(seen["a"] + seen["b"]) == list(range(10))
    assert seen["a"] == [0, 2, 4, 6, 8] and seen["b"] == [1, 3, 5, 7, 9]
    for ws in (a, b, p):
        ws.close()


def test_unacked_messages_of_a_closed_consumer_go_to_the_other(ws_url: str) -> None:
    a = consumer(ws_url)
    b = consumer(ws_url)
    p = producer(ws_url)
    for n in range(4):
        publish(p, n)
    held = [wire.decode_message(a.recv()) for _ in range(2)]  # a never acks
    a.close()
    got = sorted(int(wire.decode_message(b.recv()).properties["n"]) for _ in range(4))
    assert got == [0, 1, 2, 3]
    assert {int(m.properties["n"]) for m in held} <= set(got)
    b.close()
    p.close()


@pytest.mark.parametrize(
    ("frame", "result"),
    [
        ("{not json", "send-error:3"),
        ('{"payload": "!!not base64!!", "context": "c"}', "send-error:7"),
        ('{"context": "c"}', "send-error:7"),
    ],
)
def test_bad_publish_frames_get_send_errors_and_the_socket_stays_open(ws_url: str, frame: str, result: str) -> None:
    p = producer(ws_url)
    p.send(frame)
    ack = orjson.loads(p.recv())
    assert ack["result"] == result and ack["errorMsg"]
    assert publish(p, 1)["result"] == "ok"
    p.close()


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ws/v2/consumer/persistent/a/b/c/sub?subscriptionType=Sharded", 400),
        ("/ws/v2/consumer/persistent/a/b/c/sub?receiverQueueSize=many", 400),
        ("/ws/v2/nothing/here", 404),
        ("/admin/v2/clusters", 404),
    ],
)
def test_bad_handshakes_get_http_errors(ws_url: str, path: str, status: int) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        connect(ws_url + path)
    assert caught.value.status_code == status


def test_second_exclusive_consumer_gets_409(ws_url: str) -> None:
    first = consumer(ws_url, sub="ex", query="")
    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        consumer(ws_url, sub="ex", query="subscriptionType=Exclusive")
    assert caught.value.status_code == 409
    first.close()
