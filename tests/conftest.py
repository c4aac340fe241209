"""Shared fixtures: a real emulator process on a free loopback port, and CLI runners.

No test imports Locust into the pytest process (its gevent monkey-patching would leak into
every other test); Locust runs in subprocesses, as users run it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from harness.targets.emulator import EmulatorProcess

ROOT = Path(__file__).resolve().parent.parent

#: Scale every timeout on slow or noisy machines: STREAMHARNESS_TEST_TIMEOUT_FACTOR=3
TIMEOUT_FACTOR = float(os.environ.get("STREAMHARNESS_TEST_TIMEOUT_FACTOR", "1"))


def timeout(seconds: float) -> float:
    return seconds * TIMEOUT_FACTOR


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked slow run first: with xdist handing out tests one or two at a time (``make test``'s
    ``--maxschedchunk``), the long runs start while short tests fill the gaps, not as one worker's tail."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: same order within each group


def pytest_configure(config: pytest.Config) -> None:
    """Any ``pytest -n`` hands tests out two at a time: xdist's default first batch (a quarter of each
    worker's share, in collection order) would give the first worker nearly every slow test."""
    if hasattr(config.option, "maxschedchunk") and config.option.maxschedchunk is None:
        config.option.maxschedchunk = 2


@pytest.fixture
def emulator() -> Iterator[EmulatorProcess]:
    """A fresh emulator per test, stopped by PID afterwards."""
    with EmulatorProcess() as process:
        yield process


@pytest.fixture
def ws_url(emulator: EmulatorProcess) -> str:
    return emulator.url.replace("http://", "ws://")


def run_cli(args: Sequence[str], cwd: Path | None = None, seconds: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``python -m harness ARGS`` to completion, bounded in time."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout(seconds),
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def own_master_port() -> list[str]:
    """Locust options that give a local master and its workers a port of their own, not the shared 5557.

    Tests run in parallel (and other checkouts' tests may run on the same machine): two
    distributed runs must not meet on one port.
    """
    port = str(free_port())
    return [
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        port,
        "--master-host",
        "127.0.0.1",
        "--master-port",
        port,
    ]
