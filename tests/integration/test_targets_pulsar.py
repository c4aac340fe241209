"""The pulsar target against the emulator's plain /ws/v2 side: a bearer token; an endpoint that dies mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from harness.analysis.load import load_run
from harness.events import schema
from harness.targets.emulator import EmulatorProcess
from tests.conftest import ROOT, run_cli, timeout
from tests.integration.locust_runs import assert_every_published_message_acked_once, rows, run_locust
from tests.integration.tcp_forwarder import TcpForwarder

pytestmark = pytest.mark.slow

PASSWORD = "pw-pulsar-4411"


def login(base_url: str, tenant: str) -> str:
    """A JWT for ``tenant`` from the emulator's ``/_open/auth``."""
    body = json.dumps({"tenant": tenant, "username": "root", "password": PASSWORD}).encode()
    request = urllib.request.Request(f"{base_url}/_open/auth", body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
        jwt: str = json.loads(response.read())["jwt"]
        return jwt


def test_pulsar_target_with_a_bearer_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMHARNESS_EMULATOR_PASSWORD", PASSWORD)  # the emulator accepts only this password
    with EmulatorProcess(["--require-auth"]) as emulator:
        token = login(emulator.url, "public")  # the tenant of the default topic persistent://public/...
        ws_url = emulator.url.replace("http://", "ws://")
        args = ["--target", "pulsar", "--url", ws_url, "--duration", "2", "--rate", "50"]
        result, run = run_locust(args, tmp_path / "reports", env={"STREAMHARNESS_TOKEN": token})
        refused = run_cli(["load", "--target", "pulsar", "--url", ws_url, "--reports-dir", str(tmp_path / "no")])
    assert result.returncode == 0, result.stderr[-2000:]
    assert_every_published_message_acked_once(run)
    assert run.manifest["target"]["kind"] == "pulsar" and run.manifest["settings"]["token"] == "***"
    assert token not in (run.path / "run.json").read_text() and token not in result.stdout + result.stderr
    assert refused.returncode == 2 and "refused: HTTP 401" in refused.stderr  # without the token


def producers_refused(reports: Path) -> bool:
    """Whether both producers have logged a refused connect attempt."""
    text = "".join(f.read_text() for f in reports.glob("*/events/*.csv"))
    return all(f",error,w0-p{n},,,,,,connect: " in text for n in (1, 2))


def test_producers_reconnect_to_a_restarted_endpoint_and_record_indeterminate_sends(tmp_path: Path) -> None:
    first, second = EmulatorProcess(), EmulatorProcess()
    first.start()
    # the "restarted" endpoint is up before the first dies: the producers' reconnect then depends on
    # their backoff alone, not on how long an emulator takes to start (seconds on a slow machine,
    # which pushed the reconnect past the backoff's later, longer waits and out of the run)
    second.start()
    forwarder = TcpForwarder(int(first.url.rsplit(":", 1)[1]))
    reports = tmp_path / "reports"
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless", "--only-summary"]
    command += ["--target", "pulsar", "--url", f"ws://127.0.0.1:{forwarder.port}", "--duration", "8"]
    command += ["--rate", "100", "--drain-timeout", "3", "--reports-dir", str(reports)]
    locust = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout(30)
        while time.monotonic() < deadline:
            files = list(reports.glob("*/events/*.csv"))
            if files and files[0].stat().st_size > 20_000:
                break
            time.sleep(0.1)
        assert first.pid is not None
        os.kill(first.pid, signal.SIGSTOP)  # frozen: sends go out, no publish ack comes back
        time.sleep(0.5)
        os.kill(first.pid, signal.SIGKILL)  # then gone: every socket drops with sends unanswered
        first.stop()
        # each producer tries at once and is refused; only then is the endpoint "restarted" where the
        # clients look, so every producer has a gap to make up for, at least its first backoff long
        refused_by = time.monotonic() + timeout(30)
        while time.monotonic() < refused_by and not producers_refused(reports):
            time.sleep(0.05)
        forwarder.backend_port = int(second.url.rsplit(":", 1)[1])
        locust.wait(timeout(90))
    finally:
        if locust.poll() is None:
            locust.kill()
            locust.wait()
        forwarder.close()
        first.stop()
        second.stop()
    (run_dir,) = list(reports.iterdir())
    run = load_run(run_dir)
    gaps = rows(run, schema.DISCONNECT)
    producer_gaps = gaps[gaps["actor"].str.contains("-p") & gaps["detail"].str.startswith("closed by peer")]
    assert set(producer_gaps["actor"]) == {"w0-p1", "w0-p2"}
    assert producer_gaps["detail"].str.contains(r"\d+ sends without a publish ack \(indeterminate\)").all()
    connects = rows(run, schema.CONNECT)
    assert (connects[connects["actor"].str.contains("-p")].groupby("actor").size() >= 2).all()
    checked = run_cli(["analyze", str(run_dir), "--json", "--no-report"])
    delivery = json.loads(checked.stdout)["delivery"]
    assert delivery["indeterminate"] + delivery["recovered"] > 0, delivery
    # the burst that made up for the gap is the endpoint's doing, not a saturated generator
    generator = run.manifest["generator"]
    assert generator["saturated"] is False and generator["catch_up_sends"] > 0, generator


def test_a_generator_that_cannot_keep_its_schedule_is_marked_saturated(tmp_path: Path) -> None:
    """One process asked for far more than it can send falls further behind every second: the run
    record says saturated and the run ends with the warning, however fast the machine."""
    with EmulatorProcess() as emulator:
        ws_url = emulator.url.replace("http://", "ws://")
        args = ["--target", "pulsar", "--url", ws_url, "--duration", "4", "--rate", "200000"]
        args += ["--producers", "1", "--consumers", "0", "--drain-timeout", "1"]
        result, run = run_locust(args, tmp_path / "reports", seconds=120)
    generator = run.manifest["generator"]
    assert generator["saturated"] is True and generator["catch_up_sends"] == 0, generator
    assert generator["late_sends"] > generator["per_worker"]["w0"]["sends"] / 2, generator
    assert "the load generator was the bottleneck" in result.stdout + result.stderr
