"""The console summary of a run, and of a comparison, rendered from summary.json's dict.

It ends with the closing table the README shows, then the verdict. The closing table follows
the messages through the endpoint (sent, published, delivered once or more, never acked): the
figures the class table above it does not hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.analysis.compare import Change
from harness.analysis.delivery import CLASSES
from harness.analysis.load import unusable_lines
from harness.analysis.verdict import loss_lines

FATE_ROWS = (
    ("sent", "sent"),
    ("published (publish acknowledged)", "published"),
    ("delivered exactly once", "delivered_once"),
    ("delivered more than once", "delivered_more"),
    ("delivered, never acked", "unacked"),
)
LATENCY_ROWS = (("end-to-end", "e2e"), ("e2e from intended send", "e2e_intended"), ("publish", "publish"))
LATENCY_COLUMNS = ("p50", "p90", "p99", "p999", "p9999", "max")


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def render_summary(summary: dict[str, Any]) -> str:
    run = summary["run"]
    lines = [f"run {run['run_id']}  ({run['subscription_type']}; {summary['input']['read']})", ""]
    lines += _delivery_lines(summary)
    lines += _fairness_lines(summary["fairness"])
    lines += _latency_lines(summary["latency_ms"])
    lines += _throughput_lines(summary["throughput"])
    messages = summary["messages"]
    width = max(len(label) for label, _ in FATE_ROWS)
    lines += [f"  {label:<{width}}  {messages[key]:>10,}" for label, key in FATE_ROWS]
    lines.append("")
    lines += [f"  {line}" for line in loss_lines(summary)]
    lines += [f"  note: {note}" for note in summary["input"]["notes"]]
    lines += [f"  {line}" for line in unusable_lines(summary)]
    reasons = summary["reasons"]
    lines.append(f"verdict: {summary['verdict'].upper()}" + (f" ({'; '.join(reasons)})" if reasons else ""))
    return "\n".join(lines)


def _delivery_lines(summary: dict[str, Any]) -> list[str]:
    delivery, messages = summary["delivery"], summary["messages"]
    lines = ["delivery classes (messages)"]
    for name in CLASSES:
        examples = messages["examples"].get(name, [])
        shown = f"  e.g. {', '.join(examples[:3])}" if examples and name != "ok" else ""
        lines.append(f"  {name:<14}{delivery[name]:>12,}{shown}")
    kinds = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in messages["duplicated_kinds"].items())
    explained = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in messages["redelivery_explained"].items())
    lines.append(f"  duplicated by kind: {kinds}; redeliveries explained by: {explained}")
    if messages["rejected_delivered"]:
        lines.append(f"  rejected but delivered: {messages['rejected_delivered']:,}")
    if messages["order_violations"] is not None:
        lines.append(f"  order violations: {messages['order_violations']:,}")
    return [*lines, ""]


def _fairness_lines(fairness: dict[str, Any]) -> list[str]:
    consumers = fairness["consumers"]
    judged = "" if fairness["applies"] else " (not judged: needs Shared and two consumers)"
    lines = [
        f"fairness{judged}: Jain {_num(fairness['jain'], 4)}, max/min {_num(fairness['max_min_ratio'])}, "
        f"cv {_num(fairness['cv'])}, starved {fairness['starved']}"
        + (f" ({', '.join(fairness['starved_consumers'])})" if fairness["starved_consumers"] else ""),
    ]
    if consumers:
        lines.append(f"  {'consumer':<16}{'delivered':>12}{'share':>9}{'expected':>10}{'connected s':>13}")
        for row in consumers:
            share = "-" if row["share"] is None else f"{row['share']:.1%}"
            lines.append(
                f"  {row['consumer']:<16}{row['delivered']:>12,}{share:>9}{row['expected_share']:>10.1%}"
                f"{row['connected_s']:>13,.1f}"
            )
    robin = fairness["round_robin"]
    if robin["runs"]:
        lines.append(f"  round-robin runs: mean {robin['mean']}, p99 {robin['p99']}, max {robin['max']}")
    return [*lines, ""]


def _latency_lines(latency: dict[str, Any]) -> list[str]:
    header = "".join(f"{c:>11}" for c in LATENCY_COLUMNS)
    lines = [f"latency ms{'':<16}{header}{'negative':>10}"]
    for label, key in LATENCY_ROWS:
        row = latency[key]
        cells = "".join(f"{_num(row[c]):>11}" for c in LATENCY_COLUMNS)
        lines.append(f"  {label:<24}{cells}{row['negative']:>10,}")
    return [*lines, ""]


def _throughput_lines(throughput: dict[str, Any]) -> list[str]:
    ratio = throughput["achieved_ratio"]
    achieved = f"achieved {_num(throughput['achieved_send_rate'], 1)} msg/s"
    if ratio is not None:
        achieved += f" ({ratio:.1%})"
    return [
        f"throughput: offered {_num(throughput['offered_rate'], 1)} msg/s, {achieved}, "
        f"delivered {_num(throughput['delivery_rate'], 1)} msg/s, drain {_num(throughput['drain_s'])} s, "
        f"peak backlog {throughput['peak_backlog']:,}",
        "",
    ]


def render_comparison(name_a: str, name_b: str, rows: Sequence[Change]) -> str:
    width = max(len(r.figure) for r in rows)
    lines = [f"A: {name_a}", f"B: {name_b}", "", f"{'figure':<{width}}  {'A':>14}  {'B':>14}  {'change':>14}  {'%':>9}"]
    for r in rows:
        percent = "-" if r.percent is None else f"{r.percent:+.1f}%"
        delta = "-" if r.delta is None else f"{r.delta:+,.3f}".rstrip("0").rstrip(".")
        lines.append(f"{r.figure:<{width}}  {_num(r.a):>14}  {_num(r.b):>14}  {delta:>14}  {percent:>9}")
    return "\n".join(lines)
