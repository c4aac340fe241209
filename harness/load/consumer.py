"""Consumers on one subscription: record every delivery, then ack or nack it.

Options model real consumers: a simulated processing time per message (a slow consumer: the
receive loop is busy meanwhile), an ack delay (acks go out later, receiving goes on), negative
acks with a probability, pull mode with permits, and churn (disconnect and reconnect every N s
while producing, so the endpoint must redeliver what the consumer held).
"""

from __future__ import annotations

from locust import task

import random
import time
from collections import deque

import gevent
import orjson
from gevent import Greenlet

from harness import wire
from harness.events import schema
from harness.load.runtime import Phase
from harness.load.stamp import Stamp, decoded_size, read_stamp
from harness.load.stats import ConsumerCounts
from harness.load.users import IDLE_POLL_S, StreamUser
from harness.targets.base import Endpoint
from harness.targets.connection import ConnectError, WsConnection

#: The HTTP status of a handshake refused because the subscription admits no further consumer.
CONSUMER_BUSY = 409


class Consumer(StreamUser):
    """Receives, records and acknowledges (or negatively acknowledges) every message it is given."""

    fixed_count = 0
    kind = "c"

    def on_start(self) -> None:
        super().on_start()
        settings = self.settings
        self.counts: ConsumerCounts = self.runtime.counters.consumer(self.actor)
        self.rng = random.Random()
        self.processing_s = settings.processing_ms / 1000.0
        self.ack_delay_s = settings.ack_delay_ms / 1000.0
        self.pending_acks: deque[tuple[float, WsConnection, str, str]] = deque()
        self.acker: Greenlet | None = None
        self.permit_batch = max(1, settings.permits // 2)
        self.unpermitted = 0  # deliveries since the last permit grant
        self.next_churn = 0.0
        run = self.runtime.run
        assert run is not None
        self.run_id = run.folder.run_id  # a message stamped with another run's id is a leftover

    def endpoint(self) -> Endpoint:
        target = self.runtime.target
        assert target is not None
        return target.consumer_endpoint(self.actor)

    def connect_detail(self) -> str:
        return self.settings.subscription_type

    def expected_refusal(self, exc: Exception) -> bool:
        """HTTP 409 "consumer busy": Exclusive and Failover subscriptions may turn a further consumer away."""
        return (
            isinstance(exc, ConnectError)
            and exc.status == CONSUMER_BUSY
            and self.settings.subscription_type in ("Exclusive", "Failover")
        )

    @task
    def consume(self) -> None:
        # The work happens in the receive greenlet; this loop keeps the socket open and churns it.
        runtime = self.runtime
        churn = self.settings.churn_interval
        while True:
            if runtime.phase is Phase.DONE or not self.connected():
                gevent.sleep(IDLE_POLL_S)
                continue
            now = time.perf_counter()
            if churn and runtime.phase is Phase.PRODUCING:
                if not self.next_churn:
                    self.next_churn = now + churn * self.rng.uniform(0.5, 1.0)  # staggered across consumers
                elif now >= self.next_churn:
                    self.next_churn = now + churn
                    self.drop_connection("churn", deliberate=True)
                    continue
            gevent.sleep(IDLE_POLL_S)

    def on_connected(self, conn: WsConnection) -> None:
        self.runtime.counters.consumers_connected += 1
        if self.settings.pull_mode:
            self.unpermitted = 0
            self.send_from_rx(conn, wire.encode_permit(self.settings.permits))

    def on_disconnected(self) -> str:
        self.runtime.counters.consumers_connected -= 1
        dropped = len(self.pending_acks)
        self.pending_acks.clear()  # their messages go back to the subscription
        return f"{dropped} acks not sent" if dropped else ""

    def on_stop(self) -> None:
        if self.acker is not None:
            self.wait_for_send()
            self.acker.kill(block=True, timeout=2)
        super().on_stop()

    def on_frame(self, conn: WsConnection, data: bytes) -> None:
        received_ns = conn.received_ns  # when the socket read returned, not when this frame's turn came
        frame = orjson.loads(data)  # the hot path reads the dict itself: no Message object per delivery
        message_id = frame["messageId"]
        payload = frame.get("payload") or ""
        redelivery = frame.get("redeliveryCount") or 0
        stamp = read_stamp(frame.get("properties") or {}, payload)
        size = decoded_size(payload)
        counts = self.counts
        counts.delivered += 1
        if redelivery:
            counts.redelivered += 1
        if self.settings.pull_mode:
            self.unpermitted += 1
            if self.unpermitted >= self.permit_batch and self.send_from_rx(conn, wire.encode_permit(self.unpermitted)):
                self.unpermitted = 0
        if not stamp.uid or stamp.run != self.run_id:
            self._settle_foreign(conn, message_id, stamp, redelivery, size, received_ns)
            return
        runtime = self.runtime
        runtime.record(
            schema.DELIVER,
            self.actor,
            uid=stamp.uid,
            msg_id=message_id,
            redelivery=redelivery,
            size=size,
            t_ns=received_ns,
        )
        runtime.counters.run_deliveries += 1
        latency_ms = None
        if stamp.sent_ns is not None:
            latency_ms = max(0.0, (received_ns - stamp.sent_ns) / 1e6)
            runtime.counters.e2e.add(latency_ms)
        self.fire("deliver", latency_ms, length=size)
        if self.settings.nack_probability and self.rng.random() < self.settings.nack_probability:
            if self.send_from_rx(conn, wire.encode_nack(message_id)):
                runtime.record(schema.NACK, self.actor, uid=stamp.uid, msg_id=message_id)
                counts.nacked += 1
            return
        if self.processing_s:
            gevent.sleep(self.processing_s)
        if self.ack_delay_s:
            self.pending_acks.append((time.perf_counter() + self.ack_delay_s, conn, message_id, stamp.uid))
            if self.acker is None or self.acker.dead:
                self.acker = gevent.spawn(self._ack_later)
            return
        self._ack(conn, message_id, stamp.uid)

    def _settle_foreign(
        self, conn: WsConnection, message_id: str, stamp: Stamp, redelivery: int, size: int, received_ns: int
    ) -> None:
        """A message this run did not send (an earlier run's leftover, or no stamp at all): log it, ack it.

        Its delivery row has no uid (the checker counts it as unexpected) and its detail says what
        the message was; it is acknowledged at once so the subscription lets go of it, and it never
        counts toward this run's drain or latency.
        """
        if stamp.uid:
            detail = f"not sent by this run: run {stamp.run or '(none)'}, uid {stamp.uid}"
        else:
            detail = "message has no uid"
        self.runtime.record(
            schema.DELIVER,
            self.actor,
            msg_id=message_id,
            redelivery=redelivery,
            size=size,
            detail=detail,
            t_ns=received_ns,
        )
        self._ack(conn, message_id, "")

    def _ack(self, conn: WsConnection, message_id: str, uid: str) -> None:
        if not self.send_from_rx(conn, wire.encode_ack(message_id)):
            return  # the socket closed meanwhile: the endpoint redelivers the message to someone
        self.runtime.record(schema.ACK, self.actor, uid=uid, msg_id=message_id)
        self.counts.acked += 1
        if uid:
            self.runtime.counters.seqs.ack(uid)

    def _ack_later(self) -> None:
        """Send delayed acks when due; an ack for a socket that has since closed is dropped."""
        while self.pending_acks:
            due, conn, message_id, uid = self.pending_acks[0]
            wait = due - time.perf_counter()
            if wait > 0:
                gevent.sleep(wait)
                continue
            self.pending_acks.popleft()
            if conn is not self.conn or conn.closed:
                continue
            try:
                self._ack(conn, message_id, uid)
            except Exception as exc:  # noqa: BLE001 - counted as a Locust failure, never silent
                self.fire("ack", None, exception=exc)
