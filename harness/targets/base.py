"""One interface for every endpoint the load users can talk to.

A target knows where the endpoint is and how to authenticate; the Locust users ask it for an
:class:`Endpoint` per socket (a fresh one each time, since some endpoints want a one-time password
per connection) and never care which kind of endpoint it is.
"""

from __future__ import annotations

import socket
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from harness.errors import HarnessError


class TargetError(HarnessError):
    """The endpoint cannot be used; the message is one line for the user."""


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

    def close(self) -> None:
        """Release what ``prepare`` acquired."""

    def describe(self) -> dict[str, Any]:
        return {"kind": self.name, "url": self.base_url}


def check_reachable(url: str, timeout: float = 3.0) -> None:
    """Open and close a TCP connection to the URL's host and port; TargetError if that fails."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    secure = parts.scheme in ("wss", "https")
    port = parts.port or (443 if secure else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise TargetError(f"cannot reach {host}:{port} ({url}): {reason}") from None
