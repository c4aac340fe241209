"""Scenarios for the real producers and consumers on the in-memory driver, run in a child process.

Importing Locust monkey-patches the whole process with gevent, so these never run inside pytest's
own process (see tests/conftest.py): :mod:`tests.unit.test_load_users` runs this module once and
reads which scenarios passed. ``python -m tests.unit.load_scenarios [name ...]`` prints a JSON
object: scenario name -> "ok" or the failure's traceback.
"""

from __future__ import annotations

import locust  # noqa: F401 - first: it monkey-patches the process before anything else opens sockets

import inspect
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

import orjson

from harness.drivers.memory import MemoryBroker
from harness.events import schema
from tests.unit.load_rig import rig, sends


def scenario_a_clean_run_publishes_delivers_and_acks_every_message_once(tmp_path: Path) -> None:
    r = rig(tmp_path, producers=2, consumers=2, rate=400)
    r.start(producers=2, consumers=2)
    assert r.wait_for(lambda: r.runtime.counters.consumers_connected == 2)
    r.produce_for(0.25, rate=400)
    assert r.wait_for(r.settled)
    r.stop()
    sent = sends(r)
    counters = r.runtime.counters
    assert len(sent) == counters.sent == counters.published >= 100
    assert counters.run_deliveries == counters.sent and counters.awaiting_publish_ack == 0
    for kind in (schema.PUBLISH_OK, schema.DELIVER, schema.ACK):
        assert r.per_uid(kind) == dict.fromkeys(sent, 1), kind
    assert set(r.broker.acked.values()) == {1} and r.broker.unacked == 0
    assert {row[4] for row in r.rows(schema.PUBLISH_OK)} == set(r.broker.published)  # the broker's ids are logged
    assert sum(1 for row in r.rows(schema.DELIVER) if row[6]) == 0  # nothing redelivered
    assert counters.consumers_connected == 0  # every consumer left when stopped
    gaps = r.rows(schema.DISCONNECT)
    assert len(gaps) == 4 and all(row[8] == "user stopped" for row in gaps)
    assert not counters.outages.open  # closing on purpose is no outage


def scenario_both_consumers_share_the_subscription(tmp_path: Path) -> None:
    r = rig(tmp_path, producers=1, consumers=2, rate=300)
    r.start(producers=1, consumers=2)
    assert r.wait_for(lambda: r.runtime.counters.consumers_connected == 2)
    r.produce_for(0.2, rate=300)
    assert r.wait_for(r.settled)
    r.stop()
    per_consumer = {actor: counts.delivered for actor, counts in r.runtime.counters.consumers.items()}
    assert len(per_consumer) == 2 and min(per_consumer.values()) > 0


def scenario_churn_gives_held_messages_to_the_other_consumer_and_the_ledger_stays_exact(tmp_path: Path) -> None:
    # acks go out 80 ms late, so a consumer always holds messages when it churns
    r = rig(tmp_path, producers=1, consumers=2, rate=500, churn_interval=0.15, ack_delay_ms=80)
    r.start(producers=1, consumers=2)
    assert r.wait_for(lambda: r.runtime.counters.consumers_connected == 2)
    r.produce_for(0.6, rate=500)
    assert r.wait_for(r.settled)
    r.stop()
    sent = sends(r)
    churns = [row for row in r.rows(schema.DISCONNECT) if row[8].startswith("churn")]
    assert churns, "no consumer churned"
    assert any("acks not sent" in row[8] for row in churns)
    redelivered = [row for row in r.rows(schema.DELIVER) if row[6]]
    assert redelivered, "nothing held was redelivered"
    assert r.per_uid(schema.ACK) == dict.fromkeys(sent, 1)  # a dropped delayed ack is never logged
    assert set(r.broker.acked.values()) == {1} and r.broker.unacked == 0
    counters = r.runtime.counters
    assert counters.run_deliveries == len(r.rows(schema.DELIVER)) > len(sent)
    assert sum(c.acked for c in counters.consumers.values()) == len(sent)
    assert not counters.outages.open  # churn is on purpose


