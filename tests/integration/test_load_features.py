"""Load-side features against the emulator, with Locust for real: each run's event log must prove them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.analysis.load import load_run
from harness.drivers.ws_connection import ConnectError, WsConnection
from harness.events import schema
from harness.targets.base import Endpoint
from harness.targets.emulator import EmulatorProcess
from tests.conftest import ROOT, run_cli, timeout
from tests.integration.garbage_server import garbage_server
from tests.integration.locust_runs import assert_every_published_message_acked_once, rows, run_locust

pytestmark = pytest.mark.slow


def test_churning_consumers_get_their_held_messages_redelivered(tmp_path: Path) -> None:
    args = ["--consumers", "3", "--producers", "2", "--rate", "150", "--duration", "4", "--churn-interval", "1"]
    args += ["--processing-ms", "12", "--receiver-queue-size", "30"]  # consumers fall behind: each holds messages
    result, run = run_locust(args, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert run.manifest["completed"] is True and run.manifest["drained"] is True
    assert_every_published_message_acked_once(run)
    churns = rows(run, schema.DISCONNECT)
    churns = churns[churns["detail"].str.startswith("churn")]
    assert len(churns) >= 3, "every consumer should have churned at least once"
    deliveries = rows(run, schema.DELIVER)
    again = deliveries[deliveries.duplicated("uid", keep="first")]
    assert len(again) > 0, "churn with messages held must cause redeliveries"
    # every extra delivery is explained by the earlier holder leaving before it acked
    first = deliveries.drop_duplicates("uid")
    first_holder = dict(zip(first["uid"], zip(first["actor"], first["t_ns"], strict=True), strict=True))
    for uid, t_ns in zip(again["uid"], again["t_ns"], strict=True):
        holder, delivered_at = first_holder[uid]
        left = churns[(churns["actor"] == holder) & (churns["t_ns"] > delivered_at) & (churns["t_ns"] < t_ns)]
        assert len(left) >= 1, f"{uid} redelivered without its holder {holder} leaving"
    connects = rows(run, schema.CONNECT).groupby("actor").size()
    assert (connects[connects.index.str.contains("-c")] >= 2).all(), "each churn is followed by a reconnect"


def test_drain_lets_slow_consumers_empty_the_backlog(tmp_path: Path) -> None:
    # one consumer at ~150 msg/s against 300 msg/s offered: a backlog builds while producing
    args = ["--consumers", "1", "--producers", "2", "--rate", "150", "--duration", "2", "--processing-ms", "6"]
    args += ["--drain-timeout", "30"]
    result, run = run_locust(args, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = run.manifest
    assert manifest["drained"] is True and manifest["completed"] is True
    assert manifest["drain_ended_ns"] > manifest["producing_stopped_ns"]
    deliveries = rows(run, schema.DELIVER)
    assert (deliveries["t_ns"] > manifest["producing_stopped_ns"]).sum() > 50, "the drain delivered the backlog"
    assert (rows(run, schema.SEND)["t_ns"] <= manifest["producing_stopped_ns"] + 50_000_000).all()
    assert_every_published_message_acked_once(run)


def test_two_local_workers_yield_one_merged_correct_event_log(tmp_path: Path) -> None:
    args = ["--processes", "2", "--producers", "3", "--consumers", "3", "--rate", "60", "--duration", "3"]
    result, run = run_locust(args, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(f.name.split("-")[0] for f in run.files) == ["w0", "w1"]
    assert run.problems == []
    assert_every_published_message_acked_once(run)
    actors = set(run.events["actor"])
    assert {a.split("-")[0] for a in actors if a != "controller"} == {"w0", "w1"}
    producers = {a for a in actors if "-p" in a}
    consumers = {a for a in actors if "-c" in a}
    assert len(producers) == 3 and len(consumers) == 3, actors
    for process_file in run.files:  # each worker's rows landed in its own file, whole
        tag = process_file.name.split("-")[0]
        assert process_file.read_text().count(f",{tag}-") > 0
    manifest = run.manifest
    assert manifest["role"] == "master" and manifest["completed"] is True and manifest["drained"] is True
    assert set(manifest["clock_offsets_ns"]) == {"w0", "w1"} == set(manifest["clock_uncertainty_ns"])
    assert all(abs(v) < 50_000_000 for v in manifest["clock_offsets_ns"].values())  # one host: near zero
    assert set(manifest["generator"]["per_worker"]) == {"w0", "w1"}
    assert manifest["events_recorded"] == len(run.events)
    last = run.events.sort_values("t_ns").groupby("actor").tail(1)
    stopped = last[last["actor"] != "controller"]
    assert (stopped["kind"] == schema.DISCONNECT).all() and stopped["detail"].str.startswith("user stopped").all()


def test_events_kept_on_workers_are_merged_by_collect(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    args = ["--processes", "2", "--consumers", "2", "--rate", "40", "--duration", "2", "--events-to", "local"]
    result, run = run_locust(args, reports)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(run.files) == 2 and run.problems == []
    assert_every_published_message_acked_once(run)
    # as if the files were on the workers' machines: move them away, then collect them back
    elsewhere = tmp_path / "worker-copy" / run.path.name / "events"
    shutil.copytree(run.path / "events", elsewhere)
    shutil.rmtree(run.path / "events")
    collected = run_cli(["collect", str(run.path), str(elsewhere.parent)])
    assert collected.returncode == 0, collected.stderr
    assert sorted(p.name for p in (run.path / "events").iterdir()) == sorted(f.name for f in run.files)
    clash = tmp_path / "clash" / run.path.name / "events"
    clash.mkdir(parents=True)
    (clash / run.files[0].name).write_text(",".join(schema.COLUMNS) + "\n")
    refused = run_cli(["collect", str(run.path), str(clash.parent)])
    assert refused.returncode == 2 and "refusing to overwrite" in refused.stderr


def test_payload_header_stamp_and_keys_with_locust_request_names(tmp_path: Path) -> None:
    args = ["--stamp", "header", "--keys", "3", "--size", "200", "--payload", "random", "--duration", "2"]
    args += ["--rate", "50", "--csv", str(tmp_path / "stats")]
    result, run = run_locust(args, tmp_path / "reports")
    assert result.returncode == 0, result.stderr[-2000:]
    assert_every_published_message_acked_once(run)
    deliveries = rows(run, schema.DELIVER)
    assert (deliveries["detail"] == "").all() and (deliveries["size"] == 200).all()
    # Locust's own statistics: one "publish" per publish ack, one "deliver" per delivery, no failure
    stats = {line.split(",")[1]: line.split(",") for line in (tmp_path / "stats_stats.csv").read_text().splitlines()}
    assert int(stats["publish"][2]) == len(rows(run, schema.PUBLISH_OK)) and stats["publish"][0] == "WS"
    assert int(stats["deliver"][2]) == len(deliveries) and stats["deliver"][0] == "WS"
    assert int(stats["publish"][3]) == int(stats["deliver"][3]) == 0


def test_step_profile_changes_the_offered_rate_per_stage(tmp_path: Path) -> None:
    args = ["--rate-profile", "step", "--step-rates", "20,80", "--step-seconds", "2", "--producers", "1"]
    result, run = run_locust(args, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    stages = run.manifest["stages"]
    assert [s["rate"] for s in stages] == [20.0, 80.0]
    sends = rows(run, schema.SEND)
    boundary = stages[1]["started_ns"]
    first, second = (sends["t_ns"] < boundary).sum(), (sends["t_ns"] >= boundary).sum()
    assert 30 <= first <= 50 and 140 <= second <= 180, (first, second)
    assert_every_published_message_acked_once(run)


def consumer_connected(reports: Path) -> bool:
    """Whether a consumer's connect row is in the run's event log yet."""
    return any(",connect,w0-c" in f.read_text() for f in reports.glob("*/events/*.csv"))


def test_exclusive_subscription_with_one_consumer(tmp_path: Path) -> None:
    with EmulatorProcess() as emulator:
        ws_url = emulator.url.replace("http://", "ws://")
        path = "/ws/v2/consumer/persistent/public/default/streamharness/streamharness?subscriptionType="
        args = ["--url", emulator.url, "--subscription-type", "Exclusive", "--consumers", "1", "--duration", "3"]
        command = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless", "--only-summary"]
        command += [*args, "--rate", "50", "--reports-dir", str(tmp_path)]
        locust = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        refusals: dict[str, int | None] = {}
        try:
            # the harness's consumer holds the subscription once its connect row is written: waiting
            # for the log file alone and a second more was a race a slow machine could lose
            deadline = time.monotonic() + timeout(30)
            while time.monotonic() < deadline and not consumer_connected(tmp_path):
                time.sleep(0.1)
            assert consumer_connected(tmp_path), "the run's consumer never connected"
            for sub_type in ("Exclusive", "Shared"):  # a second consumer of either type is turned away
                try:
                    WsConnection(Endpoint(ws_url + path + sub_type)).close()
                    refusals[sub_type] = None
                except ConnectError as exc:
                    refusals[sub_type] = exc.status
            _, stderr = locust.communicate(timeout=timeout(60))
        finally:
            if locust.poll() is None:
                locust.kill()
                locust.communicate()
        WsConnection(Endpoint(ws_url + path + "Shared")).close()  # with the run's consumer gone, it is free
    assert refusals == {"Exclusive": 409, "Shared": 409}
    assert locust.returncode == 0, stderr[-2000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    run = load_run(run_dir)
    assert_every_published_message_acked_once(run)
    assert set(rows(run, schema.CONNECT)["detail"]) >= {"Exclusive"}


def test_bad_frames_are_counted_as_failures_and_the_receive_loops_go_on(tmp_path: Path) -> None:
    with garbage_server() as url:
        args = ["--target", "pulsar", "--url", url, "--duration", "2", "--rate", "20", "--drain-timeout", "1"]
        result, run = run_locust([*args, "--csv", str(tmp_path / "stats")], tmp_path / "reports")
    assert result.returncode == 1, "failures must fail the Locust run"
    stats = (tmp_path / "stats_stats.csv").read_text()
    receive = next(line for line in stats.splitlines() if ",receive," in line).split(",")
    assert int(receive[3]) == int(receive[2]) >= 40  # every bad frame is a failed "receive" request
    errors = rows(run, schema.ERROR)
    assert errors["detail"].str.startswith("receive: WireError").sum() >= 40
    assert run.manifest["drained"] is False  # nothing was acknowledged, and the run says so


def test_options_come_from_locust_conf_and_pyproject(tmp_path: Path) -> None:
    (tmp_path / "locust.conf").write_text("rate = 40\nproducers = 1\nduration = 1\n")
    (tmp_path / "pyproject.toml").write_text('[tool.locust]\nconsumers = 3\nsubscription = "from-pyproject"\n')
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless", "--only-summary"]
    result = subprocess.run(
        [*command, "--reports-dir", str(tmp_path / "reports"), "--run-id", "conf"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout(60),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    settings = json.loads((tmp_path / "reports" / "conf" / "run.json").read_text())["settings"]
    assert (settings["rate"], settings["producers"], settings["duration"]) == (40.0, 1, 1.0)
    assert (settings["consumers"], settings["subscription"]) == (3, "from-pyproject")


def test_a_receive_loop_that_dies_is_a_failure_an_error_row_and_a_closed_socket(tmp_path: Path) -> None:
    locustfile = Path(__file__).with_name("broken_receiver_locustfile.py")
    args = ["--duration", "3", "--rate", "50", "--csv", str(tmp_path / "stats")]
    result, run = run_locust(args, tmp_path / "reports", locustfile=locustfile)
    assert result.returncode == 1, "the failures must fail the Locust run"
    stats = (tmp_path / "stats_stats.csv").read_text()
    receive = next(line for line in stats.splitlines() if ",receive," in line).split(",")
    assert int(receive[3]) == 2, stats  # one failure per consumer, each counted
    errors = rows(run, schema.ERROR)
    died = errors[errors["detail"].str.startswith("receive loop failed: ReceiverBug")]
    assert sorted(died["actor"]) == ["w0-c1", "w0-c2"]
    gaps = rows(run, schema.DISCONNECT)
    for actor in died["actor"]:  # its socket was closed at once and the consumer came back
        assert (gaps[gaps["actor"] == actor]["detail"].str.startswith("receive loop failed")).sum() == 1
        assert (rows(run, schema.CONNECT)["actor"] == actor).sum() == 2
    assert run.manifest["drained"] is True
    assert_every_published_message_acked_once(run)
