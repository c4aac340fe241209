"""The same Shared flow with the published pyC8 1.1.2, run in its own virtualenv (not the harness's).

C8Client is pointed at ``https://api-x@<host>:443`` by the URL-userinfo recipe; its WebSockets
go where ``/datacenter/local`` says. Prints one JSON line: which consumer got which message.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

import websocket
from c8 import C8Client

TOTAL = int(os.environ.get("MESSAGES", "40"))
DEADLINE_S = float(os.environ.get("DEADLINE_S", "20"))
STREAM, SUBSCRIPTION = "pyStream", "py-subscription"


def main() -> None:
    client: Any = C8Client(
        protocol="https",
        host="x@" + os.environ["EMULATOR_HOST"],
        port=443,
        geofabric="_system",
        apikey=os.environ["API_KEY"],
    )
    if not client.has_stream(STREAM):
        client.create_stream(STREAM)
    consumers = {
        name: client.subscribe(STREAM, subscription_name=SUBSCRIPTION, consumer_type="Shared") for name in ("c1", "c2")
    }
    producer = client.create_stream_producer(STREAM)
    results = []
    for i in range(TOTAL):
        producer.send(f"message {i}")
        results.append(json.loads(producer.recv())["result"])
    received: dict[str, list[str]] = {name: [] for name in consumers}
    deadline = time.monotonic() + DEADLINE_S
    for ws in consumers.values():
        ws.settimeout(0.1)
    while sum(map(len, received.values())) < TOTAL and time.monotonic() < deadline:
        for name, ws in consumers.items():
            try:
                message = json.loads(ws.recv())
            except websocket.WebSocketTimeoutException:
                continue
            received[name].append(base64.b64decode(message["payload"]).decode())
            ws.send(json.dumps({"messageId": message["messageId"]}))
    ok = results.count("ok")
    print(json.dumps({"received": received, "publishAcks": ok, "publishErrors": TOTAL - ok}))
    for ws in [*consumers.values(), producer]:
        ws.close()


if __name__ == "__main__":
    main()
