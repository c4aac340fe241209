"""Bad input to every command: one line on stderr, exit code 2, no traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.conftest import run_cli


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_emulator_port_in_use() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(["emulator", "--port", str(port)], seconds=20)
    assert_one_line_error(result, f"127.0.0.1:{port}", "address already in use")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["load", "--subscription-type", "Sharded"], "--subscription-type"),
        (["load", "--rate", "-1"], "--rate"),
        (["load", "--rate", "fast"], "--rate"),
        (["load", "--bogus"], "--bogus"),
        (["nonsense"], "nonsense"),
    ],
)
def test_bad_options(args: list[str], fragment: str) -> None:
    assert_one_line_error(run_cli(args, seconds=20), fragment)


def test_unreachable_endpoint(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before use: nothing listens there
    result = run_cli(
        ["load", "--target", "pulsar", "--url", f"ws://127.0.0.1:{port}", "--reports-dir", str(tmp_path)], seconds=60
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert errors == [
        f"streamharness: error: cannot reach 127.0.0.1:{port} (ws://127.0.0.1:{port}): Connection refused"
    ]
    assert "Traceback" not in result.stderr


def test_analyze_missing_folder(tmp_path: Path) -> None:
    assert_one_line_error(run_cli(["analyze", str(tmp_path / "nope")]), "no such run folder")
