"""How many windows a run's span may be cut into, so no figure allocates by the span's length.

Figures over time hold one entry per window (latency percentiles, fairness) or per second
(rates, backlog). ``analyze --window-s 0.001`` on a day-long run would ask for 86 million
windows, so a window too narrow for the span is widened to the next 1-2-5 step that fits in
:data:`MAX_WINDOWS` (and a per-second bin to one that fits in :data:`MAX_BINS`), and the
summary notes it: a coarser figure is better than an analysis that eats the machine's memory.
"""

from __future__ import annotations

from typing import Final

from harness.errors import HarnessError

#: Windows a figure over time may hold: a day at 5 s, a week at 1 min.
MAX_WINDOWS: Final = 20_000
#: Bins of the per-second rates: a day and more at one second each.
MAX_BINS: Final = 100_000
NS_PER_S: Final = 1_000_000_000
#: Wider windows than this (146 years) are this: numpy's int64 must hold the window and the span.
LONGEST_WINDOW_NS: Final = 1 << 62


class WindowCountError(HarnessError):
    """A figure was asked for more windows than it may hold (a bug: spans are widened before)."""


def fitting_window(span_ns: int, window_ns: int, limit: int = MAX_WINDOWS) -> int:
    """``window_ns``, or the smallest 1-2-5 step (1, 2, 5, 10 ... ns) above it that cuts ``span_ns``
    into at most ``limit`` windows."""
    window_ns = min(window_ns, LONGEST_WINDOW_NS)
    if window_count(span_ns, window_ns) <= limit:
        return window_ns
    needed = -(-max(span_ns, 0) // (limit - 1))  # ceil(span / (limit - 1)) keeps count <= limit
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= max(needed, window_ns):
                return step * factor
        step *= 10


def window_count(span_ns: int, window_ns: int) -> int:
    """Windows of ``window_ns`` from a span's start through its end (a span of 0 is one window)."""
    return max(0, span_ns) // max(window_ns, 1) + 1


def checked_count(count: int, limit: int = MAX_WINDOWS) -> int:
    """``count``, refused with one clear line when over ``limit`` rather than allocated."""
    if count > limit:
        raise WindowCountError(
            f"a figure over time would need {count:,} windows (at most {limit:,}); use a wider --window-s"
        )
    return count


def widened_note(what: str, asked_ns: int, used_ns: int, span_ns: int, limit: int) -> str:
    """The summary's note that a window was widened: from what, to what, and why."""
    return (
        f"{what} widened from {asked_ns / NS_PER_S:g} s to {used_ns / NS_PER_S:g} s: "
        f"the run's {span_ns / NS_PER_S:,.0f} s would need {window_count(span_ns, asked_ns):,} "
        f"(at most {limit:,})"
    )


def span_notes(span_ns: int, asked_ns: int, used_ns: int) -> list[str]:
    """The summary's notes on every window or bin widened for this span (none for most runs)."""
    notes = []
    if used_ns > asked_ns:
        notes.append(widened_note("window", asked_ns, used_ns, span_ns, MAX_WINDOWS))
    bin_ns = fitting_window(span_ns, NS_PER_S, MAX_BINS)
    if bin_ns != NS_PER_S:
        notes.append(widened_note("per-second rate bins", NS_PER_S, bin_ns, span_ns, MAX_BINS))
    return notes
