"""Checker speed: a synthetic run of 10 million events (2.5 million messages), files to summary.json.

Targets (issue 5): at least 1 million events/s with peak memory under 4 GB; plots and report.html
for a run of 1 million messages in under 30 s. Each analysis runs in a fresh child process, so
its peak RSS is its own; figures are medians of a few runs (the machine is shared and noisy).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from harness.events.schema import COLUMNS

MESSAGES = 2_500_000
REPORT_MESSAGES = 1_000_000
WORKERS = 4
PRODUCERS = 4  # per worker
CONSUMERS = 4  # per worker
RATE = 2000.0  # per producer: 32 producers x 2000 msg/s -> about 39 s of producing
REPEATS = 3

CHILD = """
import json, resource, sys, time
from pathlib import Path
start = time.perf_counter()
from harness.analysis.load import load_run
from harness.analysis.summary import summarize, write_summary
run_dir = Path(sys.argv[1])
run = load_run(run_dir)
summary = summarize(run)
write_summary(run_dir, summary)
seconds = time.perf_counter() - start
if sys.argv[2] == "report":
    from harness.report.html import write_report
    t = time.perf_counter()
    write_report(run_dir, summary)
    report_s = time.perf_counter() - t
else:
    report_s = None
print(json.dumps({"events": summary["input"]["events"], "seconds": seconds, "report_s": report_s,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "verdict": summary["verdict"]}))
"""


def _text(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(
        pa.array(np.full(len(numbers), prefix)), pc.cast(pa.array(numbers), pa.string()), ""
    )


def synthetic_run(folder: Path, messages: int) -> int:
    """Write a clean run: per worker, its producers' sends and publish acks, its consumers' deliveries
    and acks (4 events a message), connect rows, and run.json. Returns the number of events."""
    (folder / "events").mkdir(parents=True)
    rng = np.random.default_rng(5)
    per_worker = messages // WORKERS
    total = 0
    start_ns = 1_800_000_000_000_000_000
    interval_ns = int(1e9 / (RATE * PRODUCERS * WORKERS))
    for w in range(WORKERS):
        k = np.arange(per_worker, dtype=np.int64)
        producer = k % PRODUCERS + 1
        seq = k // PRODUCERS
        consumer = k % CONSUMERS + 1
        sent = start_ns + (k * WORKERS + w) * interval_ns
        latency = rng.lognormal(13.5, 0.6, per_worker).astype(np.int64)  # about 0.7 ms, long tail
        producers = _text(f"w{w}-p", producer)
        consumers = _text(f"w{w}-c", consumer)
        uids = pc.binary_join_element_wise(producers, _text("/", seq), "")
        msg_ids = _text("CAEQ", k * WORKERS + w)
        n = 4 * per_worker
        order = (np.arange(n) % 4) * per_worker + np.arange(n) // 4  # interleave the four kinds
        take = pa.array(order)
        none_int = pa.nulls(per_worker, pa.int64())
        none_text = pa.nulls(per_worker, pa.string())
        table = pa.table(
            {
                "t_ns": np.stack([sent, sent + latency // 3, sent + latency, sent + latency + 20_000], axis=1).ravel(),
                "kind": pa.array(np.tile(np.array(["send", "publish_ok", "deliver", "ack"]), per_worker)),
                "actor": pa.concat_arrays([producers, producers, consumers, consumers]).take(take),
                "uid": pa.concat_arrays([uids, uids, uids, uids]).take(take),
                "msg_id": pa.concat_arrays([none_text, msg_ids, msg_ids, msg_ids]).take(take),
                "intended_ns": pa.concat_arrays([pa.array(sent - 5_000), none_int, none_int, none_int]).take(take),
                "redelivery": pa.concat_arrays(
                    [none_int, none_int, pa.array(np.zeros(per_worker, np.int64)), none_int]
                ).take(take),
                "size": pa.concat_arrays(
                    [pa.array(np.full(per_worker, 100)), none_int, pa.array(np.full(per_worker, 100)), none_int]
                ).take(take),
                "detail": pa.nulls(n, pa.string()),
            }
        )
        path = folder / "events" / f"w{w}-{1000 + w}.csv"
        connects = "".join(f"{start_ns - 1_000_000},connect,w{w}-c{c},,,,,,Shared\n" for c in range(1, CONSUMERS + 1))
        path.write_text(",".join(COLUMNS) + "\n" + connects, encoding="utf-8")
        with pa.OSFile(str(path), "ab") as sink:
            pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style="none"))
        total += n + CONSUMERS
    settings = {"subscription_type": "Shared", "producers": PRODUCERS * WORKERS, "consumers": CONSUMERS * WORKERS}
    settings.update(rate=RATE, duration=messages / (RATE * PRODUCERS * WORKERS))
    manifest = {"run_id": folder.name, "schema_version": 1, "settings": settings, "completed": True, "drained": True}
    (folder / "run.json").write_text(json.dumps(manifest), encoding="utf-8")
    return total


def _analyse(folder: Path, mode: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), mode], capture_output=True, text=True, check=True, timeout=600
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        big = Path(tmp) / "big"
        events = synthetic_run(big, MESSAGES)
        generated = time.perf_counter() - started
        print(f"synthetic log: {events:,} events, {MESSAGES:,} messages, written in {generated:.1f} s")
        runs = [_analyse(big, "summary") for _ in range(REPEATS)]
        seconds = statistics.median(r["seconds"] for r in runs)
        rss = max(r["rss_mb"] for r in runs)
        rates = ", ".join(f"{events / r['seconds'] / 1e6:.2f}" for r in runs)
        print(
            f"analysis, files to summary.json: {events / seconds / 1e6:.2f} M events/s median "
            f"({seconds:.1f} s; runs {rates} M events/s; target >= 1.0), peak RSS {rss:,.0f} MB (target < 4096), "
            f"verdict {runs[0]['verdict']}"
        )
        small = Path(tmp) / "report"
        report_events = synthetic_run(small, REPORT_MESSAGES)
        reports = [_analyse(small, "report") for _ in range(REPEATS)]
        plotting = statistics.median(r["report_s"] for r in reports)
        analysis = statistics.median(r["seconds"] for r in reports)
        print(
            f"plots and report.html for {REPORT_MESSAGES:,} messages ({report_events:,} events): "
            f"{plotting:.2f} s median "
            f"(target < 30 s; its analysis took {analysis:.1f} s, {plotting / analysis:.2f}x of that)"
        )


if __name__ == "__main__":
    main()
