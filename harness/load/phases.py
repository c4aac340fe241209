"""The run's phase, with one owner: every change is a named transition, and an illegal one is refused.

A run goes IDLE -> WAITING (consumers subscribe) -> PRODUCING (one or more stages, each with its
rate) -> DRAINING -> DONE, and DONE -> IDLE when the web UI starts the next run. The master (or the
only process) moves through these itself; a worker follows the master's broadcast, whatever it
missed meanwhile. Everyone else only reads :attr:`RunPhase.phase`.
"""

from __future__ import annotations

import enum

from harness.errors import HarnessError


class Phase(enum.Enum):
    """Where a run is: consumers subscribe first, producers send, then consumers drain."""

    IDLE = "idle"
    WAITING = "waiting"  # users connecting; producers hold back until every consumer has subscribed
    PRODUCING = "producing"
    DRAINING = "draining"  # producers stopped; consumers empty the backlog
    DONE = "done"


class IllegalTransition(HarnessError):
    """A phase change the run's timeline does not allow (a bug in whoever asked for it)."""


class RunPhase:
    """The phase and the rate per producer; the only code that changes either."""

    __slots__ = ("_phase", "_rate")

    def __init__(self) -> None:
        self._phase = Phase.IDLE
        self._rate = 0.0  # messages/s per producer in the current stage

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def rate(self) -> float:
        return self._rate

    def begin(self) -> None:
        """A run starts (replacing any earlier one): users connect, producers wait."""
        self._phase = Phase.WAITING

    def produce(self, rate: float) -> None:
        """A producing stage starts at ``rate`` messages/s per producer (after waiting, or after another stage)."""
        self._require("produce", Phase.WAITING, Phase.PRODUCING)
        if rate < 0:
            raise IllegalTransition(f"a stage's rate must not be negative, got {rate}")
        self._phase = Phase.PRODUCING
        self._rate = rate

    def drain(self) -> None:
        """Producers stop; consumers empty the backlog."""
        self._require("drain", Phase.WAITING, Phase.PRODUCING)
        self._phase = Phase.DRAINING

    def done(self) -> None:
        """The run is over, however it ended (drained, timed out, stopped by hand); idempotent."""
        self._phase = Phase.DONE

    def reset(self) -> None:
        """A finished run gives way to the next one (the web UI's next start)."""
        self._require("reset", Phase.DONE, Phase.IDLE)
        self._phase = Phase.IDLE

    def follow(self, phase: str, rate: float) -> None:
        """A worker takes the master's phase and rate as broadcast (it may have missed steps between)."""
        try:
            self._phase = Phase(phase)
        except ValueError:
            raise IllegalTransition(f"unknown phase {phase!r} from the master") from None
        self._rate = rate

    def _require(self, transition: str, *allowed: Phase) -> None:
        if self._phase not in allowed:
            names = " or ".join(p.value for p in allowed)
            raise IllegalTransition(f"cannot {transition} from {self._phase.value} (only from {names})")
