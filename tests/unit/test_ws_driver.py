"""The WebSocket driver's frames and session lifecycle, over an in-memory socket (no endpoint)."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections import deque
from typing import cast

import gevent
import orjson
import pytest
from gevent.event import Event

from harness.drivers.base import Closed, ConnectError, Delivery, OutgoingMessage, Published, PublishOutcome, Refused
from harness.drivers.websocket import WebSocketDriver, WsConsumerSession, WsProducerSession
from harness.drivers.ws_connection import WsConnection
from harness.load.stamp import PayloadSource, stamp_properties
from harness.settings import LoadSettings
from harness.targets.base import Endpoint, Target
from harness.wire import WireError

LIMIT_S = 2.0


class MemorySocket:
    """What a session needs of a WsConnection: frames fed in by the test, frames sent kept."""

    def __init__(self) -> None:
        self.frames: deque[bytes] = deque()
        self.sent: list[dict[str, object]] = []
        self.closed = False
        self.closed_ns: int | None = None
        self.close_status: int | None = None
        self.received_ns = 0
        self._peer_gone = False
        self._wake = Event()

    def feed(self, *frames: bytes) -> None:
        self.frames.extend(frames)
        self._wake.set()

    def peer_closes(self, code: int) -> None:
        self.close_status, self.closed_ns, self._peer_gone = code, time.time_ns(), True
        self._wake.set()

    def recv(self) -> bytes | None:
        while True:
            if self.frames:
                self.received_ns = max(time.time_ns(), self.received_ns + 1)
                return self.frames.popleft()
            if self._peer_gone or self.closed:
                self.closed = True
                return None
            self._wake.clear()
            self._wake.wait()

    def send(self, frame: str | bytes) -> None:
        if self.closed:
            raise OSError("socket is closed")
        self.sent.append(orjson.loads(frame))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.closed_ns = self.closed_ns or time.time_ns()
            self._wake.set()


class Heard:
    """A listener that keeps every call."""

    def __init__(self) -> None:
        self.outcomes: list[PublishOutcome] = []
        self.deliveries: list[Delivery] = []
        self.closed: list[Closed] = []
        self.failures: list[tuple[str, Exception]] = []

    def on_outcome(self, outcome: PublishOutcome) -> None:
        self.outcomes.append(outcome)

    def on_delivery(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)

    def on_closed(self, closed: Closed) -> None:
        self.closed.append(closed)

    def on_failure(self, what: str, exc: Exception) -> None:
        self.failures.append((what, exc))


def until(condition: object) -> None:
    deadline = time.monotonic() + LIMIT_S
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        gevent.sleep(0.001)
    assert condition(), "timed out"  # type: ignore[operator]


class NoTarget(Target):
    name = "none"

    def __init__(self, url: str = "ws://127.0.0.1:9") -> None:
        self.url = url

    @property
    def base_url(self) -> str:
        return self.url

    def producer_endpoint(self) -> Endpoint:
        return Endpoint(self.url + "/ws/v2/producer/persistent/public/default/t")

    def consumer_endpoint(self, consumer_name: str) -> Endpoint:
        return Endpoint(self.url + "/ws/v2/consumer/persistent/public/default/t/s")


def producer(sock: MemorySocket, heard: Heard, driver: WebSocketDriver | None = None) -> WsProducerSession:
    driver = driver or WebSocketDriver(NoTarget(), LoadSettings())
    return WsProducerSession(cast(WsConnection, sock), heard, driver.encode)


def test_a_publish_frame_carries_payload_properties_context_and_key() -> None:
    sock, heard = MemorySocket(), Heard()
    session = producer(sock, heard)
    props = stamp_properties("r", "w0-p1/7", 1, 2)
    session.send(OutgoingMessage(7, b"hello", props, key="k3"))
    session.send(OutgoingMessage(8, b"x", {}))
    assert sock.sent == [
        {"payload": base64.b64encode(b"hello").decode(), "context": "7", "properties": props, "key": "k3"},
        {"payload": "eA==", "context": "8"},
    ]
    session.close()


def test_a_shared_body_is_encoded_once() -> None:
    driver = WebSocketDriver(NoTarget(), LoadSettings())
    body = PayloadSource("fill", 1000).raw(0)
    first = driver.encode(body)
    assert driver.encode(body) is first  # the same string object: no second encoding
    copy = bytes(bytearray(body))  # equal, but another object: encoded again, never mistaken for the cached one
    assert copy is not body and driver.encode(copy) == first and driver.encode(copy) is not first


def test_publish_answers_become_outcomes_and_a_bad_answer_a_failure() -> None:
    sock, heard = MemorySocket(), Heard()
    session = producer(sock, heard)
    sock.feed(
        b'{"result":"ok","messageId":"CAEQAg==","context":"4"}',
        b'{"result":"send-error:3","errorMsg":"too big","context":"5"}',
        b"not json",
        b'{"result":"ok","messageId":"x","context":"abc"}',
    )
    until(lambda: len(heard.outcomes) + len(heard.failures) == 4)
    ok, refused = heard.outcomes
    assert isinstance(ok, Published) and (ok.context, ok.message_id) == (4, "CAEQAg==") and ok.at_ns > 0
    assert isinstance(refused, Refused) and (refused.context, refused.error) == (5, "send-error:3: too big")
    assert [(what, type(exc)) for what, exc in heard.failures] == [("receive", WireError)] * 2
    assert not session.closed  # a bad frame does not end the session
    session.close()


def test_a_delivery_is_decoded_and_acked_nacked_and_permitted_with_the_proxys_frames() -> None:
    sock, heard = MemorySocket(), Heard()
    session = WsConsumerSession(cast(WsConnection, sock), heard)
    header = base64.b64encode(PayloadSource("fill", 200).with_header_raw(3, "run-1", "w0-p1/3", 10, 20)).decode()
    frame = {
        "messageId": "CAEQAw==",
        "payload": header,
        "redeliveryCount": 2,
        "key": "k1",
        "publishTime": "2026-12-08T00:00:01.250Z",
    }
    sock.feed(orjson.dumps(frame), b'{"messageId":"m2","payload":"eA=="}')
    until(lambda: len(heard.deliveries) == 2)
    first, second = heard.deliveries
    assert (first.message_id, first.redelivery, first.key, first.size) == ("CAEQAw==", 2, "k1", 200)
    assert (first.stamp.run, first.stamp.uid, first.stamp.intended_ns, first.stamp.sent_ns) == (
        "run-1",
        "w0-p1/3",
        10,
        20,
    )
    assert first.publish_ns == 1_796_688_001_250_000_000
    assert second.received_ns > first.received_ns and second.stamp.uid == "" and second.publish_ns is None
    assert session.ack(first) and session.nack(second) and session.permit(5)
    assert sock.sent == [
        {"messageId": "CAEQAw=="},
        {"type": "negativeAcknowledge", "messageId": "m2"},
        {"type": "permit", "permitMessages": 5},
    ]
    session.close()
    assert not session.ack(first) and len(sock.sent) == 3  # nothing goes out on a closed session


def test_the_peers_close_code_is_the_reason_and_its_time_the_leaving() -> None:
    sock, heard = MemorySocket(), Heard()
    WsConsumerSession(cast(WsConnection, sock), heard)
    gevent.sleep(0)
    sock.peer_closes(1011)
    until(lambda: heard.closed)
    (closed,) = heard.closed
    assert closed.reason == "closed by peer (1011)" and closed.at_ns == sock.closed_ns


def test_no_listener_call_after_close_returns() -> None:
    sock, heard = MemorySocket(), Heard()
    session = WsConsumerSession(cast(WsConnection, sock), heard)
    gevent.sleep(0)
    began = session.close()
    sock.feed(b'{"messageId":"late","payload":""}')
    gevent.sleep(0.02)
    assert session.closed and heard.deliveries == [] and heard.closed == []
    assert began == sock.closed_ns


def test_a_receive_loop_that_dies_is_reported_and_the_session_ends() -> None:
    sock, heard = MemorySocket(), Heard()

    def broken() -> bytes | None:
        raise RuntimeError("read failed")

    sock.recv = broken  # type: ignore[method-assign]
    session = WsConsumerSession(cast(WsConnection, sock), heard)
    until(lambda: heard.closed)
    assert [(what, str(exc)) for what, exc in heard.failures] == [("receive loop failed", "read failed")]
    assert heard.closed[0].reason == "receive loop failed" and session.closed and sock.closed


@pytest.mark.parametrize(("kind", "busy"), [("Exclusive", True), ("Failover", True), ("Shared", False)])
def test_a_409_refusal_is_busy_only_where_the_subscription_type_makes_it_normal(kind: str, busy: bool) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def refuse_once() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 409 Conflict\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy")
        conn.close()

    server = threading.Thread(target=refuse_once, daemon=True)  # a real thread: this process is not monkey-patched
    server.start()
    try:
        driver = WebSocketDriver(NoTarget(f"ws://127.0.0.1:{port}"), LoadSettings(subscription_type=kind))
        with pytest.raises(ConnectError) as refused:
            driver.open_consumer("w0-c1", Heard())
        assert (refused.value.status, refused.value.busy) == (409, busy), str(refused.value)
    finally:
        listener.close()
        server.join(LIMIT_S)


def test_an_unreachable_endpoint_is_a_connect_error_never_busy() -> None:
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
    driver = WebSocketDriver(NoTarget(f"ws://127.0.0.1:{port}"), LoadSettings(subscription_type="Exclusive"))
    with pytest.raises(ConnectError) as refused:
        driver.open_producer("w0-p1", Heard())
    assert refused.value.status is None and not refused.value.busy
