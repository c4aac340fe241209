"""The ceiling of the native stack: the official pulsar-client alone, no Locust, no gevent, no event log.

PRODUCERS producers (batching off, send_async) and CONSUMERS Shared consumers with a message listener
that reads the stamp properties and acks, all on one ``pulsar.Client``, exchange 100-byte messages
carrying the same stamp properties the harness sends. The offered total rate climbs a ladder of
stages, each paced on an absolute schedule from its start (as the Locust producers are), so the
highest rate held here is found by the same rule as the Locust runs it is compared with, and CPU per
message can be compared at an equal offered rate (CPU per message falls with rate while fixed
costs are spread, and rises once the process saturates: flat-out figures would compare unlike
loads). The climb stops after MAX_FAILED_IN_A_ROW stages in a row miss the rule.

Prints one JSON line: ``{"stages": [{rate, start_ns, end_ns, seconds, scheduled, sent, published,
delivered, cpu_s, peer_cpu_s}, ...]}``. CPU is the whole process's (psutil user + system: the client's C++ I/O and
listener threads too); ``peer_cpu_s`` is the broker's, when its PID is given.

python -m tests.bench.raw_native_loop SERVICE_URL RATE[,RATE...] STAGE_SECONDS [BROKER_PID]
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import psutil
import pulsar

PRODUCERS = 10
CONSUMERS = 4
SIZE = 100
WARM_UP_S = 1.0
MAX_FAILED_IN_A_ROW = 2
TICK_S = 0.0005
HELD = 0.99  # sent of schedule, published of sent, delivered of sent
USAGE = "python -m tests.bench.raw_native_loop SERVICE_URL RATE[,RATE...] STAGE_SECONDS [BROKER_PID]"


class Counters:
    """Each counter has one writer thread (published: the I/O thread; delivered: the listener thread)."""

    def __init__(self) -> None:
        self.published = 0
        self.refused = 0
        self.delivered = 0


def stage_held(stage: dict[str, Any]) -> bool:
    scheduled = stage["scheduled"]
    sent = max(1, stage["sent"])
    return bool(
        stage["sent"] >= HELD * scheduled and stage["published"] >= HELD * sent and stage["delivered"] >= HELD * sent
    )


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def main(service_url: str, rates: list[float], stage_seconds: float, peer_pid: int) -> None:
    counts = Counters()
    topic = f"persistent://public/default/rawnative-{os.getpid()}-{time.time_ns()}"
    # a C++ logger (no Python logger: one would take the GIL for every log line of every level)
    client = pulsar.Client(
        service_url, operation_timeout_seconds=10, logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn)
    )

    def on_message(consumer: pulsar.Consumer, message: pulsar.Message) -> None:
        message.properties()  # the stamp, as a consumer must read it
        consumer.acknowledge(message)
        counts.delivered += 1

    def on_published(result: pulsar.Result, _message_id: pulsar.MessageId) -> None:
        if result == pulsar.Result.Ok:
            counts.published += 1
        else:
            counts.refused += 1

    consumers = [
        client.subscribe(
            topic,
            "raw",
            consumer_type=pulsar.ConsumerType.Shared,
            message_listener=on_message,
            receiver_queue_size=1000,
            consumer_name=f"raw-c{i}",
        )
        for i in range(CONSUMERS)
    ]
    producers = [
        client.create_producer(topic, batching_enabled=False, block_if_queue_full=True, producer_name=f"raw-p{i}")
        for i in range(PRODUCERS)
    ]
    payload = b"x" * SIZE
    seqs = [0] * PRODUCERS
    me = psutil.Process()
    peer = psutil.Process(peer_pid) if peer_pid else None

    def run_stage(rate: float, seconds: float) -> int:
        """Send on schedule for ``seconds``; returns how many went out within the stage."""
        start = time.perf_counter()
        end = start + seconds
        start_ns = time.time_ns()
        sent = 0
        turn = 0
        while (now := time.perf_counter()) < end:
            due = min(int((now - start) * rate), int(rate * seconds))
            while sent < due:
                index = turn % PRODUCERS
                turn += 1
                seq = seqs[index]
                seqs[index] = seq + 1
                intended = start_ns + int(sent * 1e9 / rate)
                properties = {
                    "sh-run": "raw",
                    "sh-uid": f"raw-p{index}/{seq}",
                    "sh-intended-ns": str(intended),
                    "sh-sent-ns": str(time.time_ns()),
                }
                producers[index].send_async(payload, on_published, properties=properties)
                sent += 1
            time.sleep(TICK_S)
        return sent

    run_stage(rates[0], WARM_UP_S)
    time.sleep(0.2)
    stages: list[dict[str, Any]] = []
    failed_in_a_row = 0
    for rate in rates:
        published, delivered, cpu = counts.published, counts.delivered, cpu_seconds(me)
        peer_cpu = cpu_seconds(peer) if peer else 0.0
        wall, start_ns = time.perf_counter(), time.time_ns()
        sent = run_stage(rate, stage_seconds)
        stage = {
            "rate": rate,
            "start_ns": start_ns,
            "end_ns": time.time_ns(),
            "seconds": time.perf_counter() - wall,
            "scheduled": int(rate * stage_seconds),
            "sent": sent,
            "published": counts.published - published,
            "delivered": counts.delivered - delivered,
            "cpu_s": cpu_seconds(me) - cpu,
            "peer_cpu_s": (cpu_seconds(peer) - peer_cpu) if peer else 0.0,
        }
        stages.append(stage)
        failed_in_a_row = 0 if stage_held(stage) else failed_in_a_row + 1
        if failed_in_a_row >= MAX_FAILED_IN_A_ROW:
            break
    for producer in producers:
        producer.close()
    for consumer in consumers:
        consumer.close()
    client.close()
    print(json.dumps({"stages": stages, "refused": counts.refused}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        print(f"usage: {USAGE}", file=sys.stderr)
        raise SystemExit(2)
    try:
        rates = [float(r) for r in sys.argv[2].split(",")]
        stage_seconds, peer_pid = float(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) == 5 else 0
    except ValueError as exc:
        print(f"raw_native_loop: {exc}; usage: {USAGE}", file=sys.stderr)
        raise SystemExit(2) from None
    main(sys.argv[1], rates, stage_seconds, peer_pid)
