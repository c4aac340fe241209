"""Emulator throughput, added latency and memory per backlogged message, against a same-run baseline.

Layout: the server (emulator, or the minimal aiohttp forwarder as the ceiling of this stack) is
pinned to CPU 0 with taskset; one raw-socket client process (4 producers, 4 Shared consumers,
100-byte payloads) to CPU 1. Throughput is publish + deliver + ack per second with a window of
publishes in flight; latency is send-to-delivery at a fixed moderate rate. Each figure is the
median of REPEATS runs. Memory: a fresh process holds 1,000,000 backlogged 100-byte messages in
the broker core (stored exactly as the server stores them); RSS growth per message is printed.
Targets: >= 25,000 msg/s; < 400 B per backlogged message.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import orjson

from harness.targets.emulator import EmulatorProcess

ROOT = Path(__file__).resolve().parents[2]
REPEATS = 3
SECONDS = 4.0
LATENCY_RATE = 4000.0  # msg/s in total, well under both ceilings
TARGET_RATE, TARGET_BYTES = 25_000, 400


def _pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") else []


def _server(kind: str) -> EmulatorProcess:
    process = EmulatorProcess()
    if kind == "forwarder":
        process.command = [sys.executable, "-m", "tests.bench.forwarder"]
    process.command = _pin(0) + process.command
    return process


def _client(url: str, rate: float) -> dict[str, float]:
    port = url.rsplit(":", 1)[1]
    command = [*_pin(1), sys.executable, "-m", "tests.bench.wsclient", "--port", port, "--seconds", str(SECONDS)]
    if rate:
        command += ["--rate", str(rate)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT, check=True)
    result: dict[str, float] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


def _measure(kind: str, rate: float) -> dict[str, float]:
    server = _server(kind)
    server.start()
    try:
        return _client(server.url, rate)
    finally:
        server.stop()


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


MEMORY_PROBE = r"""
import gc, resource
from harness.emulator.config import ConsumerOptions
from harness.emulator.core import Broker
from harness.emulator.frames import parse_publish
from harness.wire import Topic
N = 1_000_000
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()
now = [1.8e9]
broker = Broker(lambda: now[0])
topic = Topic("public", "default", "memory")
broker.close_consumer(broker.subscribe(topic, "sub", ConsumerOptions(kind="Shared")).id)
frames = [b'{"payload":"%s","properties":{"sh-uid":"w0-p%d/%d"}}' % (b"eA" * 68, i % 4, i) for i in range(1000)]
gc.collect()
before = rss()
for i in range(N):
    now[0] = 1.8e9 + i / 1000
    parsed = parse_publish(frames[i % 1000])
    broker.publish(topic, parsed.fragment, parsed.key)
gc.collect()
after = rss()
print((after - before) / N, broker.topics[topic].subscriptions["sub"].backlog)
"""


def main() -> None:
    runs: dict[str, list[dict[str, float]]] = {"emulator": [], "forwarder": []}
    for _ in range(REPEATS):  # interleaved, so both see the same background noise
        for kind in runs:
            runs[kind].append(_measure(kind, 0.0))
    latency: dict[str, list[dict[str, float]]] = {kind: [_measure(kind, LATENCY_RATE)] for kind in runs}
    emu, fwd = _median(runs["emulator"], "msgs_per_s"), _median(runs["forwarder"], "msgs_per_s")
    print(
        f"throughput (publish+deliver+ack, 4 producers, 4 Shared consumers, 100 B, server on 1 core): "
        f"emulator {emu:,.0f} msg/s, forwarder {fwd:,.0f} msg/s, ratio {emu / fwd:.2f} "
        f"(median of {REPEATS}; target >= {TARGET_RATE:,}: {'met' if emu >= TARGET_RATE else 'NOT met'})"
    )
    print(
        f"client CPU share during the emulator runs: {_median(runs['emulator'], 'client_cpu'):.0%} of its core "
        f"(below 100%: the client is not the bottleneck)"
    )
    e99, f99 = latency["emulator"][0]["p99_ms"], latency["forwarder"][0]["p99_ms"]
    e50, f50 = latency["emulator"][0]["p50_ms"], latency["forwarder"][0]["p50_ms"]
    print(
        f"latency at {LATENCY_RATE:,.0f} msg/s, send to delivery: emulator p50 {e50:.2f} ms p99 {e99:.2f} ms; "
        f"forwarder p50 {f50:.2f} ms p99 {f99:.2f} ms; the emulator adds {e99 - f99:+.2f} ms at p99"
    )
    probe = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE], capture_output=True, text=True, timeout=120, cwd=ROOT, check=True
    )
    per_message, backlog = float(probe.stdout.split()[0]), int(probe.stdout.split()[1])
    verdict = "met" if per_message < TARGET_BYTES else "NOT met"
    print(
        f"memory: {per_message:.0f} B resident per backlogged 100-byte message "
        f"({backlog:,} held; target < {TARGET_BYTES} B: {verdict})"
    )


if __name__ == "__main__":
    main()