def scenario_a_nacked_message_comes_back_with_its_redelivery_count_raised(tmp_path: Path) -> None:
    r = rig(tmp_path, producers=1, consumers=1, rate=300, nack_probability=0.3, nack_delay_ms=20)
    r.start(producers=1, consumers=1)
    assert r.wait_for(lambda: r.runtime.counters.consumers_connected == 1)
    r.produce_for(0.2, rate=300)
    assert r.wait_for(r.settled)
    r.stop()
    nacked = r.per_uid(schema.NACK)
    assert nacked, "nothing was nacked"
    deliveries: dict[str, list[int]] = {}
    for row in r.rows(schema.DELIVER):
        deliveries.setdefault(row[3], []).append(row[6] or 0)
    for uid, times in nacked.items():
        assert deliveries[uid] == list(range(times + 1))  # each nack raised the count by one
    assert r.per_uid(schema.ACK) == dict.fromkeys(sends(r), 1)
    assert r.runtime.counters.consumers[r.users[0].actor].nacked == sum(nacked.values())


def scenario_a_busy_refusal_does_not_cut_the_consumer_off(tmp_path: Path) -> None:
    broker = MemoryBroker(max_consumers=1)
    r = rig(tmp_path, broker, producers=1, consumers=2, subscription_type="Exclusive", rate=100)
    r.start(producers=1, consumers=2)
    assert r.wait_for(lambda: any(row[8].startswith("connect: handshake refused") for row in r.rows(schema.ERROR)))
    r.stop()
    refused = {row[2] for row in r.rows(schema.ERROR) if "409" in row[8]}
    assert len(refused) == 1
    assert not r.runtime.counters.outages.open  # reachable, only busy


def scenario_an_endpoint_that_drops_its_sessions_cuts_users_off_until_they_return(tmp_path: Path) -> None:
    r = rig(tmp_path, producers=1, consumers=1, rate=200)
    r.start(producers=1, consumers=1)
    assert r.wait_for(lambda: r.runtime.counters.consumers_connected == 1)
    r.runtime.phases.produce(200)
    assert r.wait_for(lambda: r.runtime.counters.published > 10)
    r.broker.down = True
    r.broker.end_sessions("closed by peer (1011)")
    actors = {user.actor for user in r.users}
    assert r.wait_for(lambda: set(r.runtime.counters.outages.open) == actors)
    assert r.wait_for(lambda: {row[2] for row in r.rows(schema.ERROR) if "Connection refused" in row[8]} == actors)
    r.broker.down = False
    assert r.wait_for(lambda: not r.runtime.counters.outages.open)  # both reconnected
    r.runtime.phases.drain()
    assert r.wait_for(r.settled)
    r.stop()
    dropped = [row for row in r.rows(schema.DISCONNECT) if row[8].startswith("closed by peer (1011)")]
    assert {row[2] for row in dropped} == actors
    assert len(r.rows(schema.CONNECT)) == 4
    assert r.per_uid(schema.ACK) == dict.fromkeys(sends(r), 1)


SCENARIOS: dict[str, Callable[[Path], None]] = {
    name.removeprefix("scenario_"): fn
    for name, fn in dict(globals()).items()
    if name.startswith("scenario_") and inspect.isfunction(fn)
}


def run(names: list[str]) -> dict[str, str]:
    """Each scenario in a fresh folder: "ok", or its traceback."""
    outcomes: dict[str, str] = {}
    for name in names or list(SCENARIOS):
        with tempfile.TemporaryDirectory() as folder:
            try:
                SCENARIOS[name](Path(folder))
                outcomes[name] = "ok"
            except Exception:  # noqa: BLE001 - reported to the parent test, which fails with it
                outcomes[name] = traceback.format_exc()
    return outcomes


if __name__ == "__main__":
    sys.stdout.write(orjson.dumps(run(sys.argv[1:])).decode() + "\n")
