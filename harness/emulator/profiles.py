"""Emulated regions: one-way latency with jitter and a service-rate cap, so capacity is real and known.

A profile adds ``latency_ms`` (± ``jitter_ms``, uniform) to every frame the emulator sends (publish
acks and deliveries, keeping each socket's order), and dispatches at most ``service_rate``
messages per second per subscription (0: no cap). A profile file is TOML with those three keys.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError, one_line
from harness.userfiles import read_small_text


@dataclass(frozen=True)
class RegionProfile:
    name: str
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    service_rate: float = 0.0  # messages/s dispatched per subscription; 0 is unlimited

    def __post_init__(self) -> None:
        if self.latency_ms < 0 or self.jitter_ms < 0 or self.service_rate < 0:
            raise HarnessError(f"profile {self.name}: latency_ms, jitter_ms and service_rate must be >= 0")
        if self.jitter_ms > self.latency_ms:
            raise HarnessError(f"profile {self.name}: jitter_ms must not exceed latency_ms")


#: Three regions of different distance and capacity, for the capacity search demo.
BUILTIN_PROFILES: dict[str, RegionProfile] = {
    p.name: p
    for p in (
        RegionProfile("us-east", latency_ms=5.0, jitter_ms=1.0, service_rate=4000.0),
        RegionProfile("eu-west", latency_ms=40.0, jitter_ms=5.0, service_rate=2000.0),
        RegionProfile("ap-south", latency_ms=120.0, jitter_ms=20.0, service_rate=800.0),
    )
}


def load_profile(spec: str) -> RegionProfile:
    """A built-in profile by name, or a TOML file; bad input raises HarnessError with one line."""
    if spec in BUILTIN_PROFILES:
        return BUILTIN_PROFILES[spec]
    path = Path(spec)
    if not path.is_file():
        names = ", ".join(BUILTIN_PROFILES)
        raise HarnessError(f"unknown profile {spec!r}: use one of {names} or a TOML file")
    try:
        data = tomllib.loads(read_small_text(path))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        raise HarnessError(f"cannot read profile {spec}: {one_line(exc)}") from None
    unknown = set(data) - {"latency_ms", "jitter_ms", "service_rate", "name"}
    if unknown:
        raise HarnessError(f"profile {spec}: unknown keys {', '.join(sorted(unknown))}")
    values: dict[str, float] = {}
    for key in ("latency_ms", "jitter_ms", "service_rate"):
        value = data.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise HarnessError(f"profile {spec}: {key} must be a number")
        values[key] = float(value)
    return RegionProfile(str(data.get("name", path.stem)), **values)


class RateLimiter:
    """A token bucket: ``rate`` tokens per second, holding at most ``burst``."""

    __slots__ = ("rate", "burst", "tokens", "_last")

    def __init__(self, rate: float, now: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate / 50)  # 20 ms worth
        self.tokens = self.burst
        self._last = now

    def refill(self, now: float) -> None:
        if now > self._last:
            self.tokens = min(self.burst, self.tokens + (now - self._last) * self.rate)
            self._last = now
