"""Latency figures on literal logs: nearest-rank percentiles, corrected latency, skew, breakdowns."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from harness.analysis.quantiles import Ranked, rank_index
from harness.analysis.summary import Options
from tests.checker_logs import MS, S, summary_of

PERCENTILE_KEYS = ("p50", "p90", "p99", "p999", "p9999", "max")


def ten_messages(skewed: bool = False) -> list[str]:
    """Message i: sent at i s (intended 2 ms earlier), publish ack 1 ms later, delivered (i+1) ms later."""
    rows = []
    for i in range(10):
        t = i * S
        uid = f"w0-p1/{i}"
        consumer = f"w0-c{i % 2 + 1}"
        deliver = t - 5 * MS if skewed and i == 0 else t + (i + 1) * MS
        rows += [
            f"{t},send,w0-p1,{uid},,{t - 2 * MS},,10,",
            f"{t + MS},publish_ok,w0-p1,{uid},m{i},,,,",
            f"{deliver},deliver,{consumer},{uid},m{i},,0,10,",
            f"{deliver + 1},ack,{consumer},{uid},m{i},,,,",
        ]
    return rows


def test_nearest_rank_index() -> None:
    assert [int(rank_index(10, q)) for q in (0.5, 0.9, 0.99, 1.0)] == [4, 8, 9, 9]
    assert int(rank_index(100, 0.99)) == 98
    assert int(rank_index(1, 0.5)) == 0


def test_end_to_end_percentiles() -> None:
    e2e = summary_of(*ten_messages())["latency_ms"]["e2e"]
    assert e2e == {
        "count": 10,
        "negative": 0,
        "p50": 5.0,
        "p90": 9.0,
        "p99": 10.0,
        "p999": 10.0,
        "p9999": 10.0,
        "max": 10.0,
        "min": 1.0,
        "mean": 5.5,
    }


def test_intended_publish_and_schedule_lag() -> None:
    latency = summary_of(*ten_messages())["latency_ms"]
    assert latency["e2e_intended"]["p50"] == 7.0 and latency["e2e_intended"]["max"] == 12.0
    assert latency["publish"]["p50"] == latency["publish"]["max"] == 1.0
    assert latency["schedule_lag"]["p99"] == 2.0


def test_negative_latencies_are_counted_and_kept() -> None:
    e2e = summary_of(*ten_messages(skewed=True))["latency_ms"]["e2e"]
    assert e2e["count"] == 10 and e2e["negative"] == 1
    assert e2e["min"] == -5.0


def test_latency_by_consumer_and_by_class() -> None:
    latency = summary_of(*ten_messages())["latency_ms"]
    by_consumer = latency["by_consumer"]["e2e"]
    assert by_consumer["w0-c1"]["count"] == 5 and by_consumer["w0-c1"]["max"] == 9.0
    assert by_consumer["w0-c2"]["p50"] == 6.0 and by_consumer["w0-c2"]["max"] == 10.0
    assert latency["by_class"]["e2e"] == {"ok": pytest.approx(latency["by_class"]["e2e"]["ok"])}
    assert latency["by_class"]["e2e"]["ok"]["count"] == 10


# The consumers' worker clock is 40 ms behind the producer's and run.json has no offset for it.
SKEWED_PRODUCER = (
    "100000000,send,w0-p1,w0-p1/0,,100000000,,10,",
    "101000000,publish_ok,w0-p1,w0-p1/0,m0,,,,",
)
SKEWED_CONSUMER = (
    "60000000,deliver,w1-c1,w0-p1/0,m0,,0,10,",
    "61000000,ack,w1-c1,w0-p1/0,m0,,,,",
)
SKEWED_PRODUCER_MORE = (
    "200000000,send,w0-p1,w0-p1/1,,200000000,,10,",
    "201000000,publish_ok,w0-p1,w0-p1/1,m1,,,,",
)
SKEWED_CONSUMER_MORE = (
    "190000000,deliver,w1-c2,w0-p1/1,m1,,0,10,",
    "191000000,ack,w1-c2,w0-p1/1,m1,,,,",
)


def test_every_delivery_before_the_first_send_still_gets_a_window() -> None:
    latency = summary_of(*SKEWED_PRODUCER, *SKEWED_CONSUMER)["latency_ms"]
    assert (latency["e2e"]["count"], latency["e2e"]["negative"], latency["e2e"]["max"]) == (1, 1, -40.0)
    windows = latency["windows"]
    assert windows["start_s"] == [0.0]
    assert windows["e2e"] == [{"count": 1, "negative": 1, **dict.fromkeys(PERCENTILE_KEYS, -40.0)}]
    assert windows["publish"][0]["count"] == 1


def test_windows_keep_every_negative_value_the_overall_figures_count() -> None:
    rows = (*SKEWED_PRODUCER, *SKEWED_PRODUCER_MORE, *SKEWED_CONSUMER, *SKEWED_CONSUMER_MORE)
    latency = summary_of(*rows)["latency_ms"]
    assert (latency["e2e"]["count"], latency["e2e"]["negative"]) == (2, 2)
    (window,) = latency["windows"]["e2e"]
    assert (window["count"], window["negative"], window["max"]) == (2, 2, -10.0)


def test_grouped_percentiles_of_keys_all_outside_the_groups_are_empty() -> None:
    assert Ranked(np.array([5, 7], dtype=np.int64)).grouped(np.array([-1, 3]), 2) == [None, None]


def test_latency_per_window() -> None:
    windows = summary_of(*ten_messages(), options=Options(window_s=5))["latency_ms"]["windows"]
    assert windows["start_s"] == [0.0, 5.0]
    first, second = windows["e2e"]
    assert (first["count"], first["p50"], first["max"]) == (5, 3.0, 5.0)
    assert (second["count"], second["p50"], second["max"]) == (5, 8.0, 10.0)
    assert windows["publish"][0]["max"] == 1.0


# The first send has no intended time (its schedule row was lost): it has an end-to-end latency
# but none from the intended send.
PARTLY_INTENDED = (
    f"{10 * MS},send,w0-p1,w0-p1/0,,,,10,",
    f"{11 * MS},publish_ok,w0-p1,w0-p1/0,m0,,,,",
    f"{12 * MS},deliver,w0-c1,w0-p1/0,m0,,0,10,",
    f"{13 * MS},ack,w0-c1,w0-p1/0,m0,,,,",
    f"{20 * MS},send,w0-p1,w0-p1/1,,{18 * MS},,10,",
    f"{21 * MS},publish_ok,w0-p1,w0-p1/1,m1,,,,",
    f"{25 * MS},deliver,w0-c2,w0-p1/1,m1,,0,10,",
    f"{26 * MS},ack,w0-c2,w0-p1/1,m1,,,,",
    f"{30 * MS},send,w0-p1,w0-p1/2,,{27 * MS},,10,",
    f"{31 * MS},publish_ok,w0-p1,w0-p1/2,m2,,,,",
    f"{36 * MS},deliver,w0-c2,w0-p1/2,m2,,0,10,",
    f"{37 * MS},ack,w0-c2,w0-p1/2,m2,,,,",
)


def test_latency_from_intended_send_per_consumer_counts_only_messages_with_an_intended_time() -> None:
    latency = summary_of(*PARTLY_INTENDED)["latency_ms"]
    assert latency["e2e"]["count"] == 3 and latency["e2e_intended"]["count"] == 2
    assert set(latency["by_consumer"]["e2e"]) == {"w0-c1", "w0-c2"}
    (consumer, row), *rest = latency["by_consumer"]["e2e_intended"].items()
    assert (consumer, rest) == ("w0-c2", [])
    assert (row["count"], row["p50"], row["max"]) == (2, 7.0, 9.0)


# w0-p1/0 goes to c1 and, after a nack, to c2 5 s later; w0-p2/0 goes to c2; w0-p1/1 to c1, 6 s on.
BREAKDOWNS = (
    "0,send,w0-p1,w0-p1/0,,0,,10,",
    f"{1 * MS},publish_ok,w0-p1,w0-p1/0,m0,,,,",
    f"{3 * MS},deliver,w0-c1,w0-p1/0,m0,,0,10,",
    f"{4 * MS},nack,w0-c1,w0-p1/0,m0,,,,",
    f"{10 * MS},send,w0-p2,w0-p2/0,,{10 * MS},,10,",
    f"{14 * MS},publish_ok,w0-p2,w0-p2/0,n0,,,,",
    f"{20 * MS},deliver,w0-c2,w0-p2/0,n0,,0,10,",
    f"{21 * MS},ack,w0-c2,w0-p2/0,n0,,,,",
    f"{5 * S + 3 * MS},deliver,w0-c2,w0-p1/0,m0,,1,10,",
    f"{5 * S + 4 * MS},ack,w0-c2,w0-p1/0,m0,,,,",
    f"{6 * S},send,w0-p1,w0-p1/1,,{6 * S},,10,",
    f"{6 * S + 2 * MS},publish_ok,w0-p1,w0-p1/1,m1,,,,",
    f"{6 * S + 5 * MS},deliver,w0-c1,w0-p1/1,m1,,0,10,",
    f"{6 * S + 6 * MS},ack,w0-c1,w0-p1/1,m1,,,,",
)


def counts_and_max(rows: dict[str, Any]) -> dict[str, tuple[int, float]]:
    return {group: (row["count"], row["max"]) for group, row in rows.items()}


def test_every_latency_is_broken_down_by_consumer_or_producer_class_and_window() -> None:
    latency = summary_of(*BREAKDOWNS, options=Options(window_s=5))["latency_ms"]
    by_consumer, by_class, windows = latency["by_consumer"], latency["by_class"], latency["windows"]
    assert counts_and_max(by_consumer["e2e"]) == {"w0-c1": (2, 5.0), "w0-c2": (1, 10.0)}
    assert counts_and_max(by_consumer["e2e_intended"]) == {"w0-c1": (2, 5.0), "w0-c2": (1, 10.0)}
    assert counts_and_max(by_consumer["redelivery_delay"]) == {"w0-c2": (1, 5000.0)}
    assert "publish" not in by_consumer
    assert latency["by_producer"] == {"publish": latency["by_producer"]["publish"]}
    assert counts_and_max(latency["by_producer"]["publish"]) == {"w0-p1": (2, 2.0), "w0-p2": (1, 4.0)}
    assert counts_and_max(by_class["e2e"]) == {"ok": (2, 10.0), "redelivered": (1, 3.0)}
    assert counts_and_max(by_class["e2e_intended"]) == {"ok": (2, 10.0), "redelivered": (1, 3.0)}
    assert counts_and_max(by_class["publish"]) == {"ok": (2, 4.0), "redelivered": (1, 1.0)}
    assert counts_and_max(by_class["redelivery_delay"]) == {"redelivered": (1, 5000.0)}
    assert windows["start_s"] == [0.0, 5.0]
    assert [(w["count"], w["max"]) for w in windows["e2e"]] == [(2, 10.0), (1, 5.0)]
    assert [(w["count"], w["max"]) for w in windows["publish"]] == [(2, 4.0), (1, 2.0)]
    assert windows["redelivery_delay"][0] is None and windows["redelivery_delay"][1]["max"] == 5000.0


def test_redelivery_delay() -> None:
    rows = [
        "10,send,w0-p1,w0-p1/0,,10,,10,",
        "11,publish_ok,w0-p1,w0-p1/0,m0,,,,",
        "12,deliver,w0-c1,w0-p1/0,m0,,0,10,",
        "13,nack,w0-c1,w0-p1/0,m0,,,,",
        f"{12 + 60 * MS},deliver,w0-c2,w0-p1/0,m0,,1,10,",
        f"{13 + 60 * MS},ack,w0-c2,w0-p1/0,m0,,,,",
    ]
    latency = summary_of(*rows)["latency_ms"]
    assert latency["redelivery_delay"]["count"] == 1 and latency["redelivery_delay"]["max"] == 60.0
    assert latency["by_class"]["e2e"]["redelivered"]["count"] == 1


def test_grouped_percentiles_match_per_group_sorting() -> None:
    rng = np.random.default_rng(7)
    values = rng.integers(-1000, 10**9, 5000)
    keys = rng.integers(0, 7, 5000)
    rows = Ranked(values).grouped(keys, 8)
    assert rows[7] is None
    for g in range(7):
        mine = np.sort(values[keys == g])
        row = rows[g]
        assert row is not None and row["count"] == len(mine)
        assert row["p99"] == mine[int(rank_index(len(mine), 0.99))] / 1e6
        assert row["max"] == mine[-1] / 1e6 and row["negative"] == int((mine < 0).sum())


def test_percentile_curve_runs_to_the_highest_measurable_percentile() -> None:
    curve = Ranked(np.arange(1, 1001, dtype=np.int64) * 1_000_000).curve()
    assert curve[0] == [0.0, 1.0]
    assert curve[-1][0] <= 99.99 and curve[-1][1] == 1000.0
    assert all(a[1] <= b[1] for a, b in zip(curve, curve[1:], strict=False))
