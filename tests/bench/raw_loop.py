"""The floor of what the stack costs: websocket-client under gevent, no Locust, no event log.

PRODUCERS producer sockets and CONSUMERS Shared consumer sockets exchange the same frames the
harness does (publish with the stamp properties, publish ack, delivery, ack) as fast as the
endpoint allows, each producer with at most WINDOW publishes unacknowledged. Prints one JSON
line: delivered messages per second and CPU microseconds per delivered message.

python -m tests.bench.raw_loop WS_BASE_URL SECONDS
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import base64  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
import orjson  # noqa: E402
import websocket  # noqa: E402
from gevent.lock import BoundedSemaphore  # noqa: E402

WINDOW = 200
PRODUCERS = 4
CONSUMERS = 2
TOPIC = "persistent/public/default/rawloop"


def main(base: str, seconds: float) -> None:
    consumers = [
        websocket.create_connection(
            f"{base}/ws/v2/consumer/{TOPIC}/raw?subscriptionType=Shared&receiverQueueSize=1000",
            skip_utf8_validation=True,
        )
        for _ in range(CONSUMERS)
    ]
    producers = [
        websocket.create_connection(f"{base}/ws/v2/producer/{TOPIC}", skip_utf8_validation=True)
        for _ in range(PRODUCERS)
    ]
    payload = base64.b64encode(b"x" * 100).decode()
    counts = {"delivered": 0}
    stop_at = time.perf_counter() + seconds + 1.0

    def produce(index: int, producer: websocket.WebSocket, window: BoundedSemaphore) -> None:
        seq = 0
        while time.perf_counter() < stop_at:
            window.acquire()
            now = time.time_ns()
            uid = f"raw-p{index}/{seq}"
            properties = {"sh-uid": uid, "sh-sent-ns": str(now), "sh-intended-ns": str(now)}
            producer.send(orjson.dumps({"payload": payload, "properties": properties, "context": str(seq)}))
            seq += 1

    def read_acks(producer: websocket.WebSocket, window: BoundedSemaphore) -> None:
        while True:
            _, data = producer.recv_data()
            orjson.loads(data)
            window.release()

    def consume(consumer: websocket.WebSocket) -> None:
        while True:
            _, data = consumer.recv_data()
            message = orjson.loads(data)
            consumer.send(orjson.dumps({"messageId": message["messageId"]}))
            counts["delivered"] += 1

    workers = [gevent.spawn(consume, c) for c in consumers]
    for index, producer in enumerate(producers):
        window = BoundedSemaphore(WINDOW)
        workers += [gevent.spawn(produce, index, producer, window), gevent.spawn(read_acks, producer, window)]
    gevent.sleep(1.0)  # warm-up
    start_count, start, start_cpu = counts["delivered"], time.perf_counter(), time.process_time()
    gevent.sleep(seconds)
    delivered = counts["delivered"] - start_count
    elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    gevent.killall(workers, timeout=2)
    for ws in producers + consumers:
        ws.close()
    print(json.dumps({"msgs_per_s": delivered / elapsed, "cpu_us_per_msg": 1e6 * cpu / max(1, delivered)}))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
