"""A plain Pulsar WebSocket proxy: ``ws[s]://host:port/ws/v2/...``, optional bearer token.

(``pulsar://`` URLs go to :mod:`harness.targets.native`, the binary protocol.)
"""

from __future__ import annotations

from typing import Any

from harness import wire
from harness.drivers.ws_connection import probe
from harness.settings import LoadSettings
from harness.targets.base import Endpoint, Target, TlsOptions, check_reachable, consumer_query, websocket_base


class PulsarTarget(Target):
    name = "pulsar"
    ws_prefix = ""

    def __init__(self, settings: LoadSettings) -> None:
        self.settings = settings
        self.topic = settings.parsed_topic()
        self.tls = TlsOptions(settings.insecure, settings.ca_file)
        self._base = websocket_base(settings.url) if settings.url else ""

    @property
    def base_url(self) -> str:
        return self._base

    def check(self) -> None:
        check_reachable(self._base)

    def check_access(self) -> None:
        probe(self.producer_endpoint(), f"connecting a producer to {self._base}")

    def prepare(self) -> None:
        self.check()
        self.check_access()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "protocol": "websocket"}

    def _endpoint(self, url: str) -> Endpoint:
        headers = {"Authorization": f"Bearer {self.settings.token}"} if self.settings.token else {}
        return Endpoint(url, headers, self.tls.sslopt_for(url))

    def producer_endpoint(self) -> Endpoint:
        return self._endpoint(self._base + wire.ws_path("producer", self.topic, prefix=self.ws_prefix))

    def consumer_endpoint(self, consumer_name: str) -> Endpoint:
        path = wire.ws_path("consumer", self.topic, self.settings.subscription, prefix=self.ws_prefix)
        return self._endpoint(f"{self._base}{path}?{consumer_query(self.settings, consumer_name)}")
