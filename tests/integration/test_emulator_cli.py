"""``streamharness emulator`` as a user runs it: the ready line, clean signals, one-line errors."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.targets.emulator import EmulatorProcess
from tests.conftest import run_cli, timeout
from tests.integration.emulator_client import close_all, consumer, producer, receive, send


@pytest.fixture(autouse=True)
def _close_sockets() -> Iterator[None]:
    yield
    close_all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fault", "explode=0.1"], "kind must be one of"),
        (["--fault", "drop=2"], "fraction must be in (0, 1]"),
        (["--fault", "drop"], "drop needs a fraction"),
        (["--fault", "delay=0.1"], "delay needs ms=N"),
        (["--fault", "disconnect,every=soon"], "duration"),
        (["--fault", "skew=0.5,favour=c1"], "unknown option"),
        (["--fault", "drop=0.1", "--fault", "drop=0.2"], "more than once"),
        (["--profile", "mars-north"], "unknown profile"),
        (["--tls"], "--tls and --cert-dir DIR go together"),
        (["--port", "70000"], "port out of range"),
        (["--host", ""], "--host: must name an address"),
        (["--round-robin-batch", "0"], "must be from 1 to 2147483647"),
        (["--round-robin-batch", "2147483648"], "must be from 1 to 2147483647"),
        (["--backlog-bytes", "0"], "must be from 1 to"),
        (["--backlog-bytes", "1GB"], "not a number"),
        (["--queue-model", "layered"], "--queue-model"),
        (["--pulsar-version", "3.0"], "--pulsar-version"),
        (["--timers", "fast"], "--timers"),
    ],
)
def test_bad_flags_give_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run_cli(["emulator", "--port", "0", *args], seconds=60)
    assert result.returncode == 2
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


def test_a_bad_profile_file_is_one_line(tmp_path: Path) -> None:
    profile = tmp_path / "region.toml"
    profile.write_text("latency_ms = 5\nspeed = 3\n")
    result = run_cli(["emulator", "--port", "0", "--profile", str(profile)], seconds=60)
    assert result.returncode == 2 and "unknown keys speed" in result.stderr and "Traceback" not in result.stderr


def test_an_ipv6_host_is_bracketed_in_the_ready_url() -> None:
    with EmulatorProcess(host="::1") as emulator:
        assert emulator.url.startswith("http://[::1]:")
        p, c = producer(emulator.url.replace("http://", "ws://")), consumer(emulator.url.replace("http://", "ws://"))
        assert send(p, 1)["result"] == "ok" and receive(c)["properties"] == {"n": "1"}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signals_stop_it_cleanly(signum: signal.Signals) -> None:
    emulator = EmulatorProcess()
    url = emulator.start()
    assert url.startswith("http://127.0.0.1:")
    assert emulator.process is not None
    emulator.process.send_signal(signum)
    assert emulator.process.wait(timeout(10)) == 0
    emulator.stop()


def test_tls_writes_the_ca_and_says_https(tmp_path: Path) -> None:
    with EmulatorProcess(["--tls", "--cert-dir", str(tmp_path)]) as emulator:
        assert emulator.url.startswith("https://127.0.0.1:")
    assert {p.name for p in tmp_path.iterdir()} == {"ca.pem", "ca-key.pem", "server.pem", "server-key.pem"}
    assert (tmp_path / "server-key.pem").stat().st_mode & 0o077 == 0


def test_a_profile_file_adds_its_latency_to_every_frame(tmp_path: Path) -> None:
    profile = tmp_path / "far.toml"
    profile.write_text("latency_ms = 150\njitter_ms = 0\nservice_rate = 0\n")
    with EmulatorProcess(["--profile", str(profile)]) as emulator:
        base = emulator.url.replace("http://", "ws://")
        c = consumer(base)
        p = producer(base)
        started = time.monotonic()
        assert send(p, 1)["result"] == "ok"
        acked = time.monotonic()
        assert receive(c)["properties"] == {"n": "1"}
        delivered = time.monotonic()
    # Lower bounds only: the profile's latency is added, whatever else the machine is doing.
    assert acked - started >= 0.15 and delivered - started >= 0.15


def test_builtin_profiles_start() -> None:
    for name in ("us-east", "eu-west", "ap-south"):
        with EmulatorProcess(["--profile", name]) as emulator:
            assert emulator.url
