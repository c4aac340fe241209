"""Fault injection with a truth log: what the emulator did wrong on purpose, message by message.

Grammar of one ``--fault`` SPEC: ``KIND[=FRACTION][,key=value...]``

    drop=F              discard a fraction F of first deliveries, as if acknowledged (-> lost)
    duplicate=F         send a delivery twice to the same consumer (-> duplicated)
    misroute=F          also deliver a message to another consumer of the subscription (-> duplicated)
    delay=F,ms=N        hold a delivery back N ms (-> ok, latency >= N ms)
    reorder=F           swap a delivery with the next one to the same consumer (-> ok on Shared)
    disconnect,every=D  close one consumer's socket every D (``5s``, ``500ms``); its messages go to the others
    skew=F[,consumer=N] give a fraction F of Shared messages to one consumer (named N, else the first)

Every injected fault is one JSON line in the truth log (see ``harness.emulator.truth``): ``t_ns``, ``fault``,
``msg_id``, ``properties``, ``consumer``, ``detail``, ``delay_ms``. Randomness comes from the
``random.Random`` passed in, so a seed reproduces a run's choices.
"""

from __future__ import annotations

import heapq
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from harness.emulator.frames import fragment_fields
from harness.emulator.subscription import Consumer, Delivery, Subscription
from harness.errors import HarnessError

FRACTION_KINDS: Final = ("drop", "duplicate", "misroute", "delay", "reorder", "skew")
KINDS: Final = (*FRACTION_KINDS, "disconnect")

#: A reorder-held delivery with no successor within this time goes out alone (no fault recorded).
REORDER_WAIT_S: Final = 0.05

TruthSink = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class FaultSpec:
    kind: str
    fraction: float = 0.0
    delay_ms: float = 0.0
    every_s: float = 0.0
    consumer: str = ""


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)?$")


def _duration(text: str, spec: str) -> float:
    match = _DURATION.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise HarnessError(f"bad fault {spec!r}: duration {text!r} must be a positive number with ms or s")
    value = float(match.group(1))
    return value / 1000 if match.group(2) == "ms" else value


def parse_fault(spec: str) -> FaultSpec:
    """Parse one SPEC; bad input raises HarnessError with a one-line reason."""
    head, *options = [part.strip() for part in spec.split(",")]
    kind, _, fraction_text = head.partition("=")
    if kind not in KINDS:
        raise HarnessError(f"bad fault {spec!r}: kind must be one of {', '.join(KINDS)}")
    params: dict[str, str] = {}
    for option in options:
        name, sep, value = option.partition("=")
        if not sep or not value:
            raise HarnessError(f"bad fault {spec!r}: {option!r} is not key=value")
        params[name] = value
    allowed = {"delay": {"ms"}, "disconnect": {"every"}, "skew": {"consumer"}}.get(kind, set())
    unknown = set(params) - allowed
    if unknown:
        raise HarnessError(f"bad fault {spec!r}: unknown option {sorted(unknown)[0]!r} for {kind}")
    if kind == "disconnect":
        if fraction_text:
            raise HarnessError(f"bad fault {spec!r}: disconnect takes every=DURATION, not a fraction")
        if "every" not in params:
            raise HarnessError(f"bad fault {spec!r}: disconnect needs every=DURATION, e.g. every=5s")
        return FaultSpec(kind, every_s=_duration(params["every"], spec))
    try:
        fraction = float(fraction_text)
    except ValueError:
        raise HarnessError(f"bad fault {spec!r}: {kind} needs a fraction, e.g. {kind}=0.01") from None
    if not 0.0 < fraction <= 1.0:
        raise HarnessError(f"bad fault {spec!r}: the fraction must be in (0, 1]")
    delay_ms = 0.0
    if kind == "delay":
        if "ms" not in params:
            raise HarnessError(f"bad fault {spec!r}: delay needs ms=N")
        delay_ms = _duration(params["ms"] + "ms", spec) * 1000
    return FaultSpec(kind, fraction, delay_ms=delay_ms, consumer=params.get("consumer", ""))


@dataclass
class _Held:
    delivery: Delivery
    since: float


