"""The floor of what the stack costs: websocket-client under gevent, no Locust, no event log.

One producer socket and one Shared consumer socket exchange the same frames the harness does
(publish with the stamp properties, publish ack, delivery, ack) as fast as the endpoint allows,
with at most WINDOW publishes unacknowledged. Prints one JSON line: delivered messages per second.

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

WINDOW = 500
TOPIC = "persistent/public/default/rawloop"


def main(base: str, seconds: float) -> None:
    consumer = websocket.create_connection(
        f"{base}/ws/v2/consumer/{TOPIC}/raw?subscriptionType=Shared&receiverQueueSize=1000",
        skip_utf8_validation=True,
    )
    producer = websocket.create_connection(f"{base}/ws/v2/producer/{TOPIC}", skip_utf8_validation=True)
    payload = base64.b64encode(b"x" * 100).decode()
    window = BoundedSemaphore(WINDOW)
    counts = {"delivered": 0}
    stop_at = time.perf_counter() + seconds + 1.0

    def produce() -> None:
        seq = 0
        while time.perf_counter() < stop_at:
            window.acquire()
            now = time.time_ns()
            properties = {"sh-uid": f"raw-p1/{seq}", "sh-sent-ns": str(now), "sh-intended-ns": str(now)}
            producer.send(orjson.dumps({"payload": payload, "properties": properties, "context": str(seq)}))
            seq += 1

    def read_acks() -> None:
        while True:
            _, data = producer.recv_data()
            orjson.loads(data)
            window.release()

    def consume() -> None:
        while True:
            _, data = consumer.recv_data()
            message = orjson.loads(data)
            consumer.send(orjson.dumps({"messageId": message["messageId"]}))
            counts["delivered"] += 1

    workers = [gevent.spawn(produce), gevent.spawn(read_acks), gevent.spawn(consume)]
    gevent.sleep(1.0)  # warm-up
    start_count, start = counts["delivered"], time.perf_counter()
    gevent.sleep(seconds)
    delivered, elapsed = counts["delivered"] - start_count, time.perf_counter() - start
    gevent.killall(workers, timeout=2)
    cpu = time.process_time()
    producer.close()
    consumer.close()
    print(json.dumps({"msgs_per_s": delivered / elapsed, "cpu_s": cpu}))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
