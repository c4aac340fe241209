"""The real, published SDKs against the emulator over TLS: jsc8 1.1.0 under Node, pyC8 1.1.2 in its own venv.

Both run the seed's Shared flow unmodified; only the base URL (the URL-userinfo recipe of the
protocol reference), the API key and the CA environment variables point them at the emulator.
Each message must reach exactly one of the two consumers, and both consumers must get some.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from harness.targets.base import TargetError
from harness.targets.emulator import EmulatorProcess
from tests.conftest import timeout
from tests.interop import installs

MESSAGES = 40
API_KEY = "interop_tenant.interopkey.SECRET"
#: pyC8 always talks to port 443; if another emulator holds it on 127.0.0.1, use another loopback address.
LOOPBACK_HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")


@pytest.fixture(scope="module")
def tls_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmulatorProcess, Path]]:
    cert_dir = tmp_path_factory.mktemp("tls")
    errors = []
    for host in LOOPBACK_HOSTS:
        process = EmulatorProcess(["--tls", "--cert-dir", str(cert_dir), "--extra-port", "443"], host=host)
        try:
            process.start(timeout(30))
        except TargetError as exc:
            errors.append(f"{host}: {exc}")
            continue
        try:
            yield process, cert_dir / "ca.pem"
        finally:
            process.stop()
        return
    pytest.fail("no loopback address could serve port 443 (the pyC8 recipe needs it): " + "; ".join(errors))


def _check(result: dict[str, Any]) -> None:
    c1, c2 = result["received"]["c1"], result["received"]["c2"]
    assert result["publishAcks"] == MESSAGES and result["publishErrors"] == 0
    assert c1 and c2, "both Shared consumers must receive messages"
    assert not set(c1) & set(c2), "no message may reach both consumers"
    assert len(c1) + len(c2) == MESSAGES == len(set(c1) | set(c2))
    assert set(c1) | set(c2) == {f"message {i}" for i in range(MESSAGES)}


def _run(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout(60), env={**os.environ, **env}, cwd=installs.HERE
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines, result.stderr[-2000:]
    parsed: dict[str, Any] = orjson.loads(lines[-1])
    return parsed


def test_jsc8_seed_flow_over_tls(tls_emulator: tuple[EmulatorProcess, Path]) -> None:
    emulator, ca = tls_emulator
    installs.jsc8()
    node = shutil.which("node")
    assert node is not None, "the jsc8 interop test needs Node.js"
    base = emulator.url.replace("https://", "https://x@") + "/"
    env = {"BASE_URL": base, "API_KEY": API_KEY, "NODE_EXTRA_CA_CERTS": str(ca), "MESSAGES": str(MESSAGES)}
    _check(_run([node, str(installs.HERE / "jsc8_shared.js")], env))


def test_pyc8_shared_flow_over_tls(tls_emulator: tuple[EmulatorProcess, Path]) -> None:
    emulator, ca = tls_emulator
    python = installs.pyc8_python()
    host = emulator.url.split("://", 1)[1].rsplit(":", 1)[0]
    env = {
        "EMULATOR_HOST": host,
        "API_KEY": API_KEY,
        "REQUESTS_CA_BUNDLE": str(ca),
        "WEBSOCKET_CLIENT_CA_BUNDLE": str(ca),
        "MESSAGES": str(MESSAGES),
    }
    _check(_run([str(python), str(installs.HERE / "pyc8_shared.py")], env))


def test_pyc8_venv_keeps_its_websocket_client_pin_to_itself() -> None:
    import websocket

    python = installs.pyc8_python()
    probe = "import websocket; print(websocket.__version__)"
    pinned = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=timeout(30))
    assert pinned.stdout.strip() == "0.57.0"
    assert websocket.__version__ != "0.57.0"
