"""``report.html``: one self-contained page (plots inlined as data URIs), verdict first.

Everything shown comes from the summary dict; text is HTML-escaped; settings are passed through
the run folder's redaction once more, so no key or token can reach the page.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from string import Template
from typing import Any

from harness.analysis.delivery import CLASSES
from harness.analysis.load import unusable_lines
from harness.analysis.verdict import loss_lines
from harness.atomic import write_text_atomically
from harness.events.runfolder import redact
from harness.report.plots import render_all

REPORT_HTML = "report.html"
PLOTS_DIR = "plots"
TEMPLATE = Path(__file__).with_name("template.html")
#: The stylesheet every page of the harness inlines (run reports and capacity reports).
STYLE = Path(__file__).with_name("style.css")
LATENCY_COLUMNS = ("count", "p50", "p90", "p99", "p999", "p9999", "max", "negative")
LATENCY_NAMES = {
    "e2e": "end-to-end",
    "e2e_intended": "end-to-end from intended send",
    "publish": "publish",
    "redelivery_delay": "redelivery delay",
    "schedule_lag": "schedule lag",
}
#: Shorter names for the breakdown tables, where the name sits in a narrow column.
BREAKDOWN_NAMES = {
    "e2e": "end-to-end",
    "e2e_intended": "from intended send",
    "publish": "publish",
    "redelivery_delay": "redelivery delay",
}


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return html.escape(str(value))


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], text_columns: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            attr = ' class="text"' if i in text_columns else ""
            cells.append(f"<td{attr}>{_cell(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _delivery(summary: dict[str, Any]) -> str:
    messages = summary["messages"]
    classes = table(
        ("class", "messages", "examples (up to 10 uids)"),
        ((name, summary["delivery"][name], ", ".join(messages["examples"].get(name, []))) for name in CLASSES),
        text_columns=(2,),
    )
    kinds = table(
        ("duplicated kind", "messages", "examples"),
        (
            (kind.replace("_", " "), n, ", ".join(messages["examples"].get(f"duplicated/{kind}", [])))
            for kind, n in messages["duplicated_kinds"].items()
        ),
        text_columns=(2,),
    )
    explained = table(("redeliveries explained by", "deliveries"), messages["redelivery_explained"].items())
    fates = table(
        (
            "sent",
            "published",
            "deliveries",
            "delivered once",
            "delivered more",
            "never acked",
            "rejected but delivered",
            "order violations",
        ),
        [
            (
                messages["sent"],
                messages["published"],
                messages["deliveries"],
                messages["delivered_once"],
                messages["delivered_more"],
                messages["unacked"],
                messages["rejected_delivered"],
                "not checked" if messages["order_violations"] is None else messages["order_violations"],
            )
        ],
    )
    return classes + kinds + explained + fates


def _latency(summary: dict[str, Any]) -> str:
    latency = summary["latency_ms"]
    header = ("ms", *LATENCY_COLUMNS)
    parts = [table(header, ((LATENCY_NAMES[k], *(latency[k][c] for c in LATENCY_COLUMNS)) for k in LATENCY_NAMES))]
    for title, column, groups in (
        ("by consumer (of the first delivery; of the extra one for redelivery delay)", "consumer", "by_consumer"),
        ("publish by producer", "producer", "by_producer"),
        ("by delivery class", "class", "by_class"),
    ):
        parts.append(f"<h3>{html.escape(title)}</h3>")
        parts.append(_breakdown(column, _regroup(latency[groups])))
    windows = latency["windows"]
    per_window = {
        f"{start:g}": {metric: rows[i] for metric, rows in windows.items() if metric in BREAKDOWN_NAMES and rows[i]}
        for i, start in enumerate(windows["start_s"])
    }
    count = len(windows["start_s"])
    parts.append(
        f"<details><summary>by {windows['window_s']:g} s window ({count} window{'' if count == 1 else 's'})</summary>"
        + _breakdown("window start s", per_window)
        + "</details>"
    )
    uncertainty = summary["run"]["clock_uncertainty_ms"]
    if uncertainty:
        parts.append(f"<p>Clock offset uncertainty between workers: up to {uncertainty:.3f} ms.</p>")
    return "".join(parts)


def _regroup(by_metric: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{metric: {group: row}}`` as ``{group: {metric: row}}``, groups in first-seen order."""
    result: dict[str, dict[str, Any]] = {}
    for metric, rows in by_metric.items():
        for group, row in rows.items():
            result.setdefault(group, {})[metric] = row
    return result


