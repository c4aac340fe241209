"""When the drain may end: a pure decision over the workers' statuses, with the clock injected.

The backlog is empty when every process reports the drain, no publish awaits its answer, every
published message of this run is acknowledged (the ledger's ``unsettled``), and no delivery of
this run's messages came for :data:`QUIET_S`. A lost worker may have acknowledged messages it never
reported: once one is lost, a longer spell without deliveries (:data:`LOST_QUIET_S`) also ends it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from harness.load.phases import Phase

#: How long the drain must see no delivery of this run's messages before it may end.
QUIET_S = 0.5
#: With a worker lost, its last acks (not yet reported) can never be counted: a longer quiet spell ends the drain.
LOST_QUIET_S = 2.0


class DrainJudge:
    """Remembers when the run's delivery count last changed; ``clock`` returns monotonic seconds."""

    def __init__(
        self, clock: Callable[[], float], quiet_s: float = QUIET_S, lost_quiet_s: float = LOST_QUIET_S
    ) -> None:
        self.clock = clock
        self.quiet_s = quiet_s
        self.lost_quiet_s = lost_quiet_s
        self._delivered = -1  # this run's deliveries over all processes, when last seen changing
        self._changed = 0.0

    def reset(self) -> None:
        """A new run: no delivery count seen yet."""
        self._delivered = -1

    def drained(self, statuses: Collection[Mapping[str, Any]], unsettled: int, worker_lost: bool) -> bool:
        """Whether the drain may end now, from each live process's last status.

        Only statuses taken after a process heard of the drain count (an earlier one may predate its
        last sends); the caller leaves out workers that went missing.
        """
        if not statuses or any(s.get("phase") != Phase.DRAINING.value for s in statuses):
            return False
        now = self.clock()
        delivered = sum(int(s.get("delivered", 0)) for s in statuses)
        if delivered != self._delivered:
            self._delivered, self._changed = delivered, now
        if sum(int(s.get("awaiting", 0)) for s in statuses):
            return False
        quiet = now - self._changed
        if not unsettled:
            return quiet >= self.quiet_s
        return worker_lost and quiet >= self.lost_quiet_s
