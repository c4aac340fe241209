"""End-to-end load-generation throughput of one Locust process, against the emulator on the other core.

The emulator is pinned to core 1 and Locust (producers, consumers, acks and event logging, all in
one process) to core 0, with ``taskset``. Each offered rate runs for DURATION_S; the figures are
the send rate against the schedule (within 1% = the rate held), deliveries per second while
producing, Locust's own CPU and schedule lag from run.json, and the emulator's CPU. The same run
measures a raw websocket-client loop exchanging the same frames (tests/bench/raw_loop.py) as fast
as it can: the ratio of CPU per message is what Locust and the harness cost on top of the bare
stack. Machines are noisy;
compare ratios from one run, not absolute figures across runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from harness.analysis.load import load_run
from harness.events import schema
from harness.targets.emulator import EmulatorProcess

ROOT = Path(__file__).resolve().parents[2]
DURATION_S = 8.0
PRODUCERS = 10
CONSUMERS = 4
TOTAL_RATES = (5_000, 10_000, 15_000)


def pinned(core: int, command: list[str]) -> list[str]:
    return ["taskset", "-c", str(core), *command] if shutil.which("taskset") else command


def raw_loop(ws_base: str) -> dict[str, float]:
    command = pinned(0, [sys.executable, "-m", "tests.bench.raw_loop", ws_base, str(DURATION_S)])
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def locust_run(ws_base: str, total_rate: int, reports: Path, emulator_pid: int) -> dict[str, float]:
    run_id = f"bench-{total_rate}"
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless", "--only-summary"]
    command += ["--target", "emulator", "--url", ws_base, "--subscription", run_id, "--run-id", run_id]
    command += ["--producers", str(PRODUCERS), "--consumers", str(CONSUMERS), "--size", "100"]
    command += ["--rate", str(total_rate / PRODUCERS), "--duration", str(DURATION_S), "--reports-dir", str(reports)]
    emulator = psutil.Process(emulator_pid)
    cpu_before, wall_before = sum(emulator.cpu_times()[:2]), time.monotonic()
    subprocess.run(pinned(0, command), cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    emulator_cpu = 100 * (sum(emulator.cpu_times()[:2]) - cpu_before) / (time.monotonic() - wall_before)
    run = load_run(reports / run_id)
    manifest, events = run.manifest, run.events
    start, stop = manifest["producing_started_ns"], manifest["producing_stopped_ns"]
    seconds = (stop - start) / 1e9
    sends = int((events["kind"] == schema.SEND).sum())
    delivered = events[(events["kind"] == schema.DELIVER) & (events["t_ns"] <= stop)]
    generator = manifest.get("generator", {})
    cpu_mean = float(generator.get("cpu_percent_mean", 0.0))
    return {
        "cpu_us_per_msg": cpu_mean / 100 * 1e6 / max(1.0, len(delivered) / seconds),
        "offered": total_rate,
        "send_ratio": sends / (total_rate * seconds),
        "delivered_per_s": len(delivered) / seconds,
        "locust_cpu_mean": generator.get("cpu_percent_mean", 0.0),
        "lag_p99_ms": generator.get("schedule_lag_p99_ms", 0.0),
        "emulator_cpu": emulator_cpu,
        "drained": bool(manifest.get("drained")),
    }


def main() -> None:
    if not shutil.which("taskset"):
        print("taskset not found: processes are not pinned, figures mix both cores")
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess() as emulator:
        emulator_pid = emulator.pid
        assert emulator_pid is not None
        subprocess.run(["taskset", "-pc", "1", str(emulator_pid)], capture_output=True, check=False)
        ws_base = emulator.url.replace("http://", "ws://")
        raw = raw_loop(ws_base)
        print(
            f"raw websocket-client loop (core 0): at most {raw['msgs_per_s']:,.0f} msg/s end to end, "
            f"{raw['cpu_us_per_msg']:.1f} us CPU per message (produce + publish ack + deliver + ack; "
            "no Locust, no event log)"
        )
        for total in TOTAL_RATES:
            figures = locust_run(ws_base, total, Path(tmp), emulator_pid)
            held = "held" if abs(figures["send_ratio"] - 1) <= 0.01 else "NOT held"
            ratio = figures["cpu_us_per_msg"] / raw["cpu_us_per_msg"]
            print(
                f"locust offered {total:>6,} msg/s: sent {figures['send_ratio']:.3f} of schedule ({held} within 1%), "
                f"delivered {figures['delivered_per_s']:>7,.0f} msg/s at "
                f"{figures['cpu_us_per_msg']:.1f} us CPU per message = {ratio:.2f}x raw; "
                f"locust cpu {figures['locust_cpu_mean']:.0f}%, lag p99 {figures['lag_p99_ms']:.1f} ms, "
                f"emulator cpu {figures['emulator_cpu']:.0f}%, drained {figures['drained']}"
            )


if __name__ == "__main__":
    main()
