"""The console summary of a run: a small table, the verdict, the run folder."""

from __future__ import annotations

from collections.abc import Iterable

from harness.analysis.delivery import DeliveryCounts
from harness.analysis.verdict import Verdict

ROWS = (
    ("sent", "sent"),
    ("published (publish acknowledged)", "published"),
    ("rejected (send-error)", "rejected"),
    ("indeterminate (no publish ack)", "indeterminate"),
    ("delivered exactly once", "delivered_once"),
    ("delivered more than once", "delivered_more"),
    ("lost (published, never delivered)", "lost"),
    ("unexpected (delivered, never sent)", "unexpected"),
)


def render_summary(run_name: str, counts: DeliveryCounts, verdict: Verdict, problems: Iterable[str] = ()) -> str:
    values = counts.as_dict()
    width = max(len(label) for label, _ in ROWS)
    lines = [f"run {run_name}", ""]
    lines += [f"  {label:<{width}}  {values[key]:>10,}" for label, key in ROWS]
    lines.append("")
    for problem in problems:
        lines.append(f"  note: {problem}")
    outcome = verdict.outcome.upper()
    lines.append(f"verdict: {outcome}" + (f" ({'; '.join(verdict.reasons)})" if verdict.reasons else ""))
    return "\n".join(lines)
