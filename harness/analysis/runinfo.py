"""What the analysis needs to know about a run, taken from ``run.json``.

Every key is optional: a run folder from an older harness, a crashed run or a bare events folder
still analyses, with the figures that depend on a missing key left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
        clock_uncertainty_ns={str(k): int(v) for k, v in (uncertainty or {}).items() if isinstance(v, int | float)}
        if isinstance(uncertainty, dict)
        else {},
        generator=generator if isinstance(generator, dict) else {},
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _integer(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
