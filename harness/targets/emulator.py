"""The embedded emulator: started as a child process for the run, stopped with it.

The emulator runs on asyncio and Locust on gevent, so they live in separate processes (which
also gives each its own core). The child prints ``ready <url>`` once it accepts connections.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time

from harness.settings import LoadSettings
from harness.targets.base import TargetError, websocket_base
from harness.targets.child import die_with_parent, stop_child
from harness.targets.pulsar import PulsarTarget

READY_TIMEOUT_S = 30.0


class EmulatorProcess:
    """A ``streamharness emulator`` child process on 127.0.0.1 and a free port."""

    def __init__(self, extra_args: list[str] | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.command = [sys.executable, "-m", "harness", "emulator", "--host", host, "--port", str(port)]
        self.command += extra_args or []
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = READY_TIMEOUT_S) -> str:
        """Start the child and wait for its ready line; returns its base URL (``http://...``)."""
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent
        )
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        buffer = b""
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise TargetError(f"the emulator did not become ready within {timeout:g} s")
            readable, _, _ = select.select([fd], [], [], min(remaining, 0.5))
            if readable:
                chunk = os.read(fd, 4096)
                if not chunk:
                    code = self.stop()
                    raise TargetError(f"the emulator exited with code {code} before it was ready")
                buffer += chunk
        line = buffer.split(b"\n", 1)[0].decode(errors="replace").strip()
        if not line.startswith("ready "):
            self.stop()
            raise TargetError(f"the emulator printed {line!r} instead of its ready line")
        self.url = line.split(" ", 1)[1]
        return self.url

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM by PID, then SIGKILL if it lingers; returns the exit code."""
        process = self.process
        if process is None:
            return None
        code = stop_child(process, timeout)
        if process.stdout is not None:
            process.stdout.close()
        return code

    def __enter__(self) -> EmulatorProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class EmulatorTarget(PulsarTarget):
    """The Pulsar-compatible emulator; started by ``prepare`` unless a URL is already set."""

    name = "emulator"

    def __init__(self, settings: LoadSettings) -> None:
        super().__init__(settings)
        self.process: EmulatorProcess | None = None

    def check(self) -> None:
        if self._base:
            super().check()

    def check_access(self) -> None:
        if self._base:  # an embedded emulator, not started yet, takes any credentials
            super().check_access()

    def prepare(self) -> None:
        if self._base:
            super().prepare()
            return
        self.process = EmulatorProcess()
        self._base = websocket_base(self.process.start())
        super().prepare()

    def close(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
