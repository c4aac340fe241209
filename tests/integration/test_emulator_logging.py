"""What the emulator logs about bad input, read from the emulator process's own stderr.

REST errors and refused handshakes are logged (rate-limited, without the query string, headers
or body, so never a key, JWT or OTP); a socket's minor bad input once per connection; and a
close for bad input always, even after a minor warning on the same socket.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest
import requests
import websocket
from aiohttp import http_exceptions

from harness import wire
from harness.emulator.ratelog import RateLimitedLog
from harness.emulator.server import RequestContentWithheld
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


def test_an_oversized_authorization_header_is_logged_as_a_fact_without_its_bytes(emulator: LoggedEmulator) -> None:
    address = urlsplit(emulator.url)
    header = b"Authorization: apikey " + SECRET.encode() * 1000
    with socket.create_connection((address.hostname, address.port), timeout=timeout(5)) as sock:
        sock.sendall(
            b"GET " + STREAMS.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + header + b"\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.") and answer.split()[1] == b"400"
    assert call("GET", emulator.url + STREAMS).status_code == 200  # still serving
    log = emulator.log()
    assert "request refused before routing: 400, a header or the request line is too long" in log, log
    assert SECRET not in log and SECRET[:4] not in log and "Traceback" not in log, log


def _record(exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:  # noqa: BLE001 - the record needs a live traceback
        return logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "Error handling request from %s", ("1.2.3.4",), sys.exc_info()
        )


def test_the_request_log_filter_keeps_the_fact_and_drops_every_quoted_byte() -> None:
    seen: list[str] = []
    sink = logging.getLogger("test.refusals")
    sink.propagate = False
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(handler.format(record))  # type: ignore[method-assign]
    sink.addHandler(handler)
    refusals = RequestContentWithheld(RateLimitedLog(sink))
    too_long = http_exceptions.LineTooLong(f"apikey {SECRET}...".encode(), 8190)
    assert refusals.filter(_record(too_long)) is False  # logged through the rate limit instead
    assert refusals.filter(_record(ConnectionResetError(SECRET))) is False
    assert seen == [
        "request refused before routing: 400, a header or the request line is too long",
        "a client went away mid-request (ConnectionResetError)",
    ]
    bug = _record(ValueError(f"bad header {SECRET}"))
    assert refusals.filter(bug) is True
    text = logging.Formatter().format(bug)
    assert "request failed: ValueError (message withheld)" in text and "_record" in text  # the stack stays
    assert SECRET not in text
