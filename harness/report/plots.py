"""The report's plots, drawn from summary.json's dict with matplotlib's Agg backend.

Each function returns a Figure; :func:`render_all` turns them into PNG bytes. Plots read only
the summary (windows, per-second series, the percentile curve), so drawing costs the same for a
run of a thousand messages or of millions.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402 - the backend is chosen first
from matplotlib.ticker import FixedLocator, FuncFormatter  # noqa: E402

SIZE = (9.0, 4.2)
DPI = 100


def new_figure() -> Figure:
    """A figure of the reports' one size, laid out to fit its labels."""
    return Figure(figsize=SIZE, dpi=DPI, layout="constrained")


def _empty(fig: Figure, title: str) -> Figure:
    ax = fig.subplots()
    ax.set_title(title)
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def _finish(ax: Any, title: str, ylabel: str, legend: str, xlabel: str = "seconds since the run started") -> None:
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc=legend, fontsize="small")


def latency_over_time(summary: dict[str, Any]) -> Figure:
    fig = new_figure()
    windows = summary["latency_ms"]["windows"]
    title = f"End-to-end latency per {windows['window_s']:g} s window"
    points = [(s, row) for s, row in zip(windows["start_s"], windows["e2e"], strict=False) if row]
    if not points:
        return _empty(fig, title)
    ax = fig.subplots()
    x = [s for s, _ in points]
    for key, label in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9"), ("max", "max")):
        ax.plot(x, [row[key] for _, row in points], marker=".", label=label)
    intended = [(s, row) for s, row in zip(windows["start_s"], windows["e2e_intended"], strict=False) if row]
    if intended:
        ax.plot([s for s, _ in intended], [r["p99"] for _, r in intended], "--", label="p99 from intended send")
    ax.set_ylim(bottom=0)
    _finish(ax, title, "ms", "upper left")
    return fig


def latency_distribution(summary: dict[str, Any]) -> Figure:
    fig = new_figure()
    curves = summary["latency_ms"]["curve"]
    title = "Latency by percentile"
    if not any(curves.values()):
        return _empty(fig, title)
    ax = fig.subplots()
    for key, label in (("e2e", "end-to-end"), ("e2e_intended", "from intended send"), ("publish", "publish")):
        points = curves.get(key) or []
        if points:
            ax.plot([1 / (1 - p / 100) for p, _ in points], [v for _, v in points], label=label)
    ax.set_xscale("log")
    ticks = [1, 2, 10, 100, 1_000, 10_000, 100_000, 1_000_000]
    names = ["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: names[ticks.index(v)] if v in ticks else ""))
    _finish(ax, title, "ms", "upper left", xlabel="percentile (log scale)")
    return fig


def consumers(summary: dict[str, Any]) -> Figure:
    fig = new_figure()
    rows = summary["fairness"]["consumers"]
    title = "Deliveries per consumer against its expected share"
    if not rows:
        return _empty(fig, title)
    ax = fig.subplots()
    x = list(range(len(rows)))
    ax.bar(x, [r["delivered"] for r in rows], color="#4c78a8", label="delivered")
    ax.scatter(x, [r["expected"] for r in rows], color="#e45756", marker="_", s=900, zorder=3, label="expected")
    ax.set_xticks(x, [r["consumer"] for r in rows], rotation=30 if len(rows) > 6 else 0, ha="right")
    ax.set(title=title, ylabel="deliveries")
    ax.legend(fontsize="small")
    return fig


def fairness_over_time(summary: dict[str, Any]) -> Figure:
    fig = new_figure()
    fairness = summary["fairness"]
    windows = fairness["windows"]
    title = f"Jain's fairness index per {windows['window_s']:g} s window"
    points = [(s, j) for s, j in zip(windows["start_s"], windows["jain"], strict=False) if j is not None]
    if not points:
        return _empty(fig, title)
    ax = fig.subplots()
    ax.plot([s for s, _ in points], [j for _, j in points], marker=".", label="Jain's index")
    threshold = summary["thresholds"].get("min_jain")
    if threshold is not None:
        ax.axhline(threshold, color="#e45756", linestyle="--", label=f"threshold {threshold:g}")
    ax.set_ylim(0, 1.05)
    _finish(ax, title, "index (1 = even)", "lower left")
    return fig


def rates_and_backlog(summary: dict[str, Any]) -> Figure:
    fig = new_figure()
    series = summary["throughput"]["per_second"]
    title = "Send and delivery rates, backlog"
    if not series["t_s"]:
        return _empty(fig, title)
    ax = fig.subplots()
    t = series["t_s"]
    for key, label in (("send", "sent/s"), ("publish_ok", "publish acks/s"), ("deliver", "delivered/s")):
        ax.plot(t, series[key], label=label, drawstyle="steps-post")
    ax.set(title=title, xlabel="seconds since the run started", ylabel="messages per second")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    backlog_ax = ax.twinx()
    backlog_ax.fill_between(t, series["backlog"], step="post", color="#999999", alpha=0.3, label="backlog")
    backlog_ax.set_ylabel("backlog (messages)")
    backlog_ax.set_ylim(bottom=0)
    handles, labels = ax.get_legend_handles_labels()
    more, more_labels = backlog_ax.get_legend_handles_labels()
    ax.legend(handles + more, labels + more_labels, loc="upper right", fontsize="small")
    return fig


#: File name, alt text and drawing function of every plot, in report order.
PLOTS: tuple[tuple[str, str, Callable[[dict[str, Any]], Figure]], ...] = (
    ("latency_over_time.png", "Latency percentiles over time", latency_over_time),
    ("latency_distribution.png", "Latency percentile distribution, log scale", latency_distribution),
    ("consumers.png", "Deliveries per consumer against expected", consumers),
    ("fairness_over_time.png", "Fairness index over time", fairness_over_time),
    ("rates_backlog.png", "Send and delivery rates with the backlog", rates_and_backlog),
)


def png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def render_all(summary: dict[str, Any]) -> list[tuple[str, str, bytes]]:
    """``(file name, alt text, PNG bytes)`` of every plot."""
    return [(name, alt, png(draw(summary))) for name, alt, draw in PLOTS]
