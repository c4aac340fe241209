"""Malformed requests a hostile client can send the emulator, table by table.

Each case asserts the exact 4xx the real service gives (see protocol.md §8), never a 500; the
request after it still works; and the emulator's log holds no byte of a refused header and no
traceback. Requests go over a raw socket so the bytes on the wire are exactly the case's.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import orjson
import pytest
import websocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import wire
from harness.emulator.command import API_KEY_ENV, PASSWORD_ENV
from tests.conftest import timeout
from tests.integration.emulator_client import TENANT, close_all, connect
from tests.integration.logged_emulator import LoggedEmulator

STREAMS = "/_fabric/_system/_api/streams"
#: Bytes no log line may ever hold: every refused credential below carries them.
MARKER = "Q7ZMARKERq"
KEY = f"{TENANT}.k.{MARKER}"
REQUIRED_KEY = f"{TENANT}.required.{MARKER}"
PASSWORD = f"pw{MARKER}"
_names = itertools.count()


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedEmulator]:
    """An emulator that takes any well-formed key."""
    with LoggedEmulator(tmp_path_factory.mktemp("malformed") / "emulator.log") as process:
        yield process
    close_all()


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedEmulator]:
    """An emulator that takes only REQUIRED_KEY and PASSWORD (compared in constant time)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(API_KEY_ENV, REQUIRED_KEY)
        patch.setenv(PASSWORD_ENV, PASSWORD)
        with LoggedEmulator(tmp_path_factory.mktemp("strict") / "emulator.log") as process:
            yield process
    close_all()


def assert_clean(log: str) -> None:
    """No byte of a refused credential, and no sign of a 500 or a traceback."""
    assert MARKER not in log, log[-3000:]
    for sign in ("Traceback", "Error handling request", "request failed", ": 500 "):
        assert sign not in log, log[-3000:]


@pytest.fixture(autouse=True)
def _log_stays_clean(emulator: LoggedEmulator) -> Iterator[None]:
    """What this test made the emulator log (not earlier tests') is clean."""
    start = len(emulator.log())
    yield
    close_all()
    assert_clean(emulator.log()[start:])


