"""Bad input for the binary-protocol targets: exit code 2, one line on stderr, nothing else, no run folder.

Cases run ``streamharness load`` (and Locust's own entry) as processes of their own, bounded in time,
like tests/integration/test_bad_inputs.py. Two need a server: a pulsar-lite broker (a real one,
for the topic name the official client rejects) and a refusing broker.

pulsar-lite 0.2.0 has no authentication (its config has no auth keys and its ``--help`` names none),
so no local broker can refuse a token for real. :class:`RefusingBroker` answers the client's
CONNECT the way a Pulsar broker answers a token it does not accept: a CommandError with
ServerError.AuthenticationError, then it closes (Pulsar's ServerCnx.handleConnect; field numbers from
PulsarApi.proto). pulsar-client 3.13 treats that as a lost connection and retries until its operation
timeout, so the user sees the timeout line that names refused credentials among its causes; the
mapping of a pulsar.AuthenticationError itself is tested in tests/unit/test_targets_native.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.targets.pulsar_lite import BINARY_ENV, LiteProcess
from tests.conftest import ROOT, free_port, timeout

LOCUST_START_LINE = re.compile(r"^\[[\d\- :,]+\] \S+/INFO/locust\.main: Starting Locust \S+$")

#: PulsarApi.proto: BaseCommand.Type.ERROR = 14 (BaseCommand.error is field 14); ServerError.AuthenticationError = 3.
ERROR_TYPE = 14
AUTHENTICATION_ERROR = 3


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
    return _varint(number << 3 | wire_type) + payload


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _field(number, 2, _varint(len(payload)) + payload)


def authentication_error_frame(message: str) -> bytes:
    """A Pulsar frame: [total size][command size][BaseCommand{ERROR, error: {-1, AuthenticationError, message}}]."""
    error = _field(1, 0, _varint(2**64 - 1)) + _field(2, 0, _varint(AUTHENTICATION_ERROR))
    error += _length_delimited(3, message.encode())
    command = _field(1, 0, _varint(ERROR_TYPE)) + _length_delimited(ERROR_TYPE, error)
    return struct.pack(">II", len(command) + 4, len(command)) + command


class RefusingBroker:
    """A loopback server that refuses every client's CONNECT with an AuthenticationError."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port: int = self.server.getsockname()[1]
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        frame = authentication_error_frame("Failed to authenticate: token refused")
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.settimeout(2)
                if conn.recv(65536):  # the client's CONNECT, with its token
                    conn.sendall(frame)
                    self.refused += 1

    def __enter__(self) -> RefusingBroker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout(5))
        self.server.close()


@dataclass(frozen=True)
class Case:
    """One bad input: the entry ("cli" or "locust"), its arguments ({lite}, {refusing}, {closed} filled in)."""

    entry: str
    args: tuple[str, ...]
    fragment: str
    env: dict[str, str] = field(default_factory=dict)


def load(*args: str, fragment: str, env: dict[str, str] | None = None) -> Case:
    return Case("cli", ("load", *args), fragment, env or {})


def locust(*args: str, fragment: str, env: dict[str, str] | None = None) -> Case:
    return Case("locust", args, fragment, env or {})


BAD_TENANT_TOPIC = "persistent://no such tenant/default/x"

