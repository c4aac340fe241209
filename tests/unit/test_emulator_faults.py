"""Fault specs and the fault injector in the core, with a fixed seed and a settable clock."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from harness.emulator.faults import FaultInjector, FaultSpec, parse_fault
from harness.errors import HarnessError
from tests.unit.emulator_helpers import Clock, make_broker, mid, numbers, publish, subscribe


def injector(spec: str, truth: list[dict[str, Any]]) -> FaultInjector:
    return FaultInjector([parse_fault(spec)], random.Random(3), truth.append)


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("drop=0.01", FaultSpec("drop", 0.01)),
        ("delay=0.05,ms=200", FaultSpec("delay", 0.05, delay_ms=200.0)),
        ("disconnect,every=5s", FaultSpec("disconnect", every_s=5.0)),
        ("disconnect,every=500ms", FaultSpec("disconnect", every_s=0.5)),
        ("skew=0.8,consumer=w0-c1", FaultSpec("skew", 0.8, consumer="w0-c1")),
        ("reorder=1", FaultSpec("reorder", 1.0)),
    ],
)
def test_fault_specs_parse(spec: str, parsed: FaultSpec) -> None:
    assert parse_fault(spec) == parsed


@pytest.mark.parametrize("spec", ["", "drop=0", "drop=-1", "drop=x", "misroute", "delay=0.1,ms=-5", "disconnect=0.1"])
def test_bad_fault_specs_are_one_line_errors(spec: str) -> None:
    with pytest.raises(HarnessError):
        parse_fault(spec)


def test_drop_acknowledges_on_the_subscription_and_records_properties() -> None:
    truth: list[dict[str, Any]] = []
    b = make_broker(faults=injector("drop=1", truth))
    subscribe(b)
    ids = publish(b, 3)
    assert b.take_deliveries() == []
    assert b.topics[next(iter(b.topics))].subscriptions["sub"].backlog == 0
    assert [t["msg_id"] for t in truth] == ids and truth[0]["properties"] == {"n": "0"}
    assert truth[0]["t_ns"] == 1000 * 10**9 and truth[0]["consumer"] is None


def test_delay_releases_on_tick_and_reorder_swaps_pairs() -> None:
    clock = Clock()
    truth: list[dict[str, Any]] = []
    b = make_broker(clock, faults=injector("delay=1,ms=100", truth))
    subscribe(b)
    publish(b, 1)
    assert b.take_deliveries() == [] and truth[0]["delay_ms"] == 100.0
    clock.now += 0.1
    b.tick(clock.now)
    assert numbers(b.take_deliveries()) == [0]

    truth2: list[dict[str, Any]] = []
    b2 = make_broker(clock, faults=injector("reorder=1", truth2))
    subscribe(b2)
    publish(b2, 2)
    assert numbers(b2.take_deliveries()) == [1, 0]
    assert truth2[0]["properties"] == {"n": "0"} and truth2[0]["fault"] == "reorder"


def test_misroute_and_duplicate_name_the_consumer_hit() -> None:
    truth: list[dict[str, Any]] = []
    b = make_broker(faults=injector("misroute=1", truth))
    a = subscribe(b, name="a")
    c = subscribe(b, name="c")
    publish(b, 1)
    deliveries = b.take_deliveries()
    assert [d.consumer for d in deliveries] == [a, c] and truth[0]["consumer"] == "c"
    assert a.outstanding == {0} and not c.outstanding  # still outstanding only where dispatch put it
    b.ack(c.id, mid(deliveries[1]))
    assert not a.outstanding


def test_disconnect_picks_consumers_in_turn_on_schedule() -> None:
    clock = Clock()
    truth: list[dict[str, Any]] = []
    b = make_broker(clock, faults=injector("disconnect,every=2s", truth))
    a, c = subscribe(b, name="a"), subscribe(b, name="c")
    for _ in range(5):
        clock.now += 1
        b.tick(clock.now)
        for consumer_id, _ in b.take_disconnects():
            b.close_consumer(consumer_id)
    assert [t["consumer"] for t in truth] == ["a", "c"] and truth[0]["msg_id"] is None
    assert a.closing and c.closing


def test_skew_sends_to_the_favoured_consumer() -> None:
    truth: list[dict[str, Any]] = []
    b = make_broker(faults=injector("skew=1,consumer=fav", truth))
    other = subscribe(b, name="other")
    fav = subscribe(b, name="fav")
    publish(b, 4)
    assert [d.consumer for d in b.take_deliveries()] == [fav] * 4
    # The burst is one read: other's turn takes all four, and each is redirected to fav.
    assert len(truth) == 4 and {t["detail"] for t in truth} == {"instead of other"} and other.outstanding == set()
    assert orjson.dumps(truth[0])  # every record is JSON
