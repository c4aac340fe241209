"""A cheap WebSocket load client for the emulator benchmark: raw asyncio streams, pre-masked frames.

Run as ``python -m tests.bench.wsclient --port P --seconds S [--rate R]``; prints one JSON line.
Producers keep a window of publishes in flight (or send at a fixed rate), consumers ack every
message at once. Client frames use the all-zero mask key (valid per RFC 6455), so sending costs a
header and a concatenation; received frames are split by their length fields, and the message id
and send timestamp are found by substring search, so the client stays far from being the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import resource
import statistics
import sys
import time

import orjson

PRODUCERS = CONSUMERS = 4
WINDOW = 300
PAYLOAD = base64.b64encode(b"x" * 100)
PRODUCER_PATH = "/ws/v2/producer/persistent/public/default/bench"
CONSUMER_PATH = "/ws/v2/consumer/persistent/public/default/bench/sub?subscriptionType=Shared&receiverQueueSize=1000"


def client_frame(payload: bytes) -> bytes:
    """A masked text frame with mask key 0, so the payload goes as is."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, 0x80 | size)) + b"\0\0\0\0" + payload
    return bytes((0x81, 0x80 | 126)) + size.to_bytes(2, "big") + b"\0\0\0\0" + payload


class FrameSplitter:
    """Server frames (unmasked) out of a byte stream."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        buf = self.buffer + data
        out = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            size = buf[pos + 1] & 0x7F
            head = 2
            if size == 126:
                if end - pos < 4:
                    break
                size, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif size == 127:
                if end - pos < 10:
                    break
                size, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if end - pos < head + size:
                break
            out.append(buf[pos + head : pos + head + size])
            pos += head + size
        self.buffer = buf[pos:]
        return out


async def connect(port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    writer.write(request.encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(f"handshake refused: {head[:80]!r}")
    return reader, writer


class Stats:
    def __init__(self) -> None:
        self.delivered = 0
        self.acked_publishes = 0
        self.latencies_ns: list[int] = []
        self.sample_every = 7


async def producer(port: int, stop: asyncio.Event, stats: Stats, rate: float) -> None:
    reader, writer = await connect(port, PRODUCER_PATH)
    splitter = FrameSplitter()
    in_flight = 0
    prefix = b'{"payload":"' + PAYLOAD + b'","properties":{"ts":"'

    async def read_acks() -> None:
        nonlocal in_flight
        while True:
            data = await reader.read(65536)
            if not data:
                return
            count = len(splitter.feed(data))
            in_flight -= count
            stats.acked_publishes += count

    acks = asyncio.create_task(read_acks())
    interval = 0.002
    per_tick = rate * interval if rate else 0.0
    owed = 0.0
    try:
        while not stop.is_set():
            if rate:
                owed += per_tick
                count = int(owed)
                owed -= count
            else:
                count = WINDOW - in_flight
            if count > 0:
                now = b"%d" % time.monotonic_ns()
                writer.write(b"".join(client_frame(prefix + now + b'"}}') for _ in range(count)))
                in_flight += count
            await asyncio.sleep(interval if rate else 0)
            if not rate and in_flight >= WINDOW:
                await asyncio.sleep(0.0005)
    finally:
        acks.cancel()
        writer.close()


async def consumer(port: int, stats: Stats, ready: asyncio.Event) -> None:
    reader, writer = await connect(port, CONSUMER_PATH)
    ready.set()
    splitter = FrameSplitter()
    sample = 0
    while True:
        data = await reader.read(262144)
        if not data:
            return
        acks = []
        now = time.monotonic_ns()
        for frame in splitter.feed(data):
            start = frame.find(b'"messageId":"') + 13
            message_id = frame[start : frame.find(b'"', start)]
            acks.append(client_frame(b'{"messageId":"' + message_id + b'"}'))
            sample += 1
            if sample % stats.sample_every == 0:
                ts = frame.find(b'"ts":"') + 6
                stats.latencies_ns.append(now - int(frame[ts : frame.find(b'"', ts)]))
        stats.delivered += len(acks)
        writer.write(b"".join(acks))


async def run(port: int, seconds: float, warmup: float, rate: float) -> dict[str, float]:
    stats = Stats()
    stop = asyncio.Event()
    readies = [asyncio.Event() for _ in range(CONSUMERS)]
    consumers = [asyncio.create_task(consumer(port, stats, r)) for r in readies]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 10)
    await asyncio.sleep(0.2)  # the subscription exists before anything is published
    producers = [asyncio.create_task(producer(port, stop, stats, rate / PRODUCERS)) for _ in range(PRODUCERS)]
    await asyncio.sleep(warmup)
    stats.latencies_ns.clear()
    cpu0, t0, d0 = time.process_time(), time.monotonic(), stats.delivered
    await asyncio.sleep(seconds)
    cpu1, t1, d1 = time.process_time(), time.monotonic(), stats.delivered
    latencies = sorted(stats.latencies_ns)
    stop.set()
    await asyncio.sleep(0.05)
    for task in consumers + producers:
        task.cancel()
    p99 = latencies[int(len(latencies) * 0.99)] / 1e6 if latencies else float("nan")
    return {
        "msgs_per_s": (d1 - d0) / (t1 - t0),
        "p50_ms": statistics.median(latencies) / 1e6 if latencies else float("nan"),
        "p99_ms": p99,
        "client_cpu": (cpu1 - cpu0) / (t1 - t0),
        "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=0.0, help="total msg/s; 0 = as fast as acks allow")
    args = parser.parse_args()
    result = asyncio.run(run(args.port, args.seconds, args.warmup, args.rate))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
