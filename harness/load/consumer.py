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
from gevent import Greenlet

from harness.drivers.base import ConsumerSession, Delivery, Session
from harness.events import schema
from harness.load.phases import Phase
from harness.load.stats import ConsumerCounts
from harness.load.users import IDLE_POLL_S, StreamUser

#: Longest wait for an ack being sent by the ack greenlet before that greenlet is killed anyway.
ACK_WAIT_S = 1.0


class Consumer(StreamUser):
    """Receives, records and acknowledges (or negatively acknowledges) every message it is given."""

    fixed_count = 0
    kind = "c"

    def on_start(self) -> None:
        super().on_start()
        if self.refused:
            return
        settings = self.settings
        self.counts: ConsumerCounts = self.runtime.counters.consumer(self.actor)
        self.rng = random.Random()
        self.processing_s = settings.processing_ms / 1000.0
        self.ack_delay_s = settings.ack_delay_ms / 1000.0
        self.pending_acks: deque[tuple[float, ConsumerSession, Delivery, str]] = deque()
        self.acker: Greenlet | None = None
        self._acking = False  # the ack greenlet is sending: not a moment to kill it
        self._current: ConsumerSession | None = None  # the session last opened (acks go out on it while it closes)
        self.permit_batch = max(1, settings.permits // 2)
        self.unpermitted = 0  # deliveries since the last permit grant
        self.next_churn = 0.0
        run = self.runtime.run
        assert run is not None
        self.run_id = run.folder.run_id  # a message stamped with another run's id is a leftover

    def open_session(self) -> ConsumerSession:
        session = self.driver.open_consumer(self.actor, self)  # no delivery comes before it returns
        self._current = session
        return session

    def connect_detail(self) -> str:
        return self.settings.subscription_type

    @task
    def consume(self) -> None:
        if self.idle_while_refused():
            return
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
                    self.drop_session("churn", deliberate=True)
                    continue
            gevent.sleep(IDLE_POLL_S)

    def on_connected(self, session: Session) -> None:
        self.runtime.counters.consumers_connected += 1
        if self.settings.pull_mode:
            assert isinstance(session, ConsumerSession)
            self.unpermitted = 0
            session.permit(self.settings.permits)

    def on_disconnected(self) -> str:
        self.runtime.counters.consumers_connected -= 1
        dropped = len(self.pending_acks)
        self.pending_acks.clear()  # their messages go back to the subscription
        return f"{dropped} acks not sent" if dropped else ""

    def on_stop(self) -> None:
        if not self.refused and self.acker is not None:
            deadline = time.perf_counter() + ACK_WAIT_S  # an ack is sent whole and recorded, or not at all
            while self._acking and time.perf_counter() < deadline:
                gevent.sleep(0.001)
            self.acker.kill(block=True, timeout=2)
        super().on_stop()

    def on_delivery(self, delivery: Delivery) -> None:
        session = self._current
        if session is None:
            raise RuntimeError("a delivery before this consumer's session opened")  # reported by the session
        counts = self.counts
        counts.delivered += 1
        redelivery = delivery.redelivery
        if redelivery:
            counts.redelivered += 1
        if self.settings.pull_mode:
            self.unpermitted += 1
            if self.unpermitted >= self.permit_batch and session.permit(self.unpermitted):
                self.unpermitted = 0
        stamp = delivery.stamp
        if not stamp.uid or stamp.run != self.run_id:
            self._settle_foreign(session, delivery)
            return
        runtime = self.runtime
        received_ns = delivery.received_ns  # when the bytes arrived, not when this delivery's turn came
        runtime.record(
            schema.DELIVER,
            self.actor,
            uid=stamp.uid,
            msg_id=delivery.message_id,
            redelivery=redelivery,
            size=delivery.size,
            t_ns=received_ns,
        )
        runtime.counters.run_deliveries += 1
        latency_ms = None
        if stamp.sent_ns is not None:
            latency_ms = max(0.0, (received_ns - stamp.sent_ns) / 1e6)
            runtime.counters.e2e.add(latency_ms)
        self.fire("deliver", latency_ms, length=delivery.size)
        if self.settings.nack_probability and self.rng.random() < self.settings.nack_probability:
            if session.nack(delivery):
                runtime.record(schema.NACK, self.actor, uid=stamp.uid, msg_id=delivery.message_id)
                counts.nacked += 1
            return
        if self.processing_s:
            gevent.sleep(self.processing_s)
        if self.ack_delay_s:
            self.pending_acks.append((time.perf_counter() + self.ack_delay_s, session, delivery, stamp.uid))
            if self.acker is None or self.acker.dead:
                self.acker = gevent.spawn(self._ack_later)
            return
        self._ack(session, delivery, stamp.uid)

    def _settle_foreign(self, session: ConsumerSession, delivery: Delivery) -> None:
        """A message this run did not send (an earlier run's leftover, or no stamp at all): log it, ack it.

        Its delivery row has no uid (the checker counts it as unexpected) and its detail says what
        the message was; it is acknowledged at once so the subscription lets go of it, and it never
        counts toward this run's drain or latency.
        """
        stamp = delivery.stamp
        if stamp.uid:
            detail = f"not sent by this run: run {stamp.run or '(none)'}, uid {stamp.uid}"
        else:
            detail = "message has no uid"
        self.runtime.record(
            schema.DELIVER,
            self.actor,
            msg_id=delivery.message_id,
            redelivery=delivery.redelivery,
            size=delivery.size,
            detail=detail,
            t_ns=delivery.received_ns,
        )
        self._ack(session, delivery, "")

    def _ack(self, session: ConsumerSession, delivery: Delivery, uid: str) -> None:
        if not session.ack(delivery):
            return  # the session closed meanwhile: the endpoint redelivers the message to someone
        self.runtime.record(schema.ACK, self.actor, uid=uid, msg_id=delivery.message_id)
        self.counts.acked += 1
        if uid:
            self.runtime.counters.seqs.ack(uid)

    def _ack_later(self) -> None:
        """Send delayed acks when due; an ack for a session that has since closed is dropped."""
        while self.pending_acks:
            due, session, delivery, uid = self.pending_acks[0]
            wait = due - time.perf_counter()
            if wait > 0:
                gevent.sleep(wait)
                continue
            self.pending_acks.popleft()
            if session is not self.session or session.closed:
                continue
            self._acking = True
            try:
                self._ack(session, delivery, uid)
            except Exception as exc:  # noqa: BLE001 - counted as a Locust failure, never silent
                self.fire("ack", None, exception=exc)
            finally:
                self._acking = False
