"""The binary-protocol targets without a broker: scheme to target, endpoints, refusals, describe without secrets."""

from __future__ import annotations

import json
import socket
import tomllib
from pathlib import Path

import pulsar
import pytest

from harness.settings import LoadSettings
from harness.targets import make_target
from harness.targets.base import TargetError, TlsOptions
from harness.targets.native import NativePulsarTarget, check_tcp, refusal, service_address
from harness.targets.pulsar import PulsarTarget
from harness.targets.pulsar_lite import BINARY_ENV, PulsarLiteTarget, lite_binary, lite_config

TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.native-token-signature"
TOPIC = "persistent://acme/orders/placed"


def settings(**values: object) -> LoadSettings:
    made = LoadSettings(**values)  # type: ignore[arg-type]
    made.validate()
    return made


@pytest.mark.parametrize(
    ("target", "url", "kind"),
    [
        ("pulsar", "pulsar://broker.example:6650", NativePulsarTarget),
        ("pulsar", "pulsar+ssl://broker.example:6651", NativePulsarTarget),
        ("pulsar", "ws://proxy.example:8080", PulsarTarget),
        ("pulsar", "wss://proxy.example", PulsarTarget),
        ("pulsar-lite", "", PulsarLiteTarget),
        ("pulsar-lite", "pulsar://127.0.0.1:6650", PulsarLiteTarget),
    ],
)
def test_the_scheme_chooses_the_target(target: str, url: str, kind: type) -> None:
    made = make_target(settings(target=target, url=url))
    assert type(made) is kind
    assert (made.native_endpoint() is not None) is (kind is not PulsarTarget)


def test_the_native_endpoint_carries_the_run_names_token_and_tls(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here\n")
    made = make_target(
        settings(
            target="pulsar",
            url="pulsar+ssl://broker.example:6651",
            topic=TOPIC,
            subscription="billing",
            token=TOKEN,
            ca_file=str(ca),
        )
    )
    endpoint = made.native_endpoint()
    assert endpoint is not None
    assert (endpoint.service_url, endpoint.topic, endpoint.subscription) == (
        "pulsar+ssl://broker.example:6651",
        TOPIC,
        "billing",
    )
    assert endpoint.token == TOKEN and endpoint.tls == TlsOptions(False, str(ca))
    assert endpoint.distinct_consumer_ids is False


def test_pulsar_lite_asks_for_consumer_ids_that_cannot_clash() -> None:
    endpoint = make_target(settings(target="pulsar-lite", url="pulsar://127.0.0.1:6650")).native_endpoint()
    assert endpoint is not None and endpoint.distinct_consumer_ids is True


def test_a_native_target_has_no_websocket_endpoints() -> None:
    made = make_target(settings(target="pulsar", url="pulsar://broker.example:6650"))
    with pytest.raises(TargetError, match="binary protocol"):
        made.producer_endpoint()
    with pytest.raises(TargetError, match="binary protocol"):
        made.consumer_endpoint("c1")


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("pulsar://broker.example", ("broker.example", 6650)),
        ("pulsar+ssl://broker.example", ("broker.example", 6651)),
        ("pulsar://10.0.0.5:16650", ("10.0.0.5", 16650)),
        ("pulsar://[::1]:6650", ("::1", 6650)),
    ],
)
def test_service_address_defaults_to_pulsars_ports(url: str, address: tuple[str, int]) -> None:
    assert service_address(url) == address


def test_describe_says_kind_and_protocol_and_never_the_token() -> None:
    native = make_target(settings(target="pulsar", url="pulsar://broker.example:6650", topic=TOPIC, token=TOKEN))
    described = native.describe()
    assert (described["kind"], described["protocol"], described["topic"]) == ("pulsar", "binary", TOPIC)
    assert TOKEN not in json.dumps(described)
    proxy = make_target(settings(target="pulsar", url="ws://proxy.example:8080", token=TOKEN)).describe()
    assert (proxy["kind"], proxy["protocol"]) == ("pulsar", "websocket")
    assert TOKEN not in json.dumps(proxy)
    lite = make_target(settings(target="pulsar-lite", url="pulsar://127.0.0.1:6650", token=TOKEN)).describe()
    assert (lite["kind"], lite["protocol"], lite["version"]) == ("pulsar-lite", "binary", "0.2.0")
    assert TOKEN not in json.dumps(lite)


def test_describe_hides_a_password_in_the_url() -> None:
    described = make_target(settings(target="pulsar", url="pulsar://user:hunter2@broker.example:6650")).describe()
    assert "hunter2" not in json.dumps(described)


