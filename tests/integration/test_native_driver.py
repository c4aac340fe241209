"""The native driver against a real pulsar-lite broker, under gevent monkey-patching as Locust runs it.

Each scenario runs in a subprocess (``python -m tests.integration.test_native_driver SCENARIO ...``)
that patches the stdlib first, as Locust does; pytest itself stays unpatched (conftest). A scenario
prints one JSON line of facts; the tests assert on them. Every scenario also runs a ticker greenlet
that sleeps 10 ms at a time and reports its longest gap: the hub was never blocked longer than that.
"""

from __future__ import annotations

if __name__ == "__main__":  # patch before anything imports threading, as Locust does
    from gevent import monkey

    monkey.patch_all()

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import gevent.event
import pytest

from harness.drivers import Placement
from harness.drivers.base import (
    Closed,
    ConnectError,
    ConsumerSession,
    Delivery,
    OutgoingMessage,
    Published,
    PublishOutcome,
    SessionClosed,
)
from harness.load.stamp import stamp_properties
from harness.settings import LoadSettings
from harness.targets.base import NativeEndpoint
from harness.targets.pulsar_lite import LiteProcess
from tests.conftest import ROOT, timeout

pytestmark = pytest.mark.slow

#: The hub may stall this long at most while sessions open and close (a generous bound for a busy machine).
MAX_HUB_GAP_S = 0.5
RUN = "native-run"


# -- the scenario side (runs in the patched subprocess) -----------------------------------------------


