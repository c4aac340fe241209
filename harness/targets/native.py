"""A Pulsar broker over its binary protocol: ``pulsar://host:6650`` or ``pulsar+ssl://host:6651``.

The load itself goes through the native driver (:mod:`harness.drivers.native`); this target says
where the broker is and refuses, before any load, what would fail every session: a host that does
not answer, a refused token, a topic name the broker or client rejects. The last two need the
real client, so a producer is created on the run's topic with the official ``pulsar-client`` in a
child process (``python -m harness.targets.native``): its time is bounded from outside (the
C++ client retries a refused connection until its own timeout, and may take longer to close),
its log goes to /dev/null, and no C++ client threads are left in a process that Locust forks or
monkey-patches.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from harness.errors import one_line
from harness.events.runfolder import redact_url
from harness.settings import NATIVE_DEFAULT_PORTS, LoadSettings, environment_without_secrets
from harness.targets.base import Endpoint, NativeEndpoint, Target, TargetError, TlsOptions, check_connects
from harness.targets.child import last_line

#: The probe client's operation timeout (whole seconds: pulsar-client takes an int).
PROBE_OPERATION_S = 5
#: The probe client's TCP connect timeout.
PROBE_CONNECT_MS = 3000
#: The probe process's whole life, start-up and close included; it is killed by PID after this.
PROBE_WALL_S = 15.0
#: TCP reachability check before the probe.
REACH_TIMEOUT_S = 3.0
#: The environment variable that hands the token to the probe (never its command line).
TOKEN_ENV = "STREAMHARNESS_TOKEN"


def service_address(url: str) -> tuple[str, int]:
    """The host and port of a ``pulsar://`` / ``pulsar+ssl://`` URL (6650 / 6651 when it names none)."""
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or NATIVE_DEFAULT_PORTS.get(parts.scheme, 6650)


def check_tcp(url: str, timeout: float = REACH_TIMEOUT_S) -> None:
    """Open and close a TCP connection to the broker; a one-line TargetError when that fails."""
    host, port = service_address(url)
    check_connects(host, port, f"the Pulsar broker at {host}:{port} ({redact_url(url)})", timeout)


class NativePulsarTarget(Target):
    """A Pulsar broker (or cluster) at a ``pulsar://`` or ``pulsar+ssl://`` service URL."""

    name = "pulsar"
    #: Whether consumers of separate clients need ids that cannot clash (pulsar-lite 0.2.0; see NativeEndpoint).
    distinct_consumer_ids = False

    def __init__(self, settings: LoadSettings) -> None:
        self.settings = settings
        self.topic = settings.parsed_topic()
        self.tls = TlsOptions(settings.insecure, settings.ca_file)
        self._url = settings.url

    @property
    def base_url(self) -> str:
        return self._url

    def check(self) -> None:
        check_tcp(self._url)

    def check_access(self) -> None:
        probe_producer(self._endpoint())

    def prepare(self) -> None:
        self.check()
        self.check_access()

    def _endpoint(self) -> NativeEndpoint:
        return NativeEndpoint(
            service_url=self._url,
            topic=str(self.topic),
            subscription=self.settings.subscription,
            token=self.settings.token,
            tls=self.tls,
            distinct_consumer_ids=self.distinct_consumer_ids,
        )

    def native_endpoint(self) -> NativeEndpoint | None:
        return self._endpoint()

    def producer_endpoint(self) -> Endpoint:
        raise TargetError(f"{self.name} at {redact_url(self._url)} speaks the binary protocol, not WebSockets")

    def consumer_endpoint(self, consumer_name: str) -> Endpoint:
        return self.producer_endpoint()

    def describe(self) -> dict[str, Any]:
        """For run.json: what was tested, never a credential (the token stays out; URLs are redacted)."""
        return {
            "kind": self.name,
            "protocol": "binary",
            "url": redact_url(self._url),
            "topic": str(self.topic),
            "tls": self._url.startswith("pulsar+ssl://"),
        }


def probe_producer(endpoint: NativeEndpoint, wall_s: float = PROBE_WALL_S) -> None:
    """Create and close a producer on the endpoint's topic in a child process; TargetError in one line."""
    request = {
        "service_url": endpoint.service_url,
        "topic": endpoint.topic,
        "tls": asdict(endpoint.tls),
        "operation_s": PROBE_OPERATION_S,
    }
    env = environment_without_secrets()
    if endpoint.token:
        env[TOKEN_ENV] = endpoint.token
    command = [sys.executable, "-m", "harness.targets.native"]
    try:
        done = subprocess.run(
            command,
            input=json.dumps(request).encode(),
            capture_output=True,
            env=env,
            timeout=wall_s,
            check=False,
        )
    except subprocess.TimeoutExpired:  # subprocess.run kills the child by its PID before raising this
        raise TargetError(
            f"creating a producer on {endpoint.topic} at {redact_url(endpoint.service_url)} did not finish "
            f"within {wall_s:g} s"
        ) from None
    except OSError as exc:
        raise TargetError(f"cannot start the pulsar-client check: {one_line(exc)}") from None
    answer = _answer(done.stdout)
    if answer is None:
        last = last_line(done.stderr)
        raise TargetError(
            f"the pulsar-client check of {redact_url(endpoint.service_url)} ended with code {done.returncode} "
            "without an answer" + (f": {last}" if last else "")
        )
    if answer:
        raise TargetError(answer)


