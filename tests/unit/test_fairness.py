"""Fairness figures on literal logs: Jain's index, shares by connected time, windows, starvation, runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.analysis.fairness import jain, round_robin, spread
from harness.analysis.load import load_run
from harness.analysis.summary import Options, summarize
from tests.checker_logs import S, manifest, message, summary_of, text, write_run


def consumer_rows(name: str, start: int, end: int) -> list[str]:
    return [f"{start},connect,{name},,,,,,Shared", f"{end},disconnect,{name},,,,,,user stopped"]


def test_jain_index_of_known_allocations() -> None:
    assert jain(np.array([1.0, 1.0, 1.0])) == pytest.approx(1.0)
    assert jain(np.array([3.0, 1.0])) == pytest.approx(0.8)
    assert jain(np.array([1.0, 0.0, 0.0, 0.0])) == pytest.approx(0.25)
    assert jain(np.array([0.0, 0.0])) is None


def test_spread_gives_ratio_and_cv_and_no_ratio_when_someone_got_nothing() -> None:
    assert spread(np.array([3.0, 1.0])) == {"jain": 0.8, "max_min_ratio": 3.0, "cv": 0.5}
    assert spread(np.array([2.0, 0.0]))["max_min_ratio"] is None


# c1 connected 0-10 s, c2 5-10 s. 30 messages every 1/3 s: the first 15 all to c1, then c2 gets
# two of every three. Deliveries 20 : 10 match connected time 10 s : 5 s, so the run is fair.
def weighted_rows() -> list[str]:
    rows = consumer_rows("w0-c1", 0, 10 * S) + consumer_rows("w0-c2", 5 * S, 10 * S)
    for k in range(30):
        consumer = "w0-c1" if k < 15 or k % 3 == 0 else "w0-c2"
        rows += message(f"w0-p1/{k}", k * S // 3, consumer=consumer)
    return rows


def test_expected_share_follows_connected_time() -> None:
    fairness = summary_of(*weighted_rows(), options=Options(window_s=5))["fairness"]
    assert fairness["applies"] is True
    assert fairness["jain"] == pytest.approx(1.0)
    assert fairness["max_min_ratio"] == pytest.approx(1.0)
    rows = {r["consumer"]: r for r in fairness["consumers"]}
    assert rows["w0-c1"]["delivered"] == 20 and rows["w0-c2"]["delivered"] == 10
    assert rows["w0-c1"]["share"] == pytest.approx(2 / 3, abs=1e-6)
    assert rows["w0-c1"]["expected_share"] == pytest.approx(2 / 3, abs=1e-6)
    assert rows["w0-c2"]["connected_s"] == pytest.approx(5.0)
    assert rows["w0-c2"]["expected"] == pytest.approx(10.0)


def test_fairness_per_window() -> None:
    windows = summary_of(*weighted_rows(), options=Options(window_s=5))["fairness"]["windows"]
    assert windows["start_s"] == [0.0, 5.0, 10.0]
    assert windows["jain"][0] == pytest.approx(1.0)  # only c1 was connected
    assert windows["jain"][1] == pytest.approx(0.9)  # c1 5 and c2 10 in the same 5 s
    assert windows["max_min_ratio"][1] == pytest.approx(2.0)
    assert windows["cv"][1] == pytest.approx(1 / 3, abs=1e-6)  # rates 1/s and 2/s: sd 0.5, mean 1.5
    assert windows["jain"][2] is windows["max_min_ratio"][2] is windows["cv"][2] is None  # nothing delivered


def test_fairness_per_window_weighs_each_consumer_by_its_connected_time_in_the_window() -> None:
    # One 10 s window: c1 connected 10 s got 20, c2 connected 5 s got 10: even per second connected.
    windows = summary_of(*weighted_rows(), options=Options(window_s=10))["fairness"]["windows"]
    assert windows["start_s"] == [0.0, 10.0]
    assert windows["jain"][0] == pytest.approx(1.0)
    assert windows["max_min_ratio"][0] == pytest.approx(1.0) and windows["cv"][0] == pytest.approx(0.0)


def test_deliveries_stamped_before_the_start_count_in_the_first_window() -> None:
    # c2's clock is behind: its delivery is stamped before the first send.
    rows = [*message("w0-p1/0", 10 * S, consumer="w0-c1"), *message("w0-p1/1", 10 * S + 10, consumer="w0-c2")]
    rows[-2:] = [f"{9 * S},deliver,w0-c2,w0-p1/1,m-w0-p1/1,,0,10,", f"{9 * S + 1},ack,w0-c2,w0-p1/1,m-w0-p1/1,,,,"]
    fairness = summary_of(*rows, options=Options(window_s=5))["fairness"]
    assert fairness["jain"] == pytest.approx(1.0)
    assert fairness["windows"]["jain"][0] == pytest.approx(1.0)


def one_consumer_gets_everything(hold_ns: int) -> list[str]:
    """c1 and c2 connected 0-20 s; 40 messages, all to c1, each acked ``hold_ns`` after delivery."""
    rows = consumer_rows("w0-c1", 0, 20 * S) + consumer_rows("w0-c2", 0, 20 * S)
    for k in range(40):
        t = k * S // 2
        uid = f"w0-p1/{k}"
        rows += [
            f"{t},send,w0-p1,{uid},,{t},,10,",
            f"{t + 1},publish_ok,w0-p1,{uid},m{k},,,,",
            f"{t + 2},deliver,w0-c1,{uid},m{k},,0,10,",
            f"{t + 2 + hold_ns},ack,w0-c1,{uid},m{k},,,,",
        ]
    return rows


def test_a_silent_consumer_with_a_standing_backlog_is_starved() -> None:
    fairness = summary_of(*one_consumer_gets_everything(hold_ns=S))["fairness"]
    assert fairness["starved"] == 1 and fairness["starved_consumers"] == ["w0-c2"]
    rows = {r["consumer"]: r for r in fairness["consumers"]}
    assert rows["w0-c2"]["longest_starved_s"] == pytest.approx(20.0, abs=0.01)
    assert fairness["jain"] == pytest.approx(0.5)
    assert fairness["max_min_ratio"] is None


def test_silence_while_the_backlog_is_empty_is_not_starvation() -> None:
    fairness = summary_of(*one_consumer_gets_everything(hold_ns=1000))["fairness"]
    assert fairness["starved"] == 0
    rows = {r["consumer"]: r for r in fairness["consumers"]}
    assert rows["w0-c2"]["longest_starved_s"] == pytest.approx(40 * 1000 / 1e9)


def test_starvation_threshold_is_an_option() -> None:
    rows = one_consumer_gets_everything(hold_ns=S)
    assert summary_of(*rows, options=Options(starvation_s=30))["fairness"]["starved"] == 0


# Two workers' files: concatenated, their deliveries are out of time order (c1, c1, then w1-c1, w1-c1).
WORKER_0 = (
    "10,send,w0-p1,w0-p1/0,,10,,10,",
    "11,publish_ok,w0-p1,w0-p1/0,m0,,,,",
    "12,deliver,w0-c1,w0-p1/0,m0,,0,10,",
    "13,ack,w0-c1,w0-p1/0,m0,,,,",
    "20,send,w0-p1,w0-p1/1,,20,,10,",
    "21,publish_ok,w0-p1,w0-p1/1,m1,,,,",
    "30,send,w0-p1,w0-p1/2,,30,,10,",
    "31,publish_ok,w0-p1,w0-p1/2,m2,,,,",
    "32,deliver,w0-c1,w0-p1/2,m2,,0,10,",
    "33,ack,w0-c1,w0-p1/2,m2,,,,",
    "40,send,w0-p1,w0-p1/3,,40,,10,",
    "41,publish_ok,w0-p1,w0-p1/3,m3,,,,",
)
WORKER_1 = (
    "22,deliver,w1-c1,w0-p1/1,m1,,0,10,",
    "23,ack,w1-c1,w0-p1/1,m1,,,,",
    "42,deliver,w1-c1,w0-p1/3,m3,,0,10,",
    "43,ack,w1-c1,w0-p1/3,m3,,,,",
)


def test_round_robin_runs_follow_delivery_time_across_worker_files(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", {"w0-1.csv": text(*WORKER_0), "w1-1.csv": text(*WORKER_1)}, manifest())
    robin = summarize(load_run(run))["fairness"]["round_robin"]
    assert robin == {"runs": 4, "mean": 1.0, "p50": 1, "p99": 1, "max": 1}


def test_round_robin_run_lengths() -> None:
    actors = np.array([1, 1, 2, 1, 2, 2, 2])
    runs = round_robin(np.arange(7, dtype=np.int64), actors)
    assert runs == {"runs": 4, "mean": 1.75, "p50": 1, "p99": 3, "max": 3}
    assert round_robin(np.zeros(0, dtype=np.int64), np.zeros(0))["runs"] == 0


def test_fairness_is_not_judged_for_exclusive() -> None:
    summary = summary_of(*message("w0-p1/0", 10), settings={"subscription_type": "Exclusive"})
    assert summary["fairness"]["applies"] is False