@dataclass
class FaultInjector:
    """Applies the faults to deliveries the broker decided; writes one truth line per fault."""

    specs: list[FaultSpec]
    rng: random.Random
    truth: TruthSink
    now: float = 0.0  # the broker sets it before each operation, for truth timestamps
    _by_kind: dict[str, FaultSpec] = field(default_factory=dict)
    _delayed: list[tuple[float, int, Delivery]] = field(default_factory=list)
    _held: dict[int, _Held] = field(default_factory=dict)
    _serial: int = 0
    _next_disconnect: float | None = None
    _disconnect_turn: int = 0

    def __post_init__(self) -> None:
        for spec in self.specs:
            if spec.kind in self._by_kind:
                raise HarnessError(f"fault {spec.kind} is given more than once")
            self._by_kind[spec.kind] = spec

    @property
    def delivery_faults(self) -> bool:
        return any(k in self._by_kind for k in ("duplicate", "misroute", "delay", "reorder"))

    def attach(self, sub: Subscription) -> None:
        """Install the dispatch-time faults (drop, skew) on a subscription."""
        if "drop" in self._by_kind:
            sub.drop_hook = self._drop
        if "skew" in self._by_kind and sub.kind == "Shared":
            sub.skew_hook = self._skew

    def record(
        self, now: float, fault: str, delivery: Delivery | None, consumer: Consumer | None, **extra: Any
    ) -> None:
        properties = None
        msg_id = None
        if delivery is not None:
            sub = delivery.consumer.subscription
            properties = fragment_fields(sub.log.fragment(delivery.entry)).get("properties", {})
            msg_id = delivery.message_id.decode()
        self._write(now, fault, msg_id, properties, consumer, **extra)

    def _write(
        self, now: float, fault: str, msg_id: str | None, properties: Any, consumer: Consumer | None, **extra: Any
    ) -> None:
        line: dict[str, Any] = {
            "t_ns": int(now * 1e9),
            "fault": fault,
            "msg_id": msg_id,
            "properties": properties,
            "consumer": None if consumer is None else consumer.name,
            "detail": extra.get("detail", ""),
            "delay_ms": extra.get("delay_ms"),
        }
        self.truth(line)

    # --- dispatch-time faults ------------------------------------------------------------------

    def _drop(self, sub: Subscription, entry: int) -> bool:
        if self.rng.random() >= self._by_kind["drop"].fraction:
            return False
        fields = fragment_fields(sub.log.fragment(entry))
        self._write(self.now, "drop", sub.log.message_id(entry).decode(), fields.get("properties", {}), None)
        return True

    def _skew(self, sub: Subscription, consumer: Consumer, entry: int) -> Consumer:
        spec = self._by_kind["skew"]
        favoured = next((c for c in sub.consumers if c.name == spec.consumer), None) if spec.consumer else None
        favoured = favoured or sub.consumers[0]
        if favoured is consumer or favoured.available() <= 0 or self.rng.random() >= spec.fraction:
            return consumer
        fields = fragment_fields(sub.log.fragment(entry))
        self._write(
            self.now,
            "skew",
            sub.log.message_id(entry).decode(),
            fields.get("properties", {}),
            favoured,
            detail=f"instead of {consumer.name}",
        )
        return favoured

    # --- delivery-time faults ------------------------------------------------------------------

    def process(self, deliveries: list[Delivery], out: list[Delivery]) -> None:
        """Pass deliveries on to ``out``, duplicating, misrouting, delaying or reordering some."""
        by_kind, rng, now = self._by_kind, self.rng, self.now
        for delivery in deliveries:
            consumer = delivery.consumer
            spec = by_kind.get("delay")
            if spec is not None and rng.random() < spec.fraction:
                self._serial += 1
                heapq.heappush(self._delayed, (now + spec.delay_ms / 1000, self._serial, delivery))
                self.record(now, "delay", delivery, consumer, delay_ms=spec.delay_ms)
                continue
            spec = by_kind.get("reorder")
            held = self._held.pop(consumer.id, None)
            if held is not None:
                out.append(delivery)
                out.append(held.delivery)
                self.record(now, "reorder", held.delivery, consumer, detail=f"after {delivery.message_id.decode()}")
            elif spec is not None and rng.random() < spec.fraction:
                self._held[consumer.id] = _Held(delivery, now)
                continue
            else:
                out.append(delivery)
            spec = by_kind.get("duplicate")
            if spec is not None and rng.random() < spec.fraction:
                out.append(delivery)
                self.record(now, "duplicate", delivery, consumer)
            spec = by_kind.get("misroute")
            others = [c for c in consumer.subscription.consumers if c is not consumer and not c.closing]
            if spec is not None and others and rng.random() < spec.fraction:
                other = others[rng.randrange(len(others))]
                out.append(
                    Delivery(other, delivery.entry, delivery.redelivery_count, delivery.message_id, delivery.frame)
                )
                self.record(now, "misroute", delivery, other, detail=f"outstanding at {consumer.name}")

    def due(self, now: float, out: list[Delivery]) -> None:
        """Release delayed deliveries whose time has come, and reorder-held ones that waited long enough."""
        while self._delayed and self._delayed[0][0] <= now:
            _, _, delivery = heapq.heappop(self._delayed)
            if self._still_held(delivery):
                out.append(delivery)
        for consumer_id, held in list(self._held.items()):
            if now - held.since >= REORDER_WAIT_S:
                del self._held[consumer_id]
                if self._still_held(held.delivery):
                    out.append(held.delivery)

    def pending(self) -> bool:
        return bool(self._delayed or self._held or self._next_disconnect is not None)

    def forget(self, consumer: Consumer) -> None:
        self._held.pop(consumer.id, None)

    @staticmethod
    def _still_held(delivery: Delivery) -> bool:
        sub = delivery.consumer.subscription
        return sub.holder.get(delivery.entry) is delivery.consumer and delivery.consumer in sub.consumers

    # --- disconnects ---------------------------------------------------------------------------

    def disconnect_due(self, now: float, consumers: list[Consumer]) -> Consumer | None:
        """Every ``every`` seconds, one connected consumer (in turn) to disconnect."""
        spec = self._by_kind.get("disconnect")
        if spec is None:
            return None
        if self._next_disconnect is None:
            self._next_disconnect = now + spec.every_s
            return None
        candidates = [c for c in consumers if not c.closing]
        if now < self._next_disconnect or not candidates:
            return None
        self._next_disconnect = now + spec.every_s
        victim = candidates[self._disconnect_turn % len(candidates)]
        self._disconnect_turn += 1
        self._write(now, "disconnect", None, None, victim, detail=f"every {spec.every_s:g} s")
        return victim
