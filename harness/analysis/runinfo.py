"""What the analysis needs to know about a run, taken from ``run.json``.

Every key is optional: a run folder from an older harness, a crashed run or a bare events folder
still analyses, with the figures that depend on a missing key left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

#: The largest int64: no time in ns or count the harness writes is larger, and past a float's range
#: (an int of 400 digits, which JSON allows) math.isfinite raises instead of answering.
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Outage:
    """One span in which producers or consumers stayed cut off from the endpoint past the bound."""

    from_ns: int | None = None
    #: None: the endpoint never came back before the run ended.
    to_ns: int | None = None
    seconds: float | None = None
    producers: int | None = None
    consumers: int | None = None


@dataclass(frozen=True)
class EndpointLost:
    """run.json's ``endpoint_lost``: the endpoint was unreachable for longer than ``bound_s``.

    Every field may be None (an older or damaged record): the loss itself is what the verdict needs.
    """

    bound_s: float | None = None
    first_ns: int | None = None
    outages: tuple[Outage, ...] = ()
    longest_s: float | None = None
    #: Fraction of the scheduled sends never sent (0..1).
    schedule_shortfall: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LostWorker:
    """A worker the master marked missing; its actors are named ``<worker>-...``."""

    worker: str
    #: When the master first saw it missing; None in the old record shape (a plain tag).
    lost_ns: int | None = None

    @property
    def prefix(self) -> str:
        return f"{self.worker}-"


@dataclass(frozen=True)
class RunInfo:
    run_id: str = ""
    subscription_type: str = "Shared"
    #: 0 when the consumers had no ack timeout (then no redelivery can be explained by one).
    ack_timeout_ms: float = 0.0
    producers: int | None = None
    consumers: int | None = None
    rate: float | None = None
    duration_s: float | None = None
    completed: bool = False
    drained: bool | None = None
    producing_started_ns: int | None = None
    producing_stopped_ns: int | None = None
    clock_uncertainty_ns: dict[str, int] = field(default_factory=dict)
    generator: dict[str, Any] = field(default_factory=dict)
    endpoint_lost: EndpointLost | None = None
    workers_lost: tuple[LostWorker, ...] = ()
    #: Keys that could turn the verdict but hold a value the harness never writes (``endpoint_lost: "yes"``,
    #: ``settings: [..]``): read as missing, they could hide a lost endpoint or worker, so no pass.
    damaged: tuple[str, ...] = ()

    @property
    def offered_rate(self) -> float | None:
        """Messages per second the producers were asked for, all together."""
        if self.rate is None or self.producers is None:
            return None
        return self.rate * self.producers

    @property
    def ordered(self) -> bool:
        """Exclusive and Failover promise per-producer order; Shared does not."""
        return self.subscription_type in ("Exclusive", "Failover")


def run_info(manifest: dict[str, Any]) -> RunInfo:
    """Read a manifest leniently: wrong types count as missing."""
    settings = manifest.get("settings")
    settings = settings if isinstance(settings, dict) else {}
    uncertainty = manifest.get("clock_uncertainty_ns")
    generator = manifest.get("generator")
    return RunInfo(
        run_id=str(manifest.get("run_id", "")),
        subscription_type=str(settings.get("subscription_type") or "Shared"),
        ack_timeout_ms=_number(settings.get("ack_timeout_ms")) or 0.0,
        producers=_integer(settings.get("producers")),
        consumers=_integer(settings.get("consumers")),
        rate=_number(settings.get("rate")),
        duration_s=_number(settings.get("duration")),
        completed=manifest.get("completed") is True,
        drained=manifest["drained"] if isinstance(manifest.get("drained"), bool) else None,
        producing_started_ns=_integer(manifest.get("producing_started_ns")),
        producing_stopped_ns=_integer(manifest.get("producing_stopped_ns")),
        clock_uncertainty_ns=_integers(uncertainty),
        generator=generator if isinstance(generator, dict) else {},
        endpoint_lost=_endpoint_lost(manifest.get("endpoint_lost")),
        workers_lost=_workers_lost(manifest.get("workers_lost")),
        damaged=damaged_keys(manifest),
    )


def damaged_keys(manifest: dict[str, Any]) -> tuple[str, ...]:
    """The keys the verdict rests on whose value is of a type the harness never writes (absent or null is fine)."""
    settings = manifest.get("settings")
    checks: dict[str, Callable[[Any], bool]] = {
        "endpoint_lost": lambda v: isinstance(v, bool | dict),
        "workers_lost": lambda v: isinstance(v, list) and all(_lost_worker_record(item) for item in v),
        "settings": lambda v: isinstance(v, dict),
        "clock_offsets_ns": lambda v: isinstance(v, dict),
    }
    damaged = [key for key, fits in checks.items() if manifest.get(key) is not None and not fits(manifest[key])]
    if isinstance(settings, dict):
        setting_checks: dict[str, Callable[[Any], bool]] = {
            "subscription_type": lambda v: isinstance(v, str),
            "ack_timeout_ms": lambda v: _number(v) is not None,
        }
        damaged += [
            f"settings.{key}"
            for key, fits in setting_checks.items()
            if settings.get(key) is not None and not fits(settings[key])
        ]
    return tuple(damaged)


def _lost_worker_record(item: Any) -> bool:
    """A worker tag (the old shape) or a ``{"worker": tag, ...}`` record."""
    if isinstance(item, str):
        return bool(item)
    return isinstance(item, dict) and isinstance(item.get("worker"), str) and bool(item["worker"])


def _endpoint_lost(value: Any) -> EndpointLost | None:
    """The record; ``true`` (a loss with no details) still counts as a loss, anything else as none."""
    if value is True:
        return EndpointLost()
    if not isinstance(value, dict):
        return None
    outages = value.get("outages")
    return EndpointLost(
        bound_s=_number(value.get("bound_s")),
        first_ns=_integer(value.get("first_ns")),
        outages=tuple(_outage(o) for o in outages if isinstance(o, dict)) if isinstance(outages, list) else (),
        longest_s=_number(value.get("longest_s")),
        schedule_shortfall=_number(value.get("schedule_shortfall")),
    )


def _outage(value: dict[str, Any]) -> Outage:
    return Outage(
        from_ns=_integer(value.get("from_ns")),
        to_ns=_integer(value.get("to_ns")),
        seconds=_number(value.get("seconds")),
        producers=_integer(value.get("producers")),
        consumers=_integer(value.get("consumers")),
    )


def _workers_lost(value: Any) -> tuple[LostWorker, ...]:
    """Records ``{"worker", "lost_ns"}`` or, in the old shape, plain tags; one per worker, first kept."""
    if not isinstance(value, list):
        return ()
    found: dict[str, LostWorker] = {}
    for item in value:
        if isinstance(item, str) and item:
            found.setdefault(item, LostWorker(item))
        elif isinstance(item, dict) and isinstance(item.get("worker"), str) and item["worker"]:
            found.setdefault(item["worker"], LostWorker(item["worker"], _integer(item.get("lost_ns"))))
    return tuple(found.values())


def _number(value: Any) -> float | None:
    """A finite number as a float; None for anything else, an int past a float's range included."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    if isinstance(value, int) and abs(value) > _INT64_MAX:  # math.isfinite would raise OverflowError
        return None
    return float(value) if math.isfinite(value) else None


def _integers(value: Any) -> dict[str, int]:
    """The whole-number values of a dict (wrong types and non-finite numbers left out)."""
    if not isinstance(value, dict):
        return {}
    pairs = ((str(k), _integer(v)) for k, v in value.items())
    return {k: v for k, v in pairs if v is not None}


def _integer(value: Any) -> int | None:
    """A whole number int64 holds (times in ns, counts); None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if abs(value) <= _INT64_MAX else None
    number = _number(value)
    return int(number) if number is not None and abs(number) < 2.0**63 else None
