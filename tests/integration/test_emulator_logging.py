"""What the emulator logs about bad input, read from the emulator process's own stderr.

REST errors and refused handshakes are logged (rate-limited, without the query string, headers
or body, so never a key, JWT or OTP); a socket's minor bad input once per connection; and a
close for bad input always, even after a minor warning on the same socket.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import requests
import websocket

from harness import wire
from tests.conftest import timeout
from tests.integration.emulator_client import TENANT, close_all, connect, consumer
from tests.integration.logged_emulator import LoggedEmulator

STREAMS = "/_fabric/_system/_api/streams"
SECRET = "S3CRETV4LUE"
KEY = f"{TENANT}.testkey.{SECRET}"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[LoggedEmulator]:
    with LoggedEmulator(tmp_path / "emulator.log") as process:
        yield process
    close_all()


def call(method: str, url: str, key: str | None = KEY) -> requests.Response:
    headers = {"Authorization": f"apikey {key}"} if key else {}
    return requests.request(method, url, headers=headers, timeout=timeout(5))


def test_rest_errors_and_refused_handshakes_are_logged_without_credentials(emulator: LoggedEmulator) -> None:
    base = emulator.url
    assert call("POST", base + STREAMS + "/bad%25name").status_code == 400
    assert call("GET", base + STREAMS, key=f"nodots{SECRET}").status_code == 401
    assert call("DELETE", base + STREAMS + "/c8globals.nope").status_code == 404
    assert call("GET", base + "/no/such/path").status_code == 404
    assert call("PUT", base + "/apid/otp").status_code == 405
    otp = call("POST", base + "/apid/otp").json()["otp"]
    path = wire.ws_path("producer", wire.Topic(TENANT, "c8global._system", "c8globals.nope"), prefix="/_ws")
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(base.replace("http://", "ws://") + path + f"?otp={otp}")
    assert refused.value.status_code == 404  # the OTP was good; the stream does not exist
    with pytest.raises(websocket.WebSocketBadStatusException) as reused:
        connect(base.replace("http://", "ws://") + path + f"?otp={otp}")
    assert reused.value.status_code == 401
    log = emulator.log()
    for line in (
        f"POST {STREAMS}/bad%25name: 400 invalid stream name",
        f"GET {STREAMS}: 401 unauthorized",
        f"DELETE {STREAMS}/c8globals.nope: 404 stream c8globals.nope not found",
        "GET /no/such/path: 404 unknown path",
        "PUT /apid/otp: 405 method not allowed",
        f"WebSocket {path}: 404 Failed to create producer",
        f"WebSocket {path}: 401 Failed to authenticate",
    ):
        assert line in log, f"{line!r} not logged:\n{log}"
    assert SECRET not in log and otp not in log


def test_a_close_for_bad_input_is_logged_even_after_a_minor_warning(emulator: LoggedEmulator) -> None:
    c = consumer(emulator.url.replace("http://", "ws://"))
    for _ in range(3):
        c.send(orjson.dumps({"messageId": "CAAQAA=="}).decode())  # no such message: minor, logged once
    c.send("{oops")
    frame = c.recv_frame()  # type: ignore[no-untyped-call]
    assert frame.opcode == websocket.ABNF.OPCODE_CLOSE
    c.send_close()
    lines = emulator.log_lines()
    assert sum("ack for an unknown or already acknowledged messageId" in line for line in lines) == 1, lines
    assert sum("command is not JSON, closing" in line for line in lines) == 1, lines
