"""The verdict on a run, Maelstrom style: pass (0), fail (1) or inconclusive (2)."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.analysis.delivery import DeliveryCounts

EXIT_CODES = {"pass": 0, "fail": 1, "inconclusive": 2}


@dataclass(frozen=True)
class Verdict:
    outcome: str  # "pass" | "fail" | "inconclusive"
    reasons: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]


def judge(counts: DeliveryCounts) -> Verdict:
    """Fail on any lost, duplicated or unexpected message; inconclusive when nothing was sent."""
    if counts.sent == 0:
        return Verdict("inconclusive", ["no message was sent"])
    reasons = []
    if counts.lost:
        reasons.append(f"{counts.lost} lost")
    if counts.delivered_more:
        reasons.append(f"{counts.delivered_more} delivered more than once")
    if counts.unexpected:
        reasons.append(f"{counts.unexpected} unexpected")
    return Verdict("fail", reasons) if reasons else Verdict("pass")
