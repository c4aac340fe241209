"""The emulator's GDN side over real HTTP and WebSockets: REST shapes and codes, auth, OTPs."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import orjson
import pytest
import requests
import websocket

from harness import wire
from harness.targets.emulator import EmulatorProcess
from tests.conftest import timeout
from tests.integration.emulator_client import AUTH, TENANT, close_all, connect, consumer, producer, receive, send

STREAMS = "/_fabric/_system/_api/streams"


@pytest.fixture(autouse=True)
def _close_sockets() -> Iterator[None]:
    yield
    close_all()


def call(method: str, url: str, headers: dict[str, str] | None = AUTH, **kw: object) -> requests.Response:
    return requests.request(method, url, headers=headers, timeout=timeout(5), **kw)  # type: ignore[arg-type]


def otp(base: str) -> str:
    response = call("POST", base + "/apid/otp")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    value: str = response.json()["otp"]
    return value


STREAM_TOPIC = wire.Topic(TENANT, "c8global._system", "c8globals.s")


def gateway(base: str, role: str, topic: wire.Topic = STREAM_TOPIC) -> str:
    return base.replace("http://", "ws://") + wire.ws_path(role, topic, "sub" if role == "consumer" else None, "/_ws")


def test_rest_needs_credentials_and_errors_have_the_gdn_shape(emulator: EmulatorProcess) -> None:
    for headers in (None, {"Authorization": "apikey nodots"}, {"Authorization": "Basic YXBpLXg6"}):
        response = call("GET", emulator.url + STREAMS, headers)
        assert response.status_code == 401
        assert set(response.json()) == {"code", "error", "errorMessage", "errorNum"} and response.json()["error"]


def test_stream_lifecycle_with_the_reference_shapes(emulator: EmulatorProcess) -> None:
    base = emulator.url
    assert call("GET", base + STREAMS + "?global=true").json() == {"error": False, "code": 200, "result": []}
    created = call("POST", base + STREAMS + "/s?global=True")
    assert created.status_code == 202 and created.json() == {
        "code": 202,
        "result": {"stream-id": "c8globals.s"},
        "error": False,
    }
    assert call("POST", base + STREAMS + "/s?global=true").status_code == 409
    assert call("POST", base + STREAMS + "/bad%25name").status_code == 400
    assert call("POST", base + "/_fabric/_system/streams/legacy?global=false").status_code == 202
    listed = call("GET", base + STREAMS).json()["result"]
    assert {(s["topic"], s["local"], s["type"], s["tenant"], s["db"]) for s in listed} == {
        ("c8globals.s", False, 4, TENANT, "_system"),
        ("c8locals.legacy", True, 4, TENANT, "_system"),
    }
    assert [s["topic"] for s in call("GET", base + STREAMS + "?global=false").json()["result"]] == ["c8locals.legacy"]
    deleted = call("DELETE", base + STREAMS + "/c8globals.s?force=false")
    assert deleted.status_code == 202 and deleted.json() == {"code": 202, "error": False}
    assert call("DELETE", base + STREAMS + "/c8globals.s").status_code == 404


def test_subscriptions_stats_backlog_and_clearing(emulator: EmulatorProcess) -> None:
    base = emulator.url
    call("POST", base + STREAMS + "/s")
    c = consumer(
        base.replace("http://", "ws://"),
        sub="sub",
        prefix="/_ws",
        topic=wire.Topic(TENANT, "c8global._system", "c8globals.s"),
        headers=AUTH,
    )
    p = connect(gateway(base, "producer"), AUTH)
    for n in range(3):
        send(p, n)
    assert call("GET", base + STREAMS + "/c8globals.s/subscriptions").json()["result"] == ["sub"]
    stats = call("GET", base + STREAMS + "/c8globals.s/stats?global=true").json()["result"]
    assert stats["msgInCounter"] == 3 and stats["subscriptions"]["sub"]["msgBacklog"] == 3
    assert call("GET", base + STREAMS + "/c8globals.s/backlog").json()["result"]["messageBacklog"] == 3
    assert call("DELETE", base + STREAMS + "/c8globals.s/subscriptions/sub").status_code == 412
    assert call("DELETE", base + STREAMS + "/c8globals.s").status_code == 412
    assert call("POST", base + STREAMS + "/clearbacklog").status_code == 200
    assert call("GET", base + STREAMS + "/c8globals.s/backlog").json()["result"]["messageBacklog"] == 0
    c.close()
    assert call("DELETE", base + STREAMS + "/c8globals.s/subscriptions/nope").status_code == 404
    assert call("POST", base + STREAMS + "/ttl/1000").json()["result"] == 1000
    assert call("GET", base + STREAMS + "/ttl").json()["result"] == 1000


def test_a_message_published_over_rest_reaches_a_consumer_at_once(emulator: EmulatorProcess) -> None:
    base = emulator.url
    assert call("POST", base + STREAMS + "/c8globals.nope/publish", data=b"x").status_code == 404
    call("POST", base + STREAMS + "/s")
    c = consumer(base.replace("http://", "ws://"), sub="sub", prefix="/_ws", topic=STREAM_TOPIC, headers=AUTH)
    published = call("POST", base + STREAMS + "/c8globals.s/publish?global=true", data=b"hello, stream")
    assert published.status_code == 202 and published.json() == {"error": False, "code": 202}
    frame = receive(c)  # routed by the REST call itself, not by the next timer tick
    assert base64.b64decode(frame["payload"]) == b"hello, stream" and frame["properties"] == {}
    assert call("POST", base + STREAMS + "/c8globals.s/publish", headers=None, data=b"x").status_code == 401


def test_tenant_lookup_login_and_key_validation(emulator: EmulatorProcess) -> None:
    base = emulator.url
    user = call("GET", base + "/_api/user").json()
    assert user["result"][0]["tenant"] == TENANT and "errorNum" not in user
    login = call("POST", base + "/_open/auth", None, json={"email": "user@example.com", "password": "pw"}).json()
    assert login["tenant"] == "user_example.com" and login["jwt"].count(".") == 2
    claims = orjson.loads(base64.urlsafe_b64decode(login["jwt"].split(".")[1] + "=="))
    assert claims["tenant"] == "user_example.com"
    for scheme in ("Bearer", "bearer", "BEARER"):
        answer = call("GET", base + "/_api/user", {"Authorization": f"{scheme} {login['jwt']}"})
        assert answer.json()["result"][0]["tenant"] == "user_example.com"
    forged = login["jwt"][:-4] + "AAAA"
    assert call("GET", base + "/_api/user", {"Authorization": f"bearer {forged}"}).status_code == 401
    assert call("POST", base + "/_open/auth", None, json={"email": "user@example.com"}).status_code == 401
    valid = call("POST", base + "/_fabric/_system/_api/key/validate", None, json={"apikey": "a.b.c.k.S"}).json()
    assert valid["result"]["tenant"] == "a.b.c" and valid["error"] is False
    assert call("POST", base + "/_fabric/_system/_api/key/validate", None, json={"apikey": "x"}).status_code == 401


def test_local_datacenter_points_pyc8_at_this_endpoint(emulator: EmulatorProcess) -> None:
    dc = call("GET", emulator.url + "/datacenter/local").json()
    host = emulator.url.split("://", 1)[1]
    assert dc["tags"]["url"] == f"x@{host}" and dc["name"] == "emulator"


def test_gateway_sockets_need_a_single_use_otp_or_a_key_and_an_existing_stream(emulator: EmulatorProcess) -> None:
    base = emulator.url
    call("POST", base + STREAMS + "/s")
    one = otp(base)
    first = connect(gateway(base, "producer") + f"?otp={one}")
    assert send(first, 1)["result"] == "ok"
    refusals = {
        "reused otp": (gateway(base, "producer") + f"?otp={one}", {}),
        "no credentials": (gateway(base, "producer"), {}),
        "basic only": (gateway(base, "producer"), {"Authorization": "Basic YXBpLXg6"}),
        "other tenant": (gateway(base, "producer"), {"Authorization": "apikey other.key.S"}),
        "unknown stream": (gateway(base, "producer", wire.Topic(TENANT, "c8global._system", "c8globals.nope")), AUTH),
    }
    statuses = {}
    for name, (url, headers) in refusals.items():
        with pytest.raises(websocket.WebSocketBadStatusException) as caught:
            connect(url, headers)
        statuses[name] = caught.value.status_code
    assert statuses == {
        "reused otp": 401,
        "no credentials": 401,
        "basic only": 401,
        "other tenant": 403,
        "unknown stream": 404,
    }
    keyed = connect(gateway(base, "consumer") + "?subscriptionType=Shared", AUTH)
    assert send(first, 2)["result"] == "ok"
    assert orjson.loads(keyed.recv())["properties"] == {"n": "2"}


def test_force_deleting_a_stream_closes_its_producer_and_never_recreates_the_stream(emulator: EmulatorProcess) -> None:
    base = emulator.url
    call("POST", base + STREAMS + "/s")
    p = connect(gateway(base, "producer"), AUTH)
    assert send(p, 1)["result"] == "ok"
    assert call("DELETE", base + STREAMS + "/c8globals.s").status_code == 412  # a producer is connected
    assert call("DELETE", base + STREAMS + "/c8globals.s?force=true").status_code == 202
    p.send(orjson.dumps({"payload": "eA==", "context": "late"}).decode())
    answers = []
    for _ in range(3):  # a send-error for the late publish if it beat the close, then the close frame
        frame = p.recv_frame()  # type: ignore[no-untyped-call]
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            break
        answers.append(orjson.loads(frame.data))
    else:
        pytest.fail(f"the producer was not closed; it got {answers}")
    p.send_close()
    assert int.from_bytes(frame.data[:2], "big") == 1001 and frame.data[2:] == b"stream deleted"
    assert all(a["result"] == "send-error:8" and a["context"] == "late" for a in answers), answers
    assert call("GET", base + STREAMS).json()["result"] == []


def test_acks_sent_after_a_fault_close_frame_still_count() -> None:
    """The emulator sends only a close frame and keeps reading: an ack in flight is not discarded."""
    with EmulatorProcess(["--fault", "disconnect,every=0.2s"]) as emulator:
        base = emulator.url
        call("POST", base + STREAMS + "/s")
        c = connect(gateway(base, "consumer") + "?subscriptionType=Shared", AUTH)
        p = connect(gateway(base, "producer"), AUTH)
        for n in range(2):
            send(p, n)
        first = orjson.loads(c.recv())
        frame = c.recv_frame()  # type: ignore[no-untyped-call]
        for _ in range(3):  # the second message, then the fault's close frame
            if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            frame = c.recv_frame()  # type: ignore[no-untyped-call]
        assert frame.opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(frame.data[:2], "big") == 1001
        c.send(orjson.dumps({"messageId": first["messageId"]}).decode())  # before answering the close
        c.send_close()
        for _ in range(5):  # read to the end: the emulator has then read our ack and our close
            try:
                if not c.recv_frame().data:  # type: ignore[no-untyped-call]
                    break
            except (OSError, websocket.WebSocketException):
                break
        stats = call("GET", base + STREAMS + "/c8globals.s/stats").json()["result"]
        assert stats["subscriptions"]["sub"]["msgBacklog"] == 1


def test_a_required_key_refuses_every_other_key() -> None:
    os.environ["STREAMHARNESS_EMULATOR_API_KEY"] = "only.this.KEY"
    try:
        with EmulatorProcess() as emulator:
            assert call("GET", emulator.url + "/_api/user").status_code == 401
            good = call("GET", emulator.url + "/_api/user", {"Authorization": "apikey only.this.KEY"})
            assert good.json()["result"][0]["tenant"] == "only"
    finally:
        del os.environ["STREAMHARNESS_EMULATOR_API_KEY"]


def test_plain_pulsar_paths_stay_open_for_the_load_harness(ws_url: str) -> None:
    p = producer(ws_url)
    assert send(p, 1)["result"] == "ok"
