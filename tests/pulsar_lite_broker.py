"""A real pulsar-lite broker for tests: 127.0.0.1, a free port, a temporary data folder, metrics off.

pulsar-lite started without a config opens a metrics endpoint on 0.0.0.0:8080 (reference/brokers.md
§1a), so it always gets a config file of ours. It is stopped by PID, never by name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import pulsar_lite

READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0


def binary() -> Path:
    """The executable shipped inside the pulsar_lite wheel."""
    return Path(pulsar_lite.__file__).parent / "bin" / "pulsar-lite"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PulsarLite:
    """``pulsar-lite --config <ours>``; ``url`` is its ``pulsar://`` service URL, ``pid`` its process."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"pulsar://127.0.0.1:{self.port}"
        self._folder = tempfile.TemporaryDirectory(prefix="pulsar-lite-")
        folder = Path(self._folder.name)
        self.config = folder / "pulsar-lite.toml"
        self.config.write_text(
            f'addr = "127.0.0.1:{self.port}"\n'
            f'db_path = "{folder / "db"}"\n'
            "default_partitions = 0\n"
            'log_level = "warn"\n'
            "[metrics]\n"
            "enabled = false\n"
            'addr = "127.0.0.1:0"\n'
        )
        self.log = folder / "broker.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> PulsarLite:
        """Start (or restart, same port and data) and wait until the port accepts connections."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(binary()), "--config", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pulsar-lite exited with {self.process.returncode}: {self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"pulsar-lite did not listen on {self.port} within {READY_TIMEOUT_S} s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the broker by PID and reap it (SIGKILL by default: the connection just breaks)."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, sig)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def __enter__(self) -> PulsarLite:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.kill()
        self._folder.cleanup()
