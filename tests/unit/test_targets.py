"""Target helpers that need no endpoint: GDN host and tenant derivation, query strings, TLS options."""

from __future__ import annotations

import base64
import json
import ssl
from urllib.parse import parse_qs

import pytest

from harness.settings import LoadSettings
from harness.targets.base import TargetError, TlsOptions, consumer_query, status_line
from harness.targets.gdn import api_base, tenant_from_api_key, tenant_from_jwt


@pytest.mark.parametrize(
    ("url", "api"),
    [
        ("https://play.paas.macrometa.io", "https://api-play.paas.macrometa.io"),
        ("https://play.paas.macrometa.io/", "https://api-play.paas.macrometa.io"),
        ("https://api-play.paas.macrometa.io", "https://api-play.paas.macrometa.io"),
        ("play.paas.macrometa.io", "https://api-play.paas.macrometa.io"),
        ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("wss://gdn.test:8443", "https://api-gdn.test:8443"),
    ],
)
def test_api_host_derivation(url: str, api: str) -> None:
    assert api_base(url) == api


def test_tenant_from_api_key_follows_jsc8() -> None:
    assert tenant_from_api_key("demo_tenant.mykey.SECRET") == "demo_tenant"
    assert tenant_from_api_key("user_example.com.k.S") == "user_example.com"
    assert tenant_from_api_key("short.key") == "_mm"


def test_tenant_from_jwt_claim() -> None:
    def jwt(claims: dict[str, object]) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        return f"eyJhbGciOiJIUzI1NiJ9.{payload}.sig"

    assert tenant_from_jwt(jwt({"tenant": "pythonsdk_macrometa.com", "iss": "macrometa"})) == "pythonsdk_macrometa.com"
    with pytest.raises(TargetError, match="no tenant claim"):
        tenant_from_jwt(jwt({"iss": "macrometa"}))
    with pytest.raises(TargetError, match="not a JWT"):
        tenant_from_jwt("opaque-token")


def test_consumer_query_carries_the_consumer_options() -> None:
    settings = LoadSettings(
        subscription_type="Key_Shared",
        receiver_queue_size=50,
        ack_timeout_ms=2000,
        nack_probability=0.1,
        pull_mode=True,
    )
    query = parse_qs(consumer_query(settings, "w0-c1"))
    assert query == {
        "subscriptionType": ["Key_Shared"],
        "receiverQueueSize": ["50"],
        "consumerName": ["w0-c1"],
        "ackTimeoutMillis": ["2000"],
        "negativeAckRedeliveryDelay": ["1000"],
        "pullMode": ["true"],
    }
    assert set(parse_qs(consumer_query(LoadSettings(), "c"))) == {
        "subscriptionType",
        "receiverQueueSize",
        "consumerName",
    }


def test_tls_verification_is_on_unless_opted_out() -> None:
    assert TlsOptions().requests_verify() is True and TlsOptions().sslopt() == {}
    assert TlsOptions(ca_file="/ca.pem").requests_verify() == "/ca.pem"
    assert TlsOptions(ca_file="/ca.pem").sslopt()["ca_certs"] == "/ca.pem"
    insecure = TlsOptions(insecure=True)
    assert insecure.requests_verify() is False and insecure.sslopt()["cert_reqs"] == ssl.CERT_NONE


def test_status_lines_are_one_line() -> None:
    line = status_line("creating stream x", 429, "too\nmany\n requests")
    assert (
        line
        == "creating stream x: HTTP 429 rate-limited by the endpoint; lower the load or retry later: too many requests"
    )
