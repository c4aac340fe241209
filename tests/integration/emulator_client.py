"""A tiny client for the emulator over real sockets: websocket-client and requests, bounded timeouts."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import websocket

from harness import wire
from tests.conftest import timeout

TENANT = "demo_tenant"
API_KEY = f"{TENANT}.testkey.SECRET"
AUTH = {"Authorization": f"apikey {API_KEY}"}
TOPIC = wire.Topic(TENANT, "c8global._system", "c8globals.streamQuickstart")


_OPEN: list[websocket.WebSocket] = []


def connect(url: str, headers: dict[str, str] | None = None, **options: Any) -> websocket.WebSocket:
    ws = websocket.create_connection(url, timeout=timeout(5), header=headers or {}, **options)
    _OPEN.append(ws)
    return ws


def close_all() -> None:
    """Close every socket a test opened (an autouse fixture in each test module calls it)."""
    while _OPEN:
        ws = _OPEN.pop()
        try:
            ws.close(timeout=1)
        except (OSError, websocket.WebSocketException):
            pass
        finally:
            ws.shutdown()  # type: ignore[no-untyped-call]


def producer(base: str, topic: wire.Topic = TOPIC, prefix: str = "", query: str = "", **kw: Any) -> websocket.WebSocket:
    return connect(base + wire.ws_path("producer", topic, prefix=prefix) + (f"?{query}" if query else ""), **kw)


def consumer(
    base: str,
    sub: str = "sub",
    query: str = "subscriptionType=Shared",
    prefix: str = "",
    topic: wire.Topic = TOPIC,
    **kw: Any,
) -> websocket.WebSocket:
    return connect(base + wire.ws_path("consumer", topic, sub, prefix=prefix) + "?" + query, **kw)


def send(ws: websocket.WebSocket, n: int, **extra: Any) -> dict[str, Any]:
    """Publish message ``n`` (property ``n``, context ``n``) and return its ack frame."""
    payload = base64.b64encode(f"m{n}".encode()).decode()
    frame = {"payload": payload, "properties": {"n": str(n)}, "context": str(n), **extra}
    ws.send(orjson.dumps(frame).decode())
    ack: dict[str, Any] = orjson.loads(ws.recv())
    return ack


def receive(ws: websocket.WebSocket) -> dict[str, Any]:
    frame: dict[str, Any] = orjson.loads(ws.recv())
    return frame


def ack(ws: websocket.WebSocket, frame: dict[str, Any]) -> None:
    ws.send(orjson.dumps({"messageId": frame["messageId"]}).decode())


def number(frame: dict[str, Any]) -> int:
    return int(frame["properties"]["n"])


def receive_all(ws: websocket.WebSocket, wait: float = 0.5) -> list[dict[str, Any]]:
    """Every frame that arrives until ``wait`` seconds pass without one."""
    frames: list[dict[str, Any]] = []
    ws.settimeout(wait)
    try:
        for _ in range(10_000):
            data = ws.recv()
            if not data:
                break  # the emulator closed the socket
            frames.append(orjson.loads(data))
    except (websocket.WebSocketTimeoutException, websocket.WebSocketConnectionClosedException):
        pass
    finally:
        ws.settimeout(timeout(5))
    return frames