class Ticker:
    """A greenlet that wakes every 10 ms and keeps the longest gap between wake-ups."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        last = time.perf_counter()
        while True:
            gevent.sleep(0.01)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last)
            last = now

    def stop(self) -> float:
        self._greenlet.kill()
        return self.longest


class Outcomes:
    """A producer listener that keeps every outcome and the close, if any."""

    def __init__(self) -> None:
        self.outcomes: list[PublishOutcome] = []
        self.closed: list[Closed] = []

    def on_outcome(self, outcome: PublishOutcome) -> None:
        self.outcomes.append(outcome)

    def on_closed(self, closed: Closed) -> None:
        self.closed.append(closed)

    def on_failure(self, what: str, exc: Exception) -> None:
        raise AssertionError(f"{what}: {exc}")  # the native producer session reports none


class Recorder:
    """A consumer listener: records each delivery, then acks, nacks (first delivery) or holds it."""

    def __init__(self, policy: str = "ack", nack_first: int = 0) -> None:
        self.policy = policy
        self.nack_first = nack_first  # nack the first delivery of messages with seq below this
        self.session: ConsumerSession | None = None
        self.rows: list[dict[str, Any]] = []
        self.held: list[Delivery] = []
        self.closed: list[Closed] = []
        self.failures: list[str] = []
        self.acks_refused = 0

    def on_delivery(self, delivery: Delivery) -> None:
        assert self.session is not None
        seq = int(delivery.stamp.uid.rsplit("/", 1)[1]) if delivery.stamp.uid else -1
        self.rows.append(
            {
                "uid": delivery.stamp.uid,
                "seq": seq,
                "run": delivery.stamp.run,
                "msg_id": delivery.message_id,
                "redelivery": delivery.redelivery,
                "key": delivery.key,
                "size": delivery.size,
                "received_ns": delivery.received_ns,
                "publish_ns": delivery.publish_ns,
                "handled_ns": time.time_ns(),
            }
        )
        if self.policy == "hold":
            self.held.append(delivery)
        elif seq < self.nack_first and delivery.redelivery == 0:
            self.session.nack(delivery)
        elif not self.session.ack(delivery):
            self.acks_refused += 1

    def on_closed(self, closed: Closed) -> None:
        self.closed.append(closed)

    def on_failure(self, what: str, exc: Exception) -> None:
        self.failures.append(f"{what}: {exc!r}")


def _settings(**changes: Any) -> LoadSettings:
    return dataclasses.replace(LoadSettings(), **changes)


def _endpoint(url: str, topic: str, distinct: bool = True) -> NativeEndpoint:
    return NativeEndpoint(
        service_url=url,
        topic=f"persistent://public/default/{topic}",
        subscription="sub",
        distinct_consumer_ids=distinct,
    )


def _message(seq: int, key: str | None = None, producer: str = "p0") -> OutgoingMessage:
    now = time.time_ns()
    properties = stamp_properties(RUN, f"{producer}/{seq}", now, now)
    return OutgoingMessage(context=seq, payload=b"x" * 100, properties=properties, key=key)


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        gevent.sleep(0.02)
    return condition()


def _open_consumer(driver: Any, actor: str, recorder: Recorder) -> ConsumerSession:
    session: ConsumerSession = driver.open_consumer(actor, recorder)
    recorder.session = session
    return session


def scenario_shared(url: str, topic: str, count: str) -> dict[str, Any]:
    """Two consumers on two drivers (process placements 0 and 1), one producer: exactly once, in order."""
    from harness.drivers.native import NativeDriver

    n = int(count)
    endpoint, settings = _endpoint(url, topic), _settings(receiver_queue_size=10)
    ticker = Ticker()
    drivers = [NativeDriver(endpoint, settings, Placement(i, 2)) for i in range(2)]
    recorders = [Recorder(), Recorder()]
    for i, (driver, recorder) in enumerate(zip(drivers, recorders, strict=True)):
        _open_consumer(driver, f"c{i}", recorder)
    outcomes = Outcomes()
    producer = drivers[0].open_producer("p0", outcomes)
    for seq in range(n):
        producer.send(_message(seq, key=f"k{seq % 3}"))
        if seq % 50 == 49:
            gevent.sleep(0)
    _wait(lambda: sum(len(r.rows) for r in recorders) >= n and len(outcomes.outcomes) >= n, 30)
    gevent.sleep(0.3)  # a duplicate would arrive now
    began = time.monotonic()
    producer.close()
    try:
        producer.send(_message(n))
        after_close = "sent"
    except SessionClosed:
        after_close = "SessionClosed"
    for driver in drivers:
        driver.close()
    return {
        "rows": [r.rows for r in recorders],
        "published": [o.message_id for o in outcomes.outcomes if isinstance(o, Published)],
        "outcomes": len(outcomes.outcomes),
        "send_after_close": after_close,
        "close_s": time.monotonic() - began,
        "failures": [f for r in recorders for f in r.failures],
        "hub_gap_s": ticker.stop(),
    }


def scenario_nack(url: str, topic: str) -> dict[str, Any]:
    """One consumer nacks the first delivery of messages 0..4: they come back after the nack delay."""
    from harness.drivers.native import NativeDriver

    driver = NativeDriver(_endpoint(url, topic), _settings(nack_delay_ms=1000), Placement(0, 1))
    ticker = Ticker()
    recorder = Recorder(nack_first=5)
    _open_consumer(driver, "c0", recorder)
    outcomes = Outcomes()
    producer = driver.open_producer("p0", outcomes)
    for seq in range(10):
        producer.send(_message(seq))
    _wait(lambda: len(recorder.rows) >= 15, 15)
    driver.close()
    return {"rows": recorder.rows, "hub_gap_s": ticker.stop()}


def scenario_handover(url: str, topic: str) -> dict[str, Any]:
    """Consumer A holds 20 unacked messages and closes; consumer B (another process's driver) gets them."""
    from harness.drivers.native import NativeDriver

    endpoint = _endpoint(url, topic)
    drivers = [NativeDriver(endpoint, _settings(receiver_queue_size=100), Placement(i, 2)) for i in range(2)]
    ticker = Ticker()
    holder, taker = Recorder(policy="hold"), Recorder()
    held_session = _open_consumer(drivers[0], "a", holder)
    producer = drivers[0].open_producer("p0", Outcomes())
    for seq in range(20):
        producer.send(_message(seq))
    _wait(lambda: len(holder.rows) >= 20, 10)
    _open_consumer(drivers[1], "b", taker)
    gevent.sleep(0.3)
    before = len(taker.rows)
    held_session.close()
    ack_after_close = held_session.ack(holder.held[0]) if holder.held else None
    _wait(lambda: len(taker.rows) >= 20, 10)
    for driver in drivers:
        driver.close()
    return {
        "held": [r["uid"] for r in holder.rows],
        "taken": taker.rows,
        "taken_before_close": before,
        "ack_after_close": ack_after_close,
        "hub_gap_s": ticker.stop(),
    }


def scenario_loss(url: str, topic: str, broker_pid: str) -> dict[str, Any]:
    """The broker is killed: both sessions hear on_closed, a send then raises SessionClosed, close is bounded."""
    from harness.drivers import native

    native.OPERATION_TIMEOUT_S = 2  # a subscribe to the dead broker gives up after 2 s, not 10
    driver = native.NativeDriver(_endpoint(url, topic), _settings(), Placement(0, 1))
    ticker = Ticker()
    recorder = Recorder()
    _open_consumer(driver, "c0", recorder)
    outcomes = Outcomes()
    producer = driver.open_producer("p0", outcomes)
    producer.send(_message(0))
    _wait(lambda: len(recorder.rows) >= 1, 10)
    killed = time.monotonic()
    os.kill(int(broker_pid), signal.SIGKILL)
    _wait(lambda: bool(recorder.closed and outcomes.closed), 10)
    seen = time.monotonic() - killed
    try:
        producer.send(_message(1))
        after = "sent"
    except SessionClosed:
        after = "SessionClosed"
    gap_before_reopen = ticker.longest
    began = time.monotonic()
    try:  # the broker is down: the client retries until its operation timeout, the hub runs meanwhile
        driver.open_consumer("c1", Recorder())
        reopen = "opened"
    except ConnectError as exc:
        reopen = str(exc)
    reopen_s = time.monotonic() - began
    began = time.monotonic()
    driver.close()
    return {
        "consumer_closed": [c.reason for c in recorder.closed],
        "producer_closed": [c.reason for c in outcomes.closed],
        "seen_s": seen,
        "send_after_loss": after,
        "reopen": reopen,
        "reopen_s": reopen_s,
        "gap_before_reopen_s": gap_before_reopen,
        "close_s": time.monotonic() - began,
        "hub_gap_s": ticker.stop(),
    }


class Slow(Recorder):
    """Sleeps in its listener, as a slow consumer's processing does."""

    def on_delivery(self, delivery: Delivery) -> None:
        gevent.sleep(0.05)
        super().on_delivery(delivery)


def scenario_slow(url: str, topic: str) -> dict[str, Any]:
    """A consumer sleeping 50 ms per delivery holds back only itself, and takes no more than its queues."""
    from harness.drivers.native import NativeDriver

    # one client for both consumers (no distinct ids needed: one client numbers its consumers apart)
    driver = NativeDriver(_endpoint(url, topic, distinct=False), _settings(receiver_queue_size=5), Placement(0, 1))
    ticker = Ticker()
    slow, fast = Slow(), Recorder()
    _open_consumer(driver, "slow", slow)
    _open_consumer(driver, "fast", fast)
    producer = driver.open_producer("p0", Outcomes())
    for seq in range(200):
        producer.send(_message(seq))
    _wait(lambda: len(slow.rows) + len(fast.rows) >= 200, 30)
    driver.close()
    return {"slow": slow.rows, "fast": fast.rows, "hub_gap_s": ticker.stop()}


def scenario_churn(url: str, topic: str) -> dict[str, Any]:
    """Process 1's consumer reconnects six times while process 0's stays: every subscribe gets an id of its own."""
    from harness.drivers.native import NativeDriver

    endpoint, settings = _endpoint(url, topic), _settings(receiver_queue_size=10)
    steady_driver, churn_driver = (NativeDriver(endpoint, settings, Placement(i, 2)) for i in range(2))
    ticker = Ticker()
    steady = Recorder()
    _open_consumer(steady_driver, "steady", steady)
    producer = steady_driver.open_producer("p0", Outcomes())
    churners: list[Recorder] = []
    opened_s: list[float] = []
    seq = 0
    for _cycle in range(6):
        churner = Recorder()
        began = time.monotonic()
        session = _open_consumer(churn_driver, f"churn{_cycle}", churner)
        opened_s.append(time.monotonic() - began)
        churners.append(churner)
        for _ in range(50):
            producer.send(_message(seq))
            seq += 1
        gevent.sleep(0.2)
        session.close()
    _wait(
        lambda: (
            {r["uid"] for r in steady.rows + [r for c in churners for r in c.rows]} >= {f"p0/{i}" for i in range(seq)}
        ),
        15,
    )
    _wait(lambda: not churn_driver._slots, 5)
    slots_left = len(churn_driver._slots)
    for driver in (steady_driver, churn_driver):
        driver.close()
    return {
        "uids": sorted({r["uid"] for r in steady.rows + [r for c in churners for r in c.rows]}),
        "sent": seq,
        "opened_s": opened_s,
        "slots_left": slots_left,
        "hub_gap_s": ticker.stop(),
    }


def scenario_consume(url: str, topic: str, index: str, count: str, quiet: str) -> dict[str, Any]:
    """One load process's two consumers (placement index of count): ready line, then receive until quiet."""
    from harness.drivers.native import NativeDriver

    driver = NativeDriver(_endpoint(url, topic), _settings(receiver_queue_size=5), Placement(int(index), int(count)))
    ticker = Ticker()
    recorders = [Recorder(), Recorder()]
    for i, recorder in enumerate(recorders):
        _open_consumer(driver, f"c{index}.{i}", recorder)
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    last, last_change = 0, time.monotonic()
    while time.monotonic() < deadline:
        gevent.sleep(0.1)
        total = sum(len(r.rows) for r in recorders)
        if total != last:
            last, last_change = total, time.monotonic()
        elif total and time.monotonic() - last_change > float(quiet):
            break
    driver.close()
    return {"rows": [r.rows for r in recorders], "hub_gap_s": ticker.stop()}


def scenario_produce(url: str, topic: str, count: str) -> dict[str, Any]:
    from harness.drivers.native import NativeDriver

    driver = NativeDriver(_endpoint(url, topic), _settings(), Placement(0, 1))
    outcomes = Outcomes()
    producer = driver.open_producer("p0", outcomes)
    for seq in range(int(count)):
        producer.send(_message(seq))
    _wait(lambda: len(outcomes.outcomes) >= int(count), 20)
    driver.close()
    return {"published": sum(isinstance(o, Published) for o in outcomes.outcomes)}


def scenario_bridge() -> dict[str, Any]:
    """Two mailboxes fed by one real OS thread: each keeps its order, a slow one holds back only itself."""
    from gevent import monkey

    from harness.drivers.gevent_bridge import Mailbox

    ticker = Ticker()
    handled: dict[str, list[tuple[int, int]]] = {"slow": [], "fast": []}

    def slow_handler(item: int) -> None:
        gevent.sleep(0.02)
        handled["slow"].append((item, time.monotonic_ns()))

    slow: Mailbox[int] = Mailbox(slow_handler)
    fast: Mailbox[int] = Mailbox(lambda item: handled["fast"].append((item, time.monotonic_ns())))
    posted = gevent.event.Event()
    loop = gevent.get_hub().loop

    def feed() -> None:  # a real thread, as the C++ client's are
        for i in range(200):
            fast.post(i)
            if i % 10 == 0:
                slow.post(i // 10)
        loop.run_callback_threadsafe(posted.set)

    monkey.get_original("_thread", "start_new_thread")(feed, ())
    posted.wait(10)
    _wait(lambda: len(handled["fast"]) == 200 and len(handled["slow"]) == 20, 10)
    held_items: list[int] = []
    held: Mailbox[int] = Mailbox(held_items.append, held=True)  # as a consumer session's until its open returns
    for i in range(5):
        held.post(i)
    gevent.sleep(0.05)
    before_release = list(held_items)
    held.release()
    _wait(lambda: len(held_items) == 5, 10)
    held.stop()
    fast.stop()
    fast.post(999)  # after stop: dropped
    gevent.sleep(0.05)
    slow.stop()
    return {
        "slow": [item for item, _ in handled["slow"]],
        "fast": [item for item, _ in handled["fast"]],
        "fast_done_ns": handled["fast"][-1][1] if handled["fast"] else 0,
        "slow_done_ns": handled["slow"][-1][1] if handled["slow"] else 0,
        "held_before_release": before_release,
        "held_after_release": held_items,
        "hub_gap_s": ticker.stop(),
    }


SCENARIOS: dict[str, Callable[..., dict[str, Any]]] = {
    "bridge": scenario_bridge,
    "shared": scenario_shared,
    "nack": scenario_nack,
    "handover": scenario_handover,
    "loss": scenario_loss,
    "slow": scenario_slow,
    "consume": scenario_consume,
    "churn": scenario_churn,
    "produce": scenario_produce,
}


def main(argv: list[str]) -> int:
    result = SCENARIOS[argv[0]](*argv[1:])
    print(json.dumps(result), flush=True)
    return 0


# -- the pytest side (unpatched) -----------------------------------------------------------------------


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tests.integration.test_native_driver", *args]


def run_scenario(*args: str, seconds: float = 60) -> dict[str, Any]:
    done = subprocess.run(_command(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout(seconds))
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture
def broker() -> Iterator[LiteProcess]:
    """The launcher the pulsar-lite target uses: loopback only, a free port, metrics off, stopped by PID."""
    with LiteProcess() as running:
        yield running


def _topic() -> str:
    return f"native-{uuid.uuid4().hex[:12]}"


def test_mailboxes_keep_order_and_a_slow_one_holds_back_only_itself() -> None:
    result = run_scenario("bridge")
    assert result["fast"] == list(range(200)), "a post after stop is dropped, the rest kept their order"
    assert result["slow"] == list(range(20))
    assert result["fast_done_ns"] < result["slow_done_ns"], "the fast mailbox did not wait for the slow one"
    assert result["held_before_release"] == [], "a held mailbox hands nothing over before its release"
    assert result["held_after_release"] == list(range(5))
    assert result["hub_gap_s"] < MAX_HUB_GAP_S


def test_two_processes_share_the_subscription_exactly_once_in_order(broker: LiteProcess) -> None:
    n = 400
    result = run_scenario("shared", broker.url, _topic(), str(n))
    rows = result["rows"]
    uids = [row["uid"] for consumer in rows for row in consumer]
    assert sorted(uids) == sorted(f"p0/{seq}" for seq in range(n)), "every message delivered exactly once"
    assert all(rows), f"both consumers got messages: {[len(c) for c in rows]}"
    for consumer in rows:
        seqs = [row["seq"] for row in consumer]
        assert seqs == sorted(seqs), "a consumer's deliveries keep the publish order"
        assert all(row["redelivery"] == 0 and row["size"] == 100 and row["run"] == RUN for row in consumer)
        assert all(row["key"] == f"k{row['seq'] % 3}" for row in consumer)
        assert all(row["publish_ns"] and row["publish_ns"] <= row["received_ns"] + 10**9 for row in consumer)
        assert all(row["received_ns"] <= row["handled_ns"] for row in consumer)
    assert result["outcomes"] == n and len(set(result["published"])) == n
    assert set(result["published"]) == {row["msg_id"] for consumer in rows for row in consumer}
    assert result["send_after_close"] == "SessionClosed"
    assert not result["failures"]
    assert result["close_s"] < 10
    assert result["hub_gap_s"] < MAX_HUB_GAP_S


def test_nacked_message_comes_back_after_the_delay(broker: LiteProcess) -> None:
    result = run_scenario("nack", broker.url, _topic())
    rows = result["rows"]
    first = {row["seq"]: row["received_ns"] for row in rows if row["redelivery"] == 0}
    again = {row["seq"]: row["received_ns"] for row in rows if row["redelivery"] > 0}
    assert set(first) == set(range(10))
    assert set(again) == set(range(5)), f"redelivered: {sorted(again)}"
    delays = [(again[seq] - first[seq]) / 1e9 for seq in again]
    assert all(0.7 <= delay <= 5.0 for delay in delays), delays
    assert result["hub_gap_s"] < MAX_HUB_GAP_S


def test_closing_a_consumer_hands_its_unacked_messages_to_the_other(broker: LiteProcess) -> None:
    result = run_scenario("handover", broker.url, _topic())
    assert sorted(result["held"]) == sorted(f"p0/{seq}" for seq in range(20))
    assert result["taken_before_close"] == 0, "the holder had everything; the other got nothing before the close"
    taken = [row["uid"] for row in result["taken"]]
    assert sorted(taken) == sorted(result["held"]), "every held message went to the other consumer, once"
    assert result["ack_after_close"] is False
    assert result["hub_gap_s"] < MAX_HUB_GAP_S


def test_a_killed_broker_closes_both_sessions(broker: LiteProcess) -> None:
    result = run_scenario("loss", broker.url, _topic(), str(broker.pid))
    assert result["consumer_closed"] and result["producer_closed"]
    assert all("connection lost" in reason for reason in result["consumer_closed"] + result["producer_closed"])
    assert result["seen_s"] < 3.0
    assert result["send_after_loss"] == "SessionClosed"
    # refused by the client's timeout, in its subscribe or (with distinct consumer ids) in the id padding before it
    assert result["reopen"].startswith("subscribe sub"), result["reopen"]
    assert any(word in result["reopen"] for word in ("Timeout", "Connect")), result["reopen"]
    assert 1.5 < result["reopen_s"] < 8.0, "the subscribe waited for the client's operation timeout"
    assert result["close_s"] < 8.0
    assert result["hub_gap_s"] < MAX_HUB_GAP_S, "the hub ran while the subscribe waited"


def test_a_slow_listener_holds_back_only_its_own_session(broker: LiteProcess) -> None:
    result = run_scenario("slow", broker.url, _topic())
    slow, fast = result["slow"], result["fast"]
    uids = [row["uid"] for row in slow + fast]
    assert sorted(uids) == sorted(f"p0/{seq}" for seq in range(200)), "exactly once"
    # the slow one takes at most its receiver queue (5) plus as many waiting on the hub, plus one in hand
    assert 1 <= len(slow) <= 12, len(slow)
    fast_done = max(row["handled_ns"] for row in fast)
    slow_done = max(row["handled_ns"] for row in slow)
    assert fast_done < slow_done, "the fast consumer finished while the slow one was still sleeping"
    assert result["hub_gap_s"] < MAX_HUB_GAP_S


def test_reconnecting_consumer_never_reuses_a_live_consumer_id(broker: LiteProcess) -> None:
    result = run_scenario("churn", broker.url, _topic())
    assert result["uids"] == sorted(f"p0/{seq}" for seq in range(result["sent"])), "every message delivered"
    assert all(seconds < 3.0 for seconds in result["opened_s"]), result["opened_s"]  # a clash waits out 10 s
    assert result["slots_left"] == 0, "every closed consumer's id became free again"
    assert result["hub_gap_s"] < MAX_HUB_GAP_S


def test_four_consumers_in_two_processes_get_distinct_consumer_ids(broker: LiteProcess) -> None:
    """pulsar-lite refuses a consumer id already on the subscription: all four subscribe, none collides."""
    topic, n = _topic(), 300
    consumers = [
        subprocess.Popen(
            _command("consume", broker.url, topic, str(index), "2", "2.0"),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(2)
    ]
    try:
        for process in consumers:
            assert process.stdout is not None
            line = process.stdout.readline()  # bounded: subscribe gives up after the client's timeout
            assert line.strip() == "ready", line + (process.stderr.read() if process.stderr else "")
        produced = run_scenario("produce", broker.url, topic, str(n))
        assert produced["published"] == n
        results = []
        for process in consumers:
            out, err = process.communicate(timeout=timeout(60))
            assert process.returncode == 0, out + err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in consumers:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    per_consumer = [consumer for result in results for consumer in result["rows"]]
    assert len(per_consumer) == 4 and all(per_consumer), [len(c) for c in per_consumer]
    uids = [row["uid"] for consumer in per_consumer for row in consumer]
    assert sorted(uids) == sorted(f"p0/{seq}" for seq in range(n)), "shared, none duplicated, none lost"
    assert all(result["hub_gap_s"] < MAX_HUB_GAP_S for result in results)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