def http(base: str, method: str, path: bytes, headers: list[bytes], body: bytes = b"") -> tuple[int, bytes]:
    """Send exactly these bytes; returns the status and the body of the answer."""
    address = urlsplit(base)
    head = [method.encode() + b" " + path + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close", *headers]
    if body or method == "POST":
        head.append(b"Content-Length: %d" % len(body))
    with socket.create_connection((address.hostname, address.port), timeout=timeout(5)) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def authorized(value: bytes) -> list[bytes]:
    return [b"Authorization: " + value]


def still_serving(base: str, key: str = KEY) -> None:
    status, body = http(base, "GET", STREAMS.encode(), authorized(f"apikey {key}".encode()))
    assert status == 200 and orjson.loads(body)["error"] is False


MARK = MARKER.encode()
BAD_CREDENTIALS = [
    ("non-ASCII bearer", b"Bearer t\xc3\xa9st" + MARK, 401),
    ("non-ASCII JWT signature", b"Bearer a.b.\xc3\xa9" + MARK, 401),
    ("Latin-1 bearer", b"Bearer t\xe9st" + MARK, 401),
    ("non-ASCII API key", b"apikey demo_tenant.k.\xc3\xa9" + MARK, 401),
    ("control character in a key", b"apikey demo_tenant.k.\x01" + MARK, 400),
    ("DEL in a key", b"apikey demo_tenant.k.\x7f" + MARK, 400),
    ("space inside a key", b"apikey demo_tenant.k. " + MARK, 401),
    ("Bearer with no token", b"Bearer", 401),
    ("Bearer and spaces", b"Bearer   ", 401),
    ("apikey with no key", b"apikey", 401),
    ("JWT with bad base64", b"Bearer a.b!!.c" + MARK, 401),
    ("JWT of four parts", b"Bearer a.b.c." + MARK, 401),
    ("JWT of one part", b"Bearer " + MARK, 401),
    ("JWT with an empty part", b"Bearer a.." + MARK, 401),
    ("unknown scheme", b"Token " + MARK, 401),
    ("oversized key", b"apikey " + MARK * 1000, 400),
    ("oversized bearer", b"Bearer " + MARK * 1000, 400),
]


@pytest.mark.parametrize(("value", "status"), [c[1:] for c in BAD_CREDENTIALS], ids=[c[0] for c in BAD_CREDENTIALS])
def test_malformed_credentials_are_refused_with_a_4xx(emulator: LoggedEmulator, value: bytes, status: int) -> None:
    assert http(emulator.url, "GET", STREAMS.encode(), authorized(value))[0] == status
    still_serving(emulator.url)


STRICT_CREDENTIALS = [
    ("non-ASCII key against the required one", b"apikey demo_tenant.required.\xc3\xa9" + MARK, 401),
    ("the required key plus one character", f"apikey {REQUIRED_KEY}x".encode(), 401),
    ("a well-formed other key", b"apikey demo_tenant.other." + MARK, 401),
]


@pytest.mark.parametrize(
    ("value", "status"), [c[1:] for c in STRICT_CREDENTIALS], ids=[c[0] for c in STRICT_CREDENTIALS]
)
def test_a_required_key_refuses_malformed_and_other_keys(strict: LoggedEmulator, value: bytes, status: int) -> None:
    start = len(strict.log())
    assert http(strict.url, "GET", STREAMS.encode(), authorized(value))[0] == status
    still_serving(strict.url, REQUIRED_KEY)
    assert_clean(strict.log()[start:])


BAD_BODIES = [
    ("login body not JSON", "/_open/auth", b"{oops", 400),
    ("login body not an object", "/_open/auth", b"[1, 2]", 400),
    ("login body not UTF-8", "/_open/auth", b"\xff\xfe", 400),
    ("login with a non-ASCII password", "/_open/auth", '{"email":"a@b.c","password":"\u00e9"}'.encode(), 401),
    ("login with a number for email", "/_open/auth", b'{"email":1,"password":"x"}', 401),
    ("login with a lone surrogate", "/_open/auth", b'{"email":"a@b.c","password":"\\ud800"}', 400),
    ("validate a non-ASCII key", "/_fabric/_system/_api/key/validate", '{"apikey":"a.b.\u00e9"}'.encode(), 401),
    ("validate a number for jwt", "/_fabric/_system/_api/key/validate", b'{"jwt":5}', 401),
    ("validate nothing", "/_fabric/_system/_api/key/validate", b"{}", 401),
]


@pytest.mark.parametrize(("path", "body", "status"), [c[1:] for c in BAD_BODIES], ids=[c[0] for c in BAD_BODIES])
def test_malformed_login_and_validate_bodies_are_refused(
    strict: LoggedEmulator, path: str, body: bytes, status: int
) -> None:
    start = len(strict.log())
    assert http(strict.url, "POST", path.encode(), [b"Content-Type: application/json"], body)[0] == status
    login = orjson.dumps({"email": "a@b.c", "password": PASSWORD})
    status_ok, answer = http(strict.url, "POST", b"/_open/auth", [b"Content-Type: application/json"], login)
    assert status_ok == 200 and orjson.loads(answer)["tenant"] == "a_b.c"
    log = strict.log()[start:]
    assert "Traceback" not in log and ": 500 " not in log, log


BAD_SECONDS = [
    "-1",
    "2147483648",
    "99999999999999999999999",
    "-2147483649",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e3",
    "1.5",
    "true",
    "false",
    "null",
    "0x10",
    "1_000",
    "%205",
    "%C3%A9",
]


def test_ttl_out_of_range_is_refused_when_set_and_every_later_read_works(emulator: LoggedEmulator) -> None:
    base, auth = emulator.url, authorized(f"apikey {KEY}".encode())
    for accepted in ("0", "+7", "2147483647"):
        status, body = http(base, "POST", f"{STREAMS}/ttl/{accepted}".encode(), auth)
        assert status == 200 and orjson.loads(body)["result"] == int(accepted)
    for refused in BAD_SECONDS:
        status, body = http(base, "POST", f"{STREAMS}/ttl/{refused}".encode(), auth)
        assert status == 400 and orjson.loads(body)["errorMessage"].startswith("invalid ttl"), refused
        status, body = http(base, "GET", f"{STREAMS}/ttl".encode(), auth)
        assert status == 200 and orjson.loads(body)["result"] == 2**31 - 1, refused


def test_expiry_out_of_range_is_refused_and_the_stream_stays_usable(emulator: LoggedEmulator) -> None:
    base, auth = emulator.url, authorized(f"apikey {KEY}".encode())
    name = f"exp{next(_names)}"
    assert http(base, "POST", f"{STREAMS}/{name}".encode(), auth)[0] == 202
    for refused in BAD_SECONDS:
        status, _ = http(base, "POST", f"{STREAMS}/c8globals.{name}/expiry/{refused}".encode(), auth)
        assert status == 400, refused
    for accepted in ("2147483647", "0"):
        assert http(base, "POST", f"{STREAMS}/c8globals.{name}/expiry/{accepted}".encode(), auth)[0] == 200
    assert http(base, "GET", f"{STREAMS}/c8globals.{name}/backlog".encode(), auth)[0] == 200


BAD_REQUESTS = [
    ("Host with a port past 65535", "GET", b"/datacenter/local", [b"Host: x:99999"], 400),
    ("non-ASCII bytes in the path", "GET", STREAMS.encode() + b"/\xc3\xa9" + MARK, [], 400),
    ("control character in the path", "GET", STREAMS.encode() + b"/\x01" + MARK, [], 400),
    ("global not a boolean", "GET", STREAMS.encode() + b"?global=%ff", [], 400),
    ("oversized other header", "GET", STREAMS.encode(), [b"X-Thing: " + MARK * 1000], 400),
    ("unknown method on a known path", "PATCH", STREAMS.encode(), [], 405),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"), [c[1:] for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS]
)
def test_malformed_requests_are_refused_with_a_4xx(
    emulator: LoggedEmulator, method: str, path: bytes, headers: list[bytes], status: int
) -> None:
    auth = authorized(f"apikey {KEY}".encode())
    if any(h.startswith(b"Host:") for h in headers):  # replaces the helper's own Host line
        address = urlsplit(emulator.url)
        raw = b"\r\n".join([method.encode() + b" " + path + b" HTTP/1.1", *headers, b"Connection: close", *auth])
        with socket.create_connection((address.hostname, address.port), timeout=timeout(5)) as sock:
            sock.sendall(raw + b"\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert int(answer.split()[1]) == status
    else:
        assert http(emulator.url, method, path, [*headers, *auth])[0] == status
    still_serving(emulator.url)


#: (role, a query Pulsar's proxy refuses, the nearest one it accepts)
BAD_QUERIES = [
    ("consumer", "receiverQueueSize=2147483648", "receiverQueueSize=2147483647"),
    ("consumer", "receiverQueueSize=-1", "receiverQueueSize=0"),
    ("consumer", "receiverQueueSize=%ff", "receiverQueueSize=%2B5"),
    ("consumer", "ackTimeoutMillis=999", "ackTimeoutMillis=1000"),
    ("consumer", "ackTimeoutMillis=1", "ackTimeoutMillis=0"),
    ("consumer", "ackTimeoutMillis=-1", "ackTimeoutMillis=0"),
    ("consumer", "ackTimeoutMillis=2147483648", "ackTimeoutMillis=2147483647"),
    ("consumer", "negativeAckRedeliveryDelay=-1", "negativeAckRedeliveryDelay=0"),
    ("consumer", "priorityLevel=-1", "priorityLevel=0"),
    ("consumer", "maxRedeliverCount=1e3", "maxRedeliverCount=1000"),
    ("consumer", "subscriptionType=shared", "subscriptionType=Shared"),
    ("consumer", "subscriptionMode=%00", "subscriptionMode=NonDurable"),
    ("producer", "sendTimeoutMillis=-1", "sendTimeoutMillis=0"),
    ("producer", "sendTimeoutMillis=99999999999", "sendTimeoutMillis=2147483647"),
    ("producer", "maxPendingMessages=0", "maxPendingMessages=1"),
    ("producer", "batchingMaxPublishDelay=0", "batchingMaxPublishDelay=1"),
    ("producer", "batchingMaxMessages=nan", "batchingMaxMessages=0"),
    ("producer", "compressionType=lz4", "compressionType=LZ4"),
]


def _ws(base: str, role: str, query: str) -> str:
    topic = wire.Topic("malformed", "ns", f"t{next(_names)}")
    path = wire.ws_path(role, topic, "sub" if role == "consumer" else None)
    return base.replace("http://", "ws://") + path + "?" + query


@pytest.mark.parametrize(("role", "query", "accepted"), BAD_QUERIES, ids=[f"{r}-{q}" for r, q, _ in BAD_QUERIES])
def test_query_parameters_pulsar_refuses_are_a_400_at_the_handshake(
    emulator: LoggedEmulator, role: str, query: str, accepted: str
) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(_ws(emulator.url, role, query))
    assert refused.value.status_code == 400
    assert (refused.value.resp_body or b"").startswith(b"Invalid query params: ")
    connect(_ws(emulator.url, role, accepted)).close(timeout=1)


def test_an_otp_of_the_wrong_shape_is_refused_with_401(emulator: LoggedEmulator) -> None:
    topic = wire.Topic(TENANT, "c8global._system", "c8globals.none")
    base = emulator.url.replace("http://", "ws://") + wire.ws_path("producer", topic, prefix="/_ws")
    for otp in ("%C3%A9" + MARKER, MARKER, "0" * 33, "G" * 32, "%00" * 32):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            connect(base + "?otp=" + otp)
        assert refused.value.status_code == 401
    still_serving(emulator.url)


#: (case, headers, body, whether the body goes in a second packet, after the handler started reading).
#: A bad chunk size in a second packet is left out: aiohttp then never ends the request's payload, so
#: that client's own request waits until it gives up (no answer, but no 500 and no one else affected).
BAD_ENCODINGS = [
    ("gzip that is not gzip", [b"Content-Encoding: gzip", b"Content-Length: 6"], b"abcdef", False),
    ("gzip that is not gzip, late", [b"Content-Encoding: gzip", b"Content-Length: 6"], b"abcdef", True),
    ("deflate that is not deflate", [b"Content-Encoding: deflate", b"Content-Length: 6"], b"abcdef", False),
    ("deflate that is not deflate, late", [b"Content-Encoding: deflate", b"Content-Length: 6"], b"abcdef", True),
    ("a chunk size that is not hex", [b"Transfer-Encoding: chunked"], b"zz\r\nab\r\n0\r\n\r\n", False),
]


@pytest.mark.parametrize(
    ("headers", "body", "split"), [c[1:] for c in BAD_ENCODINGS], ids=[c[0] for c in BAD_ENCODINGS]
)
def test_a_body_that_cannot_be_decoded_is_a_400(
    emulator: LoggedEmulator, headers: list[bytes], body: bytes, split: bool
) -> None:
    auth = authorized(f"apikey {KEY}".encode())
    name = f"enc{next(_names)}"
    assert http(emulator.url, "POST", f"{STREAMS}/{name}".encode(), auth)[0] == 202
    address = urlsplit(emulator.url)
    for path in (b"/_open/auth", f"{STREAMS}/c8globals.{name}/publish".encode()):
        head = b"\r\n".join([b"POST " + path + b" HTTP/1.1", b"Host: x", b"Connection: close", *auth, *headers])
        with socket.create_connection((address.hostname, address.port), timeout=timeout(5)) as sock:
            sock.sendall(head + b"\r\n\r\n" + (b"" if split else body))
            if split:  # let the handler start reading first; either way the answer is the same
                time.sleep(0.2)
                sock.sendall(body)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.split()[1] == b"400", (path, answer[:300])
    status, body_out = http(emulator.url, "GET", f"{STREAMS}/c8globals.{name}/backlog".encode(), auth)
    assert status == 200 and orjson.loads(body_out)["result"]["totalMessages"] == 0  # nothing was published


# --- every REST route, with hypothesis choosing the malformed parts ---------------------------------

ROUTES = [
    ("GET", "/_api/user"),
    ("GET", "/datacenter/local"),
    ("POST", "/apid/otp"),
    ("POST", "/_open/auth"),
    ("POST", "/_fabric/{seg}/_api/key/validate"),
    *(
        (method, prefix + tail)
        for prefix in (STREAMS, "/_fabric/_system/streams")
        for method, tail in (
            ("GET", ""),
            ("POST", "/clearbacklog"),
            ("POST", "/clearbacklog/{seg}"),
            ("GET", "/ttl"),
            ("POST", "/ttl/{seg}"),
            ("DELETE", "/subscription/{seg}"),
            ("POST", "/unsubscribe/{seg}"),
            ("POST", "/{seg}"),
            ("DELETE", "/{stream}"),
            ("GET", "/{stream}/backlog"),
            ("GET", "/{stream}/stats"),
            ("GET", "/{stream}/subscriptions"),
            ("DELETE", "/{stream}/subscriptions/{seg}"),
            ("POST", "/{stream}/expiry/{seg}"),
            ("POST", "/{stream}/publish"),
        )
    ),
]
#: Statuses the emulator may answer a malformed REST call with; 500 is never among them.
ALLOWED = {200, 202, 400, 401, 403, 404, 405, 409, 412, 413}
segments = st.one_of(
    st.sampled_from(
        ["s", "c8globals.s", "c8locals.s", "%00", "%ff", "%C3%A9", "..", ".", "a%2Fb", "-1", "0", "+7", "2147483648"]
        + ["99999999999999999999999", "nan", "inf", "1e3", "true", "null", "x" * 300, "%25", "%"]
    ),
    st.text(alphabet="abcXYZ019._-~!$&'()*+,;=:@%", min_size=1, max_size=12),
)
header_values = st.one_of(
    st.just(f"apikey {KEY}".encode()),
    st.tuples(
        st.sampled_from([b"apikey ", b"Bearer ", b"bearer ", b"Basic ", b"", b"apikey", b"Bearer"]),
        st.binary(max_size=40),
    )
    .map(lambda parts: parts[0] + parts[1])
    .filter(lambda value: b"\r" not in value and b"\n" not in value),
)
bodies = st.one_of(
    st.binary(max_size=60),
    st.sampled_from(
        [b"{}", b"[]", b"null", b'{"email":"a@b.c","password":"x"}', b'{"apikey":"a.b.c"}', b'{"jwt":"a.b.c"}']
    ),
)
queries = st.sampled_from(
    ["", "?global=true", "?global=False", "?global=%ff", "?global=", "?force=true", "?global=yes&force=x"]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(ROUTES),
    method=st.one_of(st.none(), st.sampled_from(["PUT", "PATCH", "HEAD", "OPTIONS", "GET", "POST", "DELETE"])),
    seg=segments,
    stream=st.one_of(st.just("c8globals.s"), segments),
    header=st.one_of(st.none(), header_values),
    query=queries,
    body=bodies,
)
def test_any_rest_route_with_malformed_parts_answers_below_500(
    emulator: LoggedEmulator,
    route: tuple[str, str],
    method: str | None,
    seg: str,
    stream: str,
    header: bytes | None,
    query: str,
    body: bytes,
) -> None:
    start = len(emulator.log())
    auth = authorized(f"apikey {KEY}".encode())
    assert http(emulator.url, "POST", f"{STREAMS}/s".encode(), auth)[0] in (202, 409)
    path = route[1].replace("{seg}", seg).replace("{stream}", stream) + query
    headers = [b"Content-Type: application/json"] + ([] if header is None else authorized(header))
    status, _ = http(emulator.url, method or route[0], path.encode(), headers, body)
    assert status in ALLOWED, (method or route[0], path, header, body)
    still_serving(emulator.url)
    status, answer = http(emulator.url, "GET", f"{STREAMS}/ttl".encode(), auth)
    assert status == 200 and isinstance(orjson.loads(answer)["result"], int)
    assert_clean_of_errors(emulator.log()[start:])


def assert_clean_of_errors(log: str) -> None:
    """No traceback and no 500 (a generated header may repeat any bytes, so MARKER is not looked for)."""
    for sign in ("Traceback", "Error handling request", "request failed", ": 500 "):
        assert sign not in log, log[-3000:]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.one_of(st.none(), header_values), otp=st.one_of(st.none(), segments), role=st.sampled_from(wire.ROLES))
def test_any_gateway_handshake_with_malformed_credentials_answers_below_500(
    emulator: LoggedEmulator, header: bytes | None, otp: str | None, role: str
) -> None:
    start = len(emulator.log())
    topic = wire.Topic(TENANT, "c8global._system", "c8globals.s")
    path = wire.ws_path(role, topic, "sub" if role == "consumer" else None, prefix="/_ws")
    upgrade = [
        b"Upgrade: websocket",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        b"Sec-WebSocket-Version: 13",
    ]
    address = urlsplit(emulator.url)
    head = [b"GET " + path.encode() + (b"" if otp is None else b"?otp=" + otp.encode()) + b" HTTP/1.1", b"Host: x"]
    head += [b"Connection: Upgrade", *upgrade, *([] if header is None else authorized(header))]
    with socket.create_connection((address.hostname, address.port), timeout=timeout(5)) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n")
        answer = sock.recv(65536)
    assert answer.split()[1] in (b"101", b"400", b"401", b"403", b"404"), answer[:200]
    still_serving(emulator.url)
    assert_clean_of_errors(emulator.log()[start:])
