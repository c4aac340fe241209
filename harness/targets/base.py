"""One interface for every endpoint the load users can talk to.

A target knows where the endpoint is and how to authenticate; the Locust users ask it for an
:class:`Endpoint` per socket (a fresh one each time, since some endpoints want a one-time password
per connection) and never care which kind of endpoint it is.
"""

from __future__ import annotations

import socket
import ssl
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.settings import LoadSettings


class TargetError(HarnessError):
    """The endpoint cannot be used; the message is one line for the user."""


#: What an HTTP status means to someone starting a load test, for one-line errors.
STATUS_MEANINGS = {
    400: "bad request",
    401: "the credentials were refused",
    403: "permission denied for these credentials",
    404: "not found",
    409: "conflict (already exists, or the subscription is busy with another type or an Exclusive consumer)",
    412: "precondition failed (consumers still connected)",
    429: "rate-limited by the endpoint; lower the load or retry later",
    500: "the endpoint failed",
    502: "the endpoint's gateway failed",
    503: "the endpoint is unavailable",
}


def status_line(action: str, status: int, detail: str = "") -> str:
    """``<action>: HTTP <status> <meaning>[: <endpoint's text>]``, on one line."""
    meaning = STATUS_MEANINGS.get(status, "unexpected answer")
    text = " ".join(detail.split())[:200]
    return f"{action}: HTTP {status} {meaning}" + (f": {text}" if text else "")


@dataclass(frozen=True)
class TlsOptions:
    """TLS verification: on by default; a CA file to trust; or an explicit opt-out."""

    insecure: bool = False
    ca_file: str = ""

    def requests_verify(self) -> bool | str:
        """The ``verify`` argument of ``requests``."""
        if self.insecure:
            return False
        return self.ca_file or True

    def sslopt_for(self, url: str) -> dict[str, Any]:
        """:meth:`sslopt` for a ``wss://`` URL; nothing for plain ``ws://``."""
        return self.sslopt() if url.startswith("wss://") else {}

    def sslopt(self) -> dict[str, Any]:
        """The ``sslopt`` argument of websocket-client (empty = verify against the system store)."""
        if self.insecure:
            return {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
        if self.ca_file:
            return {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": self.ca_file}
        return {}


@dataclass(frozen=True)
class NativeEndpoint:
    """What the native (binary protocol) driver needs: the broker's service URL and the run's names."""

    service_url: str  # pulsar://host:6650 or pulsar+ssl://host:6651
    topic: str  # persistent://tenant/namespace/name
    subscription: str
    token: str = field(default="", repr=False)  # a bearer token (from STREAMHARNESS_TOKEN); never logged
    tls: TlsOptions = field(default_factory=lambda: TlsOptions())
    #: pulsar-lite 0.2.0 keys a subscription's consumers by the client-chosen consumer id, which every
    #: client numbers from 0: consumers of separate clients must be given ids that cannot clash
    distinct_consumer_ids: bool = False


@dataclass(frozen=True)
class Endpoint:
    """What one WebSocket connection needs: its URL, handshake headers and TLS options."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    sslopt: dict[str, Any] = field(default_factory=dict)


class Target(ABC):
    """An endpoint kind. ``prepare`` runs once per run on the master (or the only process)."""

    name: str = ""

    def check(self) -> None:
        """Cheap checks before any process starts (reachable, credentials present). Raises TargetError."""

    def check_access(self) -> None:
        """One authenticated call before any load, so refused credentials are one line. Raises TargetError."""

    def prepare(self) -> None:
        """Make the endpoint ready (start it, create the stream, check it answers). Raises TargetError."""

    @property
    @abstractmethod
    def base_url(self) -> str:
        """The endpoint's base URL, for the run record and for workers."""

    @abstractmethod
    def producer_endpoint(self) -> Endpoint:
        """Where a new producer socket connects."""

    @abstractmethod
    def consumer_endpoint(self, consumer_name: str) -> Endpoint:
        """Where a new consumer socket connects, with its subscription parameters."""

    def native_endpoint(self) -> NativeEndpoint | None:
        """The binary-protocol endpoint when this target speaks it (the native driver); None for WebSocket."""
        return None

    def close(self) -> None:
        """Release what ``prepare`` acquired."""

    def describe(self) -> dict[str, Any]:
        return {"kind": self.name, "url": self.base_url}


def consumer_query(settings: LoadSettings, consumer_name: str, **extra: str) -> str:
    """The consumer's query string: the Pulsar 2.8 proxy parameters the settings ask for."""
    params: dict[str, Any] = {
        "subscriptionType": settings.subscription_type,
        "receiverQueueSize": settings.receiver_queue_size,
        "consumerName": consumer_name,
    }
    if settings.ack_timeout_ms:
        params["ackTimeoutMillis"] = settings.ack_timeout_ms
    if settings.nack_probability:
        params["negativeAckRedeliveryDelay"] = settings.nack_delay_ms
    if settings.pull_mode:
        params["pullMode"] = "true"
    params.update(extra)
    return urlencode(params)


def websocket_base(url: str) -> str:
    """``http(s)://`` becomes ``ws(s)://``; a trailing slash goes."""
    if url.startswith("http://"):
        url = "ws://" + url[len("http://") :]
    elif url.startswith("https://"):
        url = "wss://" + url[len("https://") :]
    return url.rstrip("/")


def check_reachable(url: str, timeout: float = 3.0) -> None:
    """Open and close a TCP connection to the URL's host and port; TargetError if that fails."""
    parts = urlsplit(url)
    secure = parts.scheme in ("wss", "https")
    host, port = parts.hostname or "", parts.port or (443 if secure else 80)
    check_connects(host, port, f"{host}:{port} ({url})", timeout)


def check_connects(host: str, port: int, what: str, timeout: float) -> None:
    """Open and close a TCP connection; a one-line TargetError ``cannot reach <what>: <reason>`` if that fails."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise TargetError(f"cannot reach {what}: {reason}") from None