def _breakdown(column: str, groups: dict[str, dict[str, Any]]) -> str:
    """One table of a latency breakdown: a row per group and metric, metrics in overview order."""
    rows = (
        (group, name, *(metrics[metric][c] for c in LATENCY_COLUMNS))
        for group, metrics in groups.items()
        for metric, name in BREAKDOWN_NAMES.items()
        if metric in metrics
    )
    return table((column, "latency ms", *LATENCY_COLUMNS), rows)


def _fairness(summary: dict[str, Any]) -> str:
    f = summary["fairness"]
    overview = table(
        ("judged", "Jain's index", "max/min ratio", "coefficient of variation", "starved", "starvation threshold s"),
        [(f["applies"], f["jain"], f["max_min_ratio"], f["cv"], f["starved"], f["starvation_threshold_s"])],
    )
    consumers = table(
        ("consumer", "delivered", "share", "expected share", "connected s", "longest starved s"),
        (
            (r["consumer"], r["delivered"], r["share"], r["expected_share"], r["connected_s"], r["longest_starved_s"])
            for r in f["consumers"]
        ),
    )
    robin = f["round_robin"]
    runs = table(
        ("round-robin runs", "mean length", "p50", "p99", "max"),
        [(robin["runs"], robin["mean"], robin["p50"], robin["p99"], robin["max"])],
    )
    return overview + consumers + runs


def _throughput(summary: dict[str, Any]) -> str:
    t = summary["throughput"]
    keys = (
        "offered_rate",
        "achieved_send_rate",
        "achieved_ratio",
        "delivery_rate",
        "producing_s",
        "drain_s",
        "drained",
        "peak_backlog",
        "final_backlog",
    )
    rows = [(k.replace("_", " "), t[k]) for k in keys]
    rows += [(f"generator {k.replace('_', ' ')}", v) for k, v in t["generator"].items() if not isinstance(v, dict)]
    return table(("figure", "value"), rows)


def figures_html(plots: Sequence[tuple[str, str, bytes]]) -> str:
    """Each plot as a ``<figure>`` with its PNG inlined, so the page reads offline."""
    return "".join(
        f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'
        f"<figcaption>{html.escape(alt)}</figcaption></figure>"
        for _, alt, data in plots
    )


def render_html(summary: dict[str, Any], plots: Sequence[tuple[str, str, bytes]], source: str) -> str:
    run = summary["run"]
    inp = summary["input"]
    run_rows = [
        ("run id", run["run_id"]),
        ("subscription type", run["subscription_type"]),
        ("producers", run["producers"]),
        ("consumers", run["consumers"]),
        ("rate per producer msg/s", run["rate"]),
        ("duration s", run["duration_s"]),
        ("completed", run["completed"]),
        ("drained", run["drained"]),
        *(("loss", line) for line in loss_lines(summary)),
        ("target", run["target"].get("kind")),
        ("events", inp["read"]),
        *(("rows unusable", line.removeprefix("rows unusable: ")) for line in unusable_lines(summary)),
    ]
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in inp["notes"])
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in summary["reasons"])
    images = figures_html(plots)
    settings = redact(run.get("settings") or {})
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        style=STYLE.read_text(encoding="utf-8"),
        title=html.escape(f"streamharness run {run['run_id']}: {summary['verdict']}"),
        verdict_class=html.escape(summary["verdict"]),
        verdict=html.escape(summary["verdict"].upper()),
        reasons=f"<ul>{reasons}</ul>" if reasons else "",
        run_table=table(("", ""), run_rows),
        notes=f'<ul class="notes">{notes}</ul>' if notes else "",
        delivery_tables=_delivery(summary),
        latency_tables=_latency(summary),
        fairness_tables=_fairness(summary),
        throughput_table=_throughput(summary),
        plots=images,
        settings_table=table(("setting", "value"), ((k, v) for k, v in sorted(settings.items())), text_columns=(1,)),
        source=html.escape(source),
    )


def write_report(run_dir: Path, summary: dict[str, Any]) -> Path:
    """Write the PNG plots (``plots/``) and ``report.html`` into the run folder; returns the page's path."""
    plots = render_all(summary)
    folder = run_dir / PLOTS_DIR
    folder.mkdir(exist_ok=True)
    for name, _, data in plots:
        (folder / name).write_bytes(data)
    path = run_dir / REPORT_HTML
    return write_text_atomically(path, render_html(summary, plots, run_dir.name))
