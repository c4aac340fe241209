"""``capacity.html`` and its plots: every region's capacity side by side, then each search's stages.

Reads only the capacity document (the content of ``capacity.json``); each stage row links that
stage's own ``report.html``. Plots are inlined, so the page reads offline.
"""

from __future__ import annotations

import html
from pathlib import Path
from string import Template
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402 - the backend is chosen first

from harness.atomic import write_text_atomically  # noqa: E402
from harness.report.html import STYLE, figures_html, table  # noqa: E402
from harness.report.plots import new_figure, png  # noqa: E402

CAPACITY_HTML = "capacity.html"
TEMPLATE = Path(__file__).with_name("capacity_template.html")
OUTCOME_CLASS = {
    "found": "found",
    "limited by the load generator": "limited",
    "failed": "failed",
    "above max rate": "bounded",
    "below start rate": "bounded",
    "stopped at the stage limit": "bounded",
    "interrupted": "bounded",
}


def _stages(region: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(region.get("stages") or [], key=lambda s: s["offered_rate"])


def _finish(ax: Any, title: str, xlabel: str, ylabel: str) -> None:
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


def offered_vs_delivered(document: dict[str, Any]) -> Figure:
    fig = new_figure()
    ax = fig.subplots()
    top = 1.0
    for region in document["regions"]:
        stages = _stages(region)
        if not stages:
            continue
        offered = [s["offered_rate"] for s in stages]
        (line,) = ax.plot(offered, [s["delivered_rate"] for s in stages], marker="o", label=region["name"])
        if region.get("capacity_msg_s"):
            ax.axvline(region["capacity_msg_s"], color=line.get_color(), linestyle=":", alpha=0.7)
        top = max(top, *offered)
    ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="delivered = offered")
    _finish(ax, "Offered against delivered rate (dotted: capacity)", "offered msg/s", "delivered msg/s")
    return fig


def p99_vs_delivered(document: dict[str, Any]) -> Figure:
    fig = new_figure()
    ax = fig.subplots()
    for region in document["regions"]:
        points = [(s["delivered_rate"], s["p99_ms"]) for s in _stages(region) if s.get("p99_ms") is not None]
        if points:
            points.sort()
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=region["name"])
        ceiling = (region.get("slo") or {}).get("p99_ms")
        if ceiling:
            ax.axhline(ceiling, color="grey", linestyle=":", linewidth=1)
    ax.set_yscale("log")
    _finish(ax, "p99 end-to-end latency against delivered rate (the knee)", "delivered msg/s", "p99 ms (log)")
    return fig


def backlog_growth(document: dict[str, Any]) -> Figure:
    fig = new_figure()
    ax = fig.subplots()
    for region in document["regions"]:
        stages = _stages(region)
        if stages:
            ax.plot(
                [s["offered_rate"] for s in stages],
                [s["backlog_growth_rate"] for s in stages],
                marker="o",
                label=region["name"],
            )
    ax.axhline(0, color="grey", linewidth=1)
    _finish(ax, "Backlog growth per stage", "offered msg/s", "backlog growth msg/s")
    return fig


def regions_side_by_side(document: dict[str, Any]) -> Figure:
    """Capacities as solid bars; a search that found only a lower bound shows it hatched."""
    fig = new_figure()
    ax = fig.subplots()
    for region in document["regions"]:
        found = region.get("outcome") == "found"  # "above max rate" holds a capacity that is only a floor
        capacity = region.get("capacity_msg_s") if found else None
        value = capacity or region.get("highest_holding_msg_s") or 0.0
        color, hatch = ("#1565c0", "") if capacity else ("#90a4ae", "//")
        bar = ax.bar(region["name"], value, color=color, hatch=hatch)[0]
        label = f"{capacity:,.0f}" if capacity else (f">= {value:,.0f}: " if value else "") + region["outcome"]
        ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom")
    ax.set(title="Capacity by region (hatched: a lower bound only)", ylabel="msg/s")
    ax.grid(alpha=0.3, axis="y")
    return fig