URL = "pulsar://broker.example:6650"


@pytest.mark.parametrize(
    ("error", "fragment"),
    [
        (pulsar.AuthenticationError("Pulsar error: AuthenticationError"), "refused the credentials"),
        (pulsar.AuthorizationError("Pulsar error: AuthorizationError"), "denied these credentials permission"),
        (pulsar.InvalidTopicName("Pulsar error: InvalidTopicName"), "is not a valid Pulsar topic name"),
        (pulsar.TopicNotFound("Pulsar error: TopicNotFound"), "does not exist"),
        (pulsar.TopicTerminated("Pulsar error: TopicTerminated"), "is terminated"),
        (pulsar.ConnectError("Pulsar error: ConnectError"), "cannot connect to the Pulsar broker"),
        (pulsar.Timeout("Pulsar error: TimeOut"), "did not complete the Pulsar handshake"),
        (pulsar.LookupError("Pulsar error: LookupError"), "could not serve topic"),
        (pulsar.InvalidUrl("Pulsar error: InvalidUrl"), "refused the service URL"),
        (pulsar.ProducerBusy("Pulsar error: ProducerBusy"), "creating a producer on"),
        (ValueError("Argument x is expected\nto be of type 'int'"), "creating a producer on"),
    ],
)
def test_each_pulsar_client_error_is_one_line_without_the_token(error: BaseException, fragment: str) -> None:
    line = refusal(error, URL, TOPIC, 5)
    assert fragment in line and "\n" not in line
    assert TOKEN not in line


def test_the_timeout_line_names_the_time_and_the_likely_causes() -> None:
    line = refusal(pulsar.Timeout("Pulsar error: TimeOut"), "pulsar+ssl://b:6651", TOPIC, 5)
    assert "within 5 s" in line and "refused credentials" in line and "TLS" in line


def test_an_unreachable_port_is_one_line() -> None:
    with socket.socket() as holder:  # a port that was free a moment ago and has no listener now
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
    with pytest.raises(TargetError) as caught:
        check_tcp(f"pulsar://127.0.0.1:{port}")
    assert str(caught.value).startswith(f"cannot reach the Pulsar broker at 127.0.0.1:{port}")
    assert "\n" not in str(caught.value)


def test_the_installed_pulsar_lite_binary_is_found_through_its_package() -> None:
    path = lite_binary()
    assert path.name == "pulsar-lite" and path.parent.name == "bin" and path.parent.parent.name == "pulsar_lite"


def test_a_missing_binary_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(BINARY_ENV, str(tmp_path / "no-such-pulsar-lite"))
    with pytest.raises(TargetError, match=r"pip install pulsar-lite"):
        lite_binary()
    target = make_target(settings(target="pulsar-lite"))
    with pytest.raises(TargetError, match=r"no-such-pulsar-lite \(pip install pulsar-lite\)"):
        target.check()


def test_the_broker_config_binds_loopback_only_and_turns_metrics_off(tmp_path: Path) -> None:
    text = lite_config(16650, tmp_path / 'data "x"' / "db")
    config = tomllib.loads(text)
    assert config["addr"] == "127.0.0.1:16650"
    assert config["db_path"] == str(tmp_path / 'data "x"' / "db")
    assert config["metrics"]["enabled"] is False
    assert config["metrics"]["addr"].startswith("127.0.0.1:")
    assert "0.0.0.0" not in text


def test_the_probe_client_verifies_tls_unless_told_not_to_and_logs_nowhere() -> None:
    from harness.targets.native import PROBE_OPERATION_S, _client_arguments

    request = {"service_url": "pulsar+ssl://b:6651", "tls": {"insecure": False, "ca_file": "/ca.pem"}}
    verified = _client_arguments(request, TOKEN)
    assert verified["tls_validate_hostname"] is True and verified["tls_trust_certs_file_path"] == "/ca.pem"
    assert isinstance(verified["authentication"], pulsar.AuthenticationToken)
    assert isinstance(verified["logger"], pulsar.FileLogger) and verified["logger"].log_file == "/dev/null"
    assert verified["operation_timeout_seconds"] == PROBE_OPERATION_S
    insecure = _client_arguments({"service_url": "pulsar+ssl://b", "tls": {"insecure": True, "ca_file": ""}}, "")
    assert insecure["tls_allow_insecure_connection"] is True and "tls_validate_hostname" not in insecure
    assert "authentication" not in insecure
    plain = _client_arguments({"service_url": "pulsar://b", "tls": {"insecure": False, "ca_file": "/ca.pem"}}, "")
    assert not any(name.startswith("tls_") for name in plain)