CASES: dict[str, Case] = {
    "unknown-scheme": load("--target", "pulsar", "--url", "kafka://127.0.0.1:9092", fragment="--url must start with"),
    "pulsar-scheme-for-the-emulator": load(
        "--target", "emulator", "--url", "pulsar://127.0.0.1:6650", fragment="--url must start with ws://"
    ),
    "websocket-url-for-pulsar-lite": load(
        "--target", "pulsar-lite", "--url", "ws://127.0.0.1:8080", fragment="must start with pulsar:// or pulsar+ssl://"
    ),
    "batching-on-websockets": load(
        "--target", "pulsar", "--url", "ws://127.0.0.1:8080", "--batching", fragment="--batching needs the binary"
    ),
    "ack-timeout-under-the-cpp-client-least": load(
        "--target", "pulsar-lite", "--ack-timeout-ms", "5000", fragment="at least 10000 with the binary protocol"
    ),
    "pull-mode-on-the-binary-protocol": load(
        "--target", "pulsar", "--url", "pulsar://127.0.0.1:6650", "--pull-mode", fragment="--pull-mode is a WebSocket"
    ),
    "unreachable-pulsar-host": load(
        "--target", "pulsar", "--url", "pulsar://127.0.0.1:{closed}", fragment="cannot reach the Pulsar broker at"
    ),
    "unresolvable-pulsar-host": load(
        "--target", "pulsar", "--url", "pulsar://no-such-host.invalid:6650", fragment="cannot reach the Pulsar broker"
    ),
    "refused-token": load(
        "--target",
        "pulsar",
        "--url",
        "pulsar://127.0.0.1:{refusing}",
        fragment="refused credentials",
        env={"STREAMHARNESS_TOKEN": "eyJ.refused.token"},
    ),
    "rejected-topic-name": load(
        "--target", "pulsar", "--url", "{lite}", "--topic", BAD_TENANT_TOPIC, fragment="is not a valid Pulsar topic"
    ),
    "rejected-topic-name-embedded": load(
        "--target", "pulsar-lite", "--topic", BAD_TENANT_TOPIC, fragment="is not a valid Pulsar topic name"
    ),
    "missing-binary": load(
        "--target", "pulsar-lite", fragment="(pip install pulsar-lite)", env={BINARY_ENV: "/nonexistent/pulsar-lite"}
    ),
    "locust-missing-binary": locust(
        "--target", "pulsar-lite", fragment="(pip install pulsar-lite)", env={BINARY_ENV: "/nonexistent/pulsar-lite"}
    ),
    "locust-rejected-topic-name-embedded": locust(
        "--target", "pulsar-lite", "--topic", BAD_TENANT_TOPIC, fragment="is not a valid Pulsar topic name"
    ),
}


@pytest.fixture(scope="module")
def lite() -> Iterator[LiteProcess]:
    with LiteProcess() as process:
        yield process


@pytest.fixture(scope="module")
def refusing() -> Iterator[RefusingBroker]:
    with RefusingBroker() as broker:
        yield broker


def command(case: Case, values: dict[str, str], reports: Path) -> list[str]:
    args = [arg.format(**values) if "{" in arg else arg for arg in case.args]
    args += ["--reports-dir", str(reports)]
    if case.entry == "locust":
        return [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless", *args]
    return [sys.executable, "-m", "harness", *args]


@pytest.mark.parametrize("name", list(CASES))
def test_bad_native_input_is_one_line_and_exit_code_2(
    name: str, tmp_path: Path, lite: LiteProcess, refusing: RefusingBroker
) -> None:
    case = CASES[name]
    values = {"lite": lite.url, "refusing": str(refusing.port), "closed": str(free_port())}
    reports = tmp_path / "reports"
    scratch = tmp_path / "tmp"  # where an embedded broker's data folder would be left behind
    scratch.mkdir()
    env = {**os.environ, **case.env, "TMPDIR": str(scratch)}
    env.pop("STREAMHARNESS_DEBUG", None)
    refused_before = refusing.refused
    result = subprocess.run(
        command(case, values, reports), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout(60)
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if case.entry == "locust":
        lines = [line for line in lines if not LOCUST_START_LINE.match(line)]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("streamharness: error: ") and case.fragment in lines[0], lines[0]
    assert "eyJ.refused.token" not in result.stdout + result.stderr
    assert not reports.exists() or list(reports.rglob("*")) == [], "a refused run left a folder behind"
    assert list(scratch.iterdir()) == [], "a broker's data folder was left behind"
    if name == "refused-token":  # the official client really met the broker's refusal
        assert refusing.refused > refused_before
