"""Small helpers for driving the broker core in tests: a settable clock, publishing, reading frames."""

from __future__ import annotations

import orjson

from harness.emulator.config import BrokerConfig, ConsumerOptions
from harness.emulator.core import Broker
from harness.emulator.faults import FaultInjector
from harness.emulator.frames import Publish, parse_publish
from harness.emulator.subscription import Consumer, Delivery
from harness.wire import Topic

TOPIC = Topic("demo_tenant", "c8global._system", "c8globals.t")


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_broker(clock: Clock | None = None, faults: FaultInjector | None = None, **config: int | float | str) -> Broker:
    return Broker(clock or Clock(), BrokerConfig(**config), faults)  # type: ignore[arg-type]


def fragment(n: int, key: str | None = None) -> tuple[bytes, str | None]:
    frame: dict[str, object] = {"payload": "eA==", "properties": {"n": str(n)}}
    if key is not None:
        frame["key"] = key
    parsed = parse_publish(orjson.dumps(frame))
    assert isinstance(parsed, Publish)
    return parsed.fragment, parsed.key


def publish(b: Broker, count: int, start: int = 0, key: str | None = None) -> list[str]:
    """Publish as a producer on TOPIC would: its connecting created the topic."""
    b.topic(TOPIC)
    ids = []
    for i in range(count):
        frag, k = fragment(start + i, key=key)
        ids.append(b.publish(TOPIC, frag, k).decode())
    return ids


def subscribe(b: Broker, kind: str = "Shared", sub: str = "sub", **options: object) -> Consumer:
    return b.subscribe(TOPIC, sub, ConsumerOptions(kind=kind, **options))  # type: ignore[arg-type]


def number(delivery: Delivery) -> int:
    return int(orjson.loads(delivery.frame)["properties"]["n"])


def numbers(deliveries: list[Delivery]) -> list[int]:
    return [number(d) for d in deliveries]


def owners(deliveries: list[Delivery]) -> list[int]:
    return [d.consumer.id for d in deliveries]


def mid(delivery: Delivery) -> str:
    return delivery.message_id.decode()