def _answer(stdout: bytes) -> str | None:
    """The probe's verdict: "" when the producer was created, the refusal line, or None if it gave none."""
    for line in stdout.decode(errors="replace").splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
            return str(parsed["error"])
    return None


def refusal(error: BaseException, service_url: str, topic: str, operation_s: float) -> str:
    """A pulsar-client exception from creating a producer, as one line for the user (never the token).

    The classes are the C++ client's results as the Python wrapper raises them (pulsar/exceptions.py
    of pulsar-client 3.x); a broker's ServerError maps onto them (AuthenticationError,
    AuthorizationError, TopicNotFound, ...).
    """
    import pulsar

    where = redact_url(service_url)
    if isinstance(error, pulsar.AuthenticationError):
        return f"the broker at {where} refused the credentials (authentication failed): check --token"
    if isinstance(error, pulsar.ErrorGettingAuthenticationData):
        return f"pulsar-client could not use --token to authenticate to {where}: {error}"
    if isinstance(error, pulsar.AuthorizationError):
        return f"the broker at {where} denied these credentials permission to produce on {topic}"
    if isinstance(error, pulsar.InvalidTopicName):
        return f"{topic!r} is not a valid Pulsar topic name (refused by pulsar-client before any load)"
    if isinstance(error, pulsar.TopicNotFound):
        return f"topic {topic} does not exist at {where} and the broker does not create topics: create it first"
    if isinstance(error, pulsar.TopicTerminated):
        return f"topic {topic} at {where} is terminated: it takes no more messages"
    if isinstance(error, pulsar.InvalidUrl):
        return f"pulsar-client refused the service URL {where} as invalid"
    if isinstance(error, pulsar.ConnectError):
        return f"cannot connect to the Pulsar broker at {where} (pulsar-client: {error})"
    if isinstance(error, pulsar.Timeout):
        return (
            f"the broker at {where} did not complete the Pulsar handshake and a producer on {topic} within "
            f"{operation_s:g} s: not a Pulsar broker, a TLS mismatch (pulsar:// against pulsar+ssl://), or "
            "refused credentials (pulsar-client retries a refused connection until it times out)"
        )
    if isinstance(error, pulsar.LookupError | pulsar.BrokerMetadataError | pulsar.ServiceUnitNotReady):
        return f"the broker at {where} could not serve topic {topic} ({error}): the cluster may be unhealthy"
    return f"creating a producer on {topic} at {where} failed: {one_line(error)}"


def _client_arguments(request: dict[str, Any], token: str) -> dict[str, Any]:
    """pulsar.Client keyword arguments for the probe: short timeouts, no log, TLS as the settings say."""
    import pulsar

    tls = request.get("tls") or {}
    arguments: dict[str, Any] = {
        "operation_timeout_seconds": int(request.get("operation_s", PROBE_OPERATION_S)),
        "connection_timeout_ms": PROBE_CONNECT_MS,
        "logger": pulsar.FileLogger(pulsar.LoggerLevel.Error, os.devnull),  # the C++ log never reaches the user
    }
    if token:
        arguments["authentication"] = pulsar.AuthenticationToken(token)
    if str(request["service_url"]).startswith("pulsar+ssl://"):
        if tls.get("insecure"):
            arguments["tls_allow_insecure_connection"] = True
        else:
            arguments["tls_validate_hostname"] = True
            if tls.get("ca_file"):
                arguments["tls_trust_certs_file_path"] = str(tls["ca_file"])
    return arguments


def _probe_main() -> int:
    """The child: read the request on stdin, create and close a producer, print ``{"error": ...}``."""
    request = json.loads(sys.stdin.read())
    service_url, topic = str(request["service_url"]), str(request["topic"])
    operation_s = float(request.get("operation_s", PROBE_OPERATION_S))
    try:
        import pulsar
    except ImportError:
        print(json.dumps({"error": "the native driver needs pulsar-client (pip install pulsar-client)"}), flush=True)
        return 0
    message = ""
    client = None
    try:
        client = pulsar.Client(service_url, **_client_arguments(request, os.environ.get(TOKEN_ENV, "")))
        client.create_producer(topic).close()
    except (pulsar.PulsarException, ValueError) as exc:  # ValueError: the wrapper's check of an argument
        message = refusal(exc, service_url, topic, operation_s)
    finally:
        if client is not None:
            with contextlib.suppress(pulsar.PulsarException):  # closing after a failed connection may fail too
                client.close()
    print(json.dumps({"error": message}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_probe_main())
