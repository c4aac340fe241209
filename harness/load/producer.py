"""Producers: open-model pacing on an absolute schedule, each message stamped with its uid.

A producer sends message ``seq`` when the schedule says, whatever happened before (catching up
after a stall), and matches publish answers to sends by ``context`` (its ``seq``). Sends still
without an answer when the session ends stay in the log without one: the checker calls them
indeterminate, and the disconnect row says how many there were.
"""

from __future__ import annotations

from locust import task

import math
import time
import zlib

import gevent

from harness.drivers.base import OutgoingMessage, ProducerSession, Published, PublishOutcome, Session
from harness.events import schema
from harness.load.pacing import Schedule
from harness.load.phases import Phase
from harness.load.stamp import PayloadSource, stamp_properties
from harness.load.users import IDLE_POLL_S, StreamUser

#: Shortest sleep between sends: above ~1,000 msg/s per producer, each wake-up sends every message
#: due by then (at most this late) instead of paying a timer and a switch per message.
MIN_SLEEP_S = 0.001
#: Sends a producer that is behind makes back to back before it lets the other greenlets run: a
#: socket that never fills never yields, and a generator that cannot keep up would otherwise starve
#: the publish acks, the status reports and the controller, so the run never ended.
SENDS_PER_YIELD = 64
#: The properties of a message whose stamp is in its payload header.
NO_PROPERTIES: dict[str, str] = {}


class PublishRefused(Exception):
    """The endpoint answered a publish with an error (the WebSocket proxy's ``send-error``)."""


class Producer(StreamUser):
    """Sends messages at the stage's rate per second, stamped with a uid and its send times."""

    fixed_count = 0
    kind = "p"

    def on_start(self) -> None:
        super().on_start()
        if self.refused:
            return
        settings = self.settings
        self.payloads = PayloadSource(settings.payload, settings.size, seed=zlib.crc32(self.actor.encode()))
        self.header_stamp = settings.stamp == "header"
        self.keys = settings.keys
        self.schedule: Schedule | None = None
        self.seq = 0
        self.awaiting: dict[int, tuple[str, float]] = {}  # seq (the context) -> (uid, perf_counter at send)
        # sends due before this (perf_counter) make up for a socket that was down: late because of the
        # endpoint, not a slow generator; inf while cut off, set when the socket is back
        self.back_at = -math.inf
        run = self.runtime.run
        assert run is not None
        self.run_id = run.folder.run_id  # stamped into every message, with its uid

    def open_session(self) -> ProducerSession:
        return self.driver.open_producer(self.actor, self)

    @task
    def produce(self) -> None:
        if self.idle_while_refused():
            return
        runtime = self.runtime
        back_to_back = 0
        while True:
            if runtime.phase is not Phase.PRODUCING:
                self.schedule = None  # the next stage starts its own schedule
                if runtime.phase in (Phase.WAITING, Phase.DRAINING):
                    # open the socket before producing starts (no connect storm then); while draining,
                    # reconnect too, so a producer cut off is seen back (or still cut off) like a consumer
                    self.connected()
                gevent.sleep(IDLE_POLL_S)
                continue
            if not self.connected():
                continue
            now = time.perf_counter()
            schedule = self.schedule
            if schedule is None:
                schedule = self.schedule = Schedule(runtime.rate, now, self.seq)
            elif schedule.rate != runtime.rate:
                schedule = self.schedule = schedule.retimed(runtime.rate, self.seq, now)
            delay = schedule.wait(self.seq, now)
            if delay > 0:
                back_to_back = 0
                gevent.sleep(max(delay, MIN_SLEEP_S))
                continue
            self._send_next(schedule, now)
            back_to_back += 1
            if back_to_back >= SENDS_PER_YIELD:
                back_to_back = 0
                gevent.sleep(0)

    def _send_next(self, schedule: Schedule, now: float) -> None:
        runtime = self.runtime
        session, run = self.session, runtime.run
        assert isinstance(session, ProducerSession) and run is not None
        seq = self.seq
        self.seq = seq + 1
        uid = f"{self.actor}/{seq}"
        lag_ms = schedule.lag(seq, now) * 1000.0
        intended_ns = run.anchor.wall_ns_at(schedule.due(seq))
        sent_ns = time.time_ns()
        key = f"k{seq % self.keys}" if self.keys else None
        if self.header_stamp:
            payload = self.payloads.with_header_raw(seq, self.run_id, uid, intended_ns, sent_ns)
            message = OutgoingMessage(seq, payload, NO_PROPERTIES, key)
            size = len(payload)
        else:
            properties = stamp_properties(self.run_id, uid, intended_ns, sent_ns)
            payload = self.payloads.raw(seq)  # a shared body: the driver may keep its encoding
            message = OutgoingMessage(seq, payload, properties, key)
            size = self.payloads.size
        self.awaiting[seq] = (uid, now)
        counters = runtime.counters
        counters.sent += 1
        counters.awaiting_publish_ack += 1
        # the burst that makes up for a reconnect's gap is late by the gap, not by a slow generator;
        # what was due after the reconnect counts as the generator's own lag, even while the burst goes
        runtime.monitor.add_send(lag_ms, catch_up=schedule.due(seq) < self.back_at)
        runtime.record(schema.SEND, self.actor, uid=uid, intended_ns=intended_ns, size=size, t_ns=sent_ns)
        try:
            session.send(message)
        except Exception as exc:  # noqa: BLE001 - the session broke (SessionClosed); the send stays indeterminate
            self.fire("send", 0.0, exception=exc)
            self.drop_session(f"send failed: {exc}")
        # A successful send fires no request event: "publish" counts it once acknowledged, and the
        # schedule lag it would report is in run.json's generator record (one event less per message).

    def on_outcome(self, outcome: PublishOutcome) -> None:
        pending = self.awaiting.pop(outcome.context, None)
        if pending is None:
            context = str(outcome.context)
            self.runtime.record(schema.ERROR, self.actor, detail=f"publish ack for unknown context {context!r}")
            return
        uid, sent_at = pending
        counters = self.runtime.counters
        counters.awaiting_publish_ack -= 1
        ms = (time.perf_counter() - sent_at) * 1000.0
        if isinstance(outcome, Published):
            counters.published += 1
            counters.seqs.publish(self.actor, outcome.context)
            self.runtime.record(schema.PUBLISH_OK, self.actor, uid=uid, msg_id=outcome.message_id, t_ns=outcome.at_ns)
            self.fire("publish", ms)
        else:
            counters.publish_errors += 1
            self.runtime.record(schema.PUBLISH_ERR, self.actor, uid=uid, detail=outcome.error)
            self.fire("publish", ms, exception=PublishRefused(outcome.error))

    def unanswered_since(self) -> float | None:
        """When (perf_counter) the oldest send still without a publish answer went out; None if none waits."""
        return next(iter(self.awaiting.values()))[1] if self.awaiting else None

    def on_connected(self, session: Session) -> None:
        """Back after a cut: what was due until now makes up for the gap, what is due next is on schedule."""
        if self.back_at == math.inf:
            self.back_at = time.perf_counter()

    def on_disconnected(self) -> str:
        self.back_at = math.inf
        unacked = len(self.awaiting)
        self.runtime.counters.awaiting_publish_ack -= unacked
        self.awaiting.clear()
        return f"{unacked} sends without a publish ack (indeterminate)" if unacked else ""
