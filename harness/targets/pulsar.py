"""A plain Pulsar WebSocket proxy: ``ws[s]://host:port/ws/v2/...``, optional bearer token."""

from __future__ import annotations

from urllib.parse import urlencode

from harness import wire
from harness.settings import LoadSettings
from harness.targets.base import Endpoint, Target, check_reachable


def websocket_base(url: str) -> str:
    """``http(s)://`` becomes ``ws(s)://``; a trailing slash goes."""
    if url.startswith("http://"):
        url = "ws://" + url[len("http://") :]
    elif url.startswith("https://"):
        url = "wss://" + url[len("https://") :]
    return url.rstrip("/")


class PulsarTarget(Target):
    name = "pulsar"
    ws_prefix = ""

    def __init__(self, settings: LoadSettings) -> None:
        self.settings = settings
        self.topic = settings.parsed_topic()
        self._base = websocket_base(settings.url) if settings.url else ""

    @property
    def base_url(self) -> str:
        return self._base

    def check(self) -> None:
        check_reachable(self._base)

    def prepare(self) -> None:
        self.check()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.token}"} if self.settings.token else {}

    def producer_endpoint(self) -> Endpoint:
        return Endpoint(self._base + wire.ws_path("producer", self.topic, prefix=self.ws_prefix), self._headers())

    def consumer_endpoint(self, consumer_name: str) -> Endpoint:
        path = wire.ws_path("consumer", self.topic, self.settings.subscription, prefix=self.ws_prefix)
        query = urlencode(
            {
                "subscriptionType": self.settings.subscription_type,
                "receiverQueueSize": self.settings.receiver_queue_size,
                "consumerName": consumer_name,
            }
        )
        return Endpoint(f"{self._base}{path}?{query}", self._headers())
