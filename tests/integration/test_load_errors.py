"""Bad input and refusing endpoints: one clear line and exit code 2 before any load; no secret leaks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.analysis.load import load_run
from harness.events import schema
from tests.conftest import ROOT, own_master_port, run_cli, timeout
from tests.integration.refusing_server import refusing_server
from tests.integration.test_cli import assert_one_line_error

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--subscription-type", "Sharded"], "--subscription-type must be one of"),
        (["--rate", "-3"], "--rate must be greater than 0"),
        (["--size", "900000"], "over the endpoint's 1048576-byte frame limit"),
        (["--target", "gdn", "--url", "https://gdn.example"], "--target gdn needs credentials"),
        (["--nack-probability", "1.5"], "--nack-probability"),
        (["--rate-profile", "step", "--step-rates", "10,x"], "--step-rates"),
        (["--target", "pulsar", "--url", "ws://127.0.0.1:99999"], "--url 'ws://127.0.0.1:99999' has a bad port"),
        (["--target", "pulsar", "--url", "ws://"], "--url 'ws://' has no host"),
    ],
)
def test_bad_input_is_one_line_before_any_load(args: list[str], fragment: str, tmp_path: Path) -> None:
    assert_one_line_error(run_cli(["load", *args, "--reports-dir", str(tmp_path)]), fragment)
    # the same through Locust itself: the one line, exit 2, and no run folder
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless", *args]
    result = subprocess.run(
        [*command, "--reports-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=timeout(60)
    )
    assert result.returncode == 2, result.stderr
    # Locust's own parser checks choices and numbers first ("locust: error: ..."), the harness the rest
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert fragment.split()[0] in errors[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("status", "meaning"),
    [
        (401, "the credentials were refused"),
        (403, "permission denied"),
        (404, "not found"),
        (409, "conflict"),
        (429, "rate-limited"),
    ],
)
def test_refusing_gdn_endpoint_is_one_line(status: int, meaning: str, tmp_path: Path) -> None:
    with refusing_server(status) as url:
        env = {**os.environ, "STREAMHARNESS_API_KEY": "demo.key.s3cretvalue"}
        proc = subprocess.run(
            [sys.executable, "-m", "harness", "load", "--target", "gdn", "--url", url, "--reports-dir", str(tmp_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout(60),
            env=env,
        )
    assert_one_line_error(proc, f"HTTP {status} {meaning}", "listing streams of fabric _system")
    assert "s3cretvalue" not in proc.stderr + proc.stdout
    assert list(tmp_path.iterdir()) == [], "refused before Locust started"


@pytest.mark.parametrize("status", [401, 403, 404, 409, 429])
def test_refused_websocket_handshake_is_one_line(status: int, tmp_path: Path) -> None:
    with refusing_server(status, "Failed to authenticate") as url:
        result = run_cli(
            ["load", "--target", "pulsar", "--url", url.replace("http", "ws"), "--reports-dir", str(tmp_path)]
        )
    assert_one_line_error(result, f"refused: HTTP {status}")
    assert list(tmp_path.iterdir()) == [], "refused before Locust started"


def test_a_bad_environment_default_or_thresholds_file_is_one_line_before_any_load(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    env = {**os.environ, "STREAMHARNESS_RATE": "abc"}
    for command in (["load", "--duration", "2"], ["analyze", str(tmp_path)]):
        result = subprocess.run(
            [sys.executable, "-m", "harness", *command], cwd=ROOT, capture_output=True, text=True, env=env
        )
        assert_one_line_error(result, "STREAMHARNESS_RATE: not a valid value for --rate")
    thresholds = tmp_path / "thresholds.toml"
    thresholds.write_text("bogus = 1\n")
    result = run_cli(["load", "--thresholds", str(thresholds), "--duration", "2", "--reports-dir", str(reports)])
    assert_one_line_error(result, str(thresholds), "unknown threshold 'bogus'")
    assert not reports.exists(), "no load ran"


def test_secrets_stay_out_of_run_json_and_command_lines(tmp_path: Path) -> None:
    secret = "tok-9f8e7d6c5b4a"
    env = {**os.environ, "STREAMHARNESS_TOKEN": secret}
    command = [sys.executable, "-m", "harness", "load", "--duration", "1", "--rate", "20"]
    command += ["--reports-dir", str(tmp_path), "--run-id", "s"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen_cmdlines: list[str] = []
    deadline = time.monotonic() + timeout(60)
    while process.poll() is None and time.monotonic() < deadline:
        for child in psutil.Process(process.pid).children(recursive=True):
            try:
                seen_cmdlines.append(" ".join(child.cmdline()))
            except psutil.Error:
                continue
        time.sleep(0.2)
    out, err = process.communicate(timeout=timeout(60))
    assert process.returncode == 0, err
    assert seen_cmdlines and not any(secret in line for line in seen_cmdlines)
    manifest = json.loads((tmp_path / "s" / "run.json").read_text())
    assert manifest["settings"]["token"] == "***"
    everything = b"".join(p.read_bytes() for p in (tmp_path / "s").rglob("*") if p.is_file())
    assert secret.encode() not in everything + out.encode() + err.encode()


def test_a_crashed_worker_leaves_readable_events_an_incomplete_run_and_no_stuck_drain(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless", "--processes", "2"]
    command += ["--duration", "4", "--rate", "100", "--drain-timeout", "40", "--reports-dir", str(tmp_path)]
    command += own_master_port()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout(30)
        victim = None
        while victim is None and time.monotonic() < deadline:
            runs = [p for p in tmp_path.iterdir() if p.is_dir()]
            files = list((runs[0] / "events").glob("w1-*.csv")) if runs else []
            if files and files[0].stat().st_size > 20_000:
                victim = int(files[0].stem.split("-")[1])
            time.sleep(0.1)
        assert victim is not None, "worker w1 never shipped events"
        os.kill(victim, signal.SIGKILL)
        process.wait(timeout(90))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    run = load_run(run_dir)
    assert run.manifest["completed"] is False
    assert [record["worker"] for record in run.manifest["workers_lost"]] == ["w1"]
    assert run.manifest["workers_lost"][0]["lost_ns"] > run.manifest["producing_started_ns"]
    # the lost worker's last status (producing, its sends outstanding) no longer holds the drain open
    assert run.manifest["drained"] is True
    assert [p for p in run.problems if "corrupt" in p] == []
    assert (run.events["actor"].str.startswith("w1-")).sum() > 100, "the crashed worker's rows were kept"
    assert (run.events["kind"] == schema.SEND).sum() > 0