PLOTS = (
    ("capacity_offered_delivered.png", "Offered against delivered rate", offered_vs_delivered),
    ("capacity_knee.png", "p99 against delivered rate", p99_vs_delivered),
    ("capacity_backlog.png", "Backlog growth per stage", backlog_growth),
    ("capacity_regions.png", "Capacity by region", regions_side_by_side),
)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _summary_table(document: dict[str, Any]) -> str:
    rows = []
    for region in document["regions"]:
        at = region.get("at_capacity") or {}
        failing = region.get("first_failing") or {}
        capacity = region.get("capacity_msg_s")
        lower = region.get("highest_holding_msg_s")
        rows.append(
            (
                region["name"],
                region["outcome"],
                capacity if capacity is not None else (f">= {lower:,.0f}" if lower else None),
                at.get("p50_ms"),
                at.get("p99_ms"),
                at.get("p999_ms"),
                failing.get("offered_rate"),
                "; ".join(failing.get("reasons") or []) or region.get("error") or "",
            )
        )
    header = ("region", "outcome", "capacity msg/s", "p50 ms", "p99 ms", "p99.9 ms", "first failing msg/s", "why")
    return table(header, rows, text_columns=(1, 7))


def _region_section(region: dict[str, Any]) -> str:
    outcome = region["outcome"]
    css = OUTCOME_CLASS.get(outcome, "failed")
    parts = [
        f'<h2>{html.escape(region["name"])}: <span class="outcome {css}">{html.escape(outcome)}</span></h2>',
        f"<p>target {html.escape(str(region.get('target', '')))}"
        + (f", profile {html.escape(region['profile'])}" if region.get("profile") else "")
        + (f"; error: {html.escape(region['error'])}" if region.get("error") else "")
        + "</p>",
    ]
    rows = []
    for stage in region.get("stages") or []:
        link = stage.get("report")
        name = html.escape(str(stage["index"]))
        cell = f'<a href="{html.escape(link)}">{name}</a>' if link else name
        rows.append(
            "<tr>"
            + f'<td class="text">{cell}</td>'
            + "".join(
                f"<td>{value}</td>"
                for value in (
                    f"{stage['offered_rate']:,.0f}",
                    f"{(stage.get('sent_rate') or 0):,.0f}",
                    f"{stage['delivered_rate']:,.0f}",
                    f"{stage['backlog_growth_rate']:,.1f}",
                    _ms(stage.get("p50_ms")),
                    _ms(stage.get("p99_ms")),
                    _ms(stage.get("p999_ms")),
                    "holds" if stage["holds"] else "fails",
                )
            )
            + f'<td class="text">{html.escape("; ".join(stage.get("reasons") or []))}</td>'
            + "</tr>"
        )
    header = ("stage", "offered", "sent", "delivered", "backlog growth/s", "p50 ms", "p99 ms", "p99.9 ms", "", "why")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    parts.append(f"<table><tr>{head}</tr>{''.join(rows)}</table>" if rows else "<p>no stage ran</p>")
    return "\n".join(parts)


def render_capacity_html(document: dict[str, Any], plots: list[tuple[str, str, bytes]], source: str) -> str:
    images = figures_html(plots)
    intro = (
        "The capacity of a region is the highest offered rate at which a stage held: the checker "
        "passed it under the SLO (lost, duplicated, fairness), at least 97% of the offered rate "
        "was delivered, the backlog grew by at most 1% of it per second, and p99 met the SLO."
    )
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        style=STYLE.read_text(encoding="utf-8"),
        title="streamharness capacity",
        intro=html.escape(intro),
        summary_table=_summary_table(document),
        plots=images,
        regions="\n".join(_region_section(r) for r in document["regions"]),
        source=html.escape(source),
    )


def write_capacity_report(folder: Path, document: dict[str, Any]) -> Path:
    """Write the plots and ``capacity.html`` into ``folder``; returns the page's path."""
    plots = [(name, alt, png(draw(document))) for name, alt, draw in PLOTS]
    (folder / "plots").mkdir(exist_ok=True)
    for name, _, data in plots:
        (folder / "plots" / name).write_bytes(data)
    path = folder / CAPACITY_HTML
    return write_text_atomically(path, render_capacity_html(document, plots, str(folder.name)))
