"""Per-second rates, the backlog over time, drain time and achieved against offered rate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from harness.analysis.messages import gather
from harness.analysis.summary import analyse, summarize
from harness.analysis.throughput import backlog
from tests.checker_logs import MS, S, loaded, log_of, summary_of


def message(k: int, sent: int, acked: int) -> list[str]:
    uid = f"w0-p1/{k}"
    return [
        f"{sent},send,w0-p1,{uid},,{sent},,10,",
        f"{sent + MS},publish_ok,w0-p1,{uid},m{k},,,,",
        f"{acked - 1},deliver,w0-c1,{uid},m{k},,0,10,",
        f"{acked},ack,w0-c1,{uid},m{k},,,,",
    ]


# Three messages sent at 0, 0.5 and 1.2 s; the last one acked only at 2.5 s.
ROWS = [*message(0, 0, 100 * MS), *message(1, S // 2, S // 2 + 100 * MS), *message(2, 1200 * MS, 2500 * MS)]
RUN: dict[str, Any] = {
    "producing_started_ns": 0,
    "producing_stopped_ns": 2 * S,
    "settings": {"rate": 1.0, "producers": 1},
}


def test_per_second_rates_and_backlog() -> None:
    series = summary_of(*ROWS, **RUN)["throughput"]["per_second"]
    assert series["t_s"] == [0, 1, 2]
    assert series["send"] == [2, 1, 0]
    assert series["publish_ok"] == [2, 1, 0]
    assert series["deliver"] == [2, 0, 1]
    assert series["ack"] == [2, 0, 1]
    assert series["backlog"] == [0, 1, 0]  # at 1 s, 2 s and the end (2.5 s)


def test_drain_achieved_and_offered() -> None:
    throughput = summary_of(*ROWS, **RUN)["throughput"]
    assert throughput["offered_rate"] == 1.0
    assert throughput["achieved_send_rate"] == 1.5  # 3 sends in 2 s of producing
    assert throughput["achieved_ratio"] == 1.5
    assert throughput["drain_s"] == pytest.approx(0.5)
    assert throughput["peak_backlog"] == 1 and throughput["final_backlog"] == 0


def test_backlog_step_function_and_busy_time() -> None:
    queue = backlog(gather(log_of(*ROWS)))
    at = queue.at(np.array([0, S // 2 + 50 * MS, 2 * S, 3 * S], dtype=np.int64))
    assert at.tolist() == [1, 1, 1, 0]
    busy = queue.busy(np.array([0, 2 * S], dtype=np.int64), np.array([S, 3 * S], dtype=np.int64))
    assert busy.tolist() == [200 * MS, 500 * MS]


def test_unacked_messages_stay_in_the_backlog() -> None:
    rows = ["0,send,w0-p1,w0-p1/0,,0,,10,", "1,publish_ok,w0-p1,w0-p1/0,m0,,,,"]
    throughput = summary_of(*rows)["throughput"]
    assert throughput["final_backlog"] == 1
    mixed = summary_of(*ROWS, *[r.replace("w0-p1/0", "w0-p1/9") for r in rows])["throughput"]
    assert mixed["final_backlog"] == 1 and mixed["peak_backlog"] == 2


def test_events_stamped_before_the_start_count_in_the_first_second() -> None:
    early = [f"{-S // 2},deliver,w0-c1,w0-p1/0,m0,,0,10,", f"{-S // 2 + 1},ack,w0-c1,w0-p1/0,m0,,,,"]
    rows = [*ROWS[:2], *early, *ROWS[4:]]
    series = summary_of(*rows, **RUN)["throughput"]["per_second"]
    assert series["deliver"] == [2, 0, 1] and series["ack"] == [2, 0, 1]


def test_analyse_hands_back_the_summary_with_the_messages_and_backlog_it_was_computed_from() -> None:
    run = loaded(*ROWS, **RUN)
    summary, messages, queue = analyse(run)
    assert summary == summarize(run)
    assert messages.count == 3 and messages.n_deliver.tolist() == [1, 1, 1]
    fresh = backlog(gather(run.log))
    assert queue.times.tolist() == fresh.times.tolist() and queue.level.tolist() == fresh.level.tolist()
    assert int(queue.level.max()) == summary["throughput"]["peak_backlog"]
