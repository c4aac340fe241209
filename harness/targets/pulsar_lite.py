"""An embedded pulsar-lite broker: a real Pulsar binary-protocol broker started for the run.

pulsar-lite (PyPI ``pulsar-lite``, a Rust re-implementation of the Pulsar broker) ships its
binary inside the wheel. ``prepare`` on the master (or the only process) starts it on 127.0.0.1
and a free port, in a temporary data folder removed when it stops, with a config file: its
default also opens a metrics endpoint on 0.0.0.0:8080, which must never happen, so metrics are
off (see /work/shared/reference/brokers.md §1a). Workers get the running broker's URL from the
master and start nothing.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.settings import LoadSettings
from harness.targets.base import TargetError
from harness.targets.child import die_with_parent, free_port, last_line, stop_child
from harness.targets.native import NativePulsarTarget, probe_producer

#: Points the launcher at another pulsar-lite binary (a build of one's own, or a test's missing one).
BINARY_ENV = "STREAMHARNESS_PULSAR_LITE_BINARY"
PACKAGE = "pulsar-lite"
READY_TIMEOUT_S = 15.0
#: Attempts with a fresh free port when another process took the one chosen before the broker bound it.
PORT_ATTEMPTS = 3
INSTALL_HINT = f"pip install {PACKAGE}"


def lite_binary() -> Path:
    """The pulsar-lite executable: ``$STREAMHARNESS_PULSAR_LITE_BINARY``, else the one in the installed package."""
    override = os.environ.get(BINARY_ENV)
    if override:
        path = Path(override)
    else:
        spec = importlib.util.find_spec("pulsar_lite")  # locates the package without running its __init__
        if spec is None or not spec.origin:
            raise TargetError(
                f"--target pulsar-lite needs the {PACKAGE} package, which is not installed ({INSTALL_HINT})"
            )
        path = Path(spec.origin).parent / "bin" / "pulsar-lite"
    if not path.is_file() or not os.access(path, os.X_OK):
        raise TargetError(f"--target pulsar-lite: no pulsar-lite broker executable at {path} ({INSTALL_HINT})")
    return path


def lite_version() -> str:
    """The installed pulsar-lite's version, for run.json."""
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def lite_config(port: int, db_path: Path) -> str:
    """The broker's TOML config: loopback only, metrics off (its default binds 0.0.0.0:8080)."""
    return (
        f'addr = "127.0.0.1:{port}"\n'
        f"db_path = {_toml_string(str(db_path))}\n"
        "default_partitions = 0\n"
        'log_level = "warn"\n'
        "[metrics]\n"
        "enabled = false\n"
        'addr = "127.0.0.1:0"\n'
    )


def _toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML ones)."""
    import json

    return json.dumps(text)


class LiteProcess:
    """A pulsar-lite child on 127.0.0.1 with a data folder of its own; stopped by PID, folder removed."""

    def __init__(self, binary: Path | None = None) -> None:
        self.binary = binary
        self.process: subprocess.Popen[bytes] | None = None
        self.folder: Path | None = None
        self.url = ""
        self.port = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, timeout: float = READY_TIMEOUT_S) -> str:
        """Start the broker and wait until its port accepts connections; its ``pulsar://`` URL."""
        binary = self.binary or lite_binary()
        for attempt in range(PORT_ATTEMPTS):
            try:
                return self._start_once(binary, timeout)
            except _PortTaken:
                if attempt == PORT_ATTEMPTS - 1:
                    raise TargetError("pulsar-lite could not bind a free port on 127.0.0.1") from None
        raise AssertionError("unreachable")

    def _start_once(self, binary: Path, timeout: float) -> str:
        self.folder = Path(tempfile.mkdtemp(prefix="streamharness-pulsar-lite-"))
        self.port = free_port()
        config = self.folder / "pulsar-lite.toml"
        config.write_text(lite_config(self.port, self.folder / "data" / "db"))
        log_path = self.folder / "broker.log"
        try:
            with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
                self.process = subprocess.Popen(
                    [str(binary), "--config", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.folder,
                    preexec_fn=die_with_parent,
                )
        except OSError as exc:
            self.stop()
            raise TargetError(f"cannot start pulsar-lite ({binary}): {exc.strerror or exc}") from None
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                last = _last_line(log_path)
                self.stop()
                if "in use" in last.lower():
                    raise _PortTaken
                raise TargetError(
                    f"pulsar-lite exited with code {code} before it accepted connections"
                    + (f": {last}" if last else "")
                )
            if _accepts(self.port):
                self.url = f"pulsar://127.0.0.1:{self.port}"
                return self.url
            if time.monotonic() > deadline:
                self.stop()
                raise TargetError(
                    f"pulsar-lite did not accept connections on 127.0.0.1:{self.port} within {timeout:g} s"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM by PID, SIGKILL if it lingers; the data folder goes. Returns the exit code."""
        process, self.process = self.process, None
        code = stop_child(process, timeout) if process is not None else None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
        return code

    def __enter__(self) -> LiteProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _PortTaken(Exception):
    """The broker could not bind the port chosen for it: another process took it first."""


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.25):
            return True
    except OSError:
        return False


def _last_line(path: Path) -> str:
    try:
        return last_line(path.read_bytes())
    except OSError:
        return ""


class PulsarLiteTarget(NativePulsarTarget):
    """pulsar-lite, started by ``prepare`` unless ``--url`` names one running already (the master's)."""

    name = "pulsar-lite"
    distinct_consumer_ids = True  # pulsar-lite 0.2.0 keys a subscription's consumers by the client's ids

    def __init__(self, settings: LoadSettings) -> None:
        super().__init__(settings)
        self.process: LiteProcess | None = None

    def check(self) -> None:
        if self._url:
            super().check()
        else:
            lite_binary()  # a missing broker is refused before Locust starts

    def check_access(self) -> None:
        """The running broker's probe; before one is started, a throwaway broker's (a fraction of a second).

        So a topic name the client rejects, or a binary that will not run here, is refused before
        Locust starts, in one line, like every other bad input.
        """
        if self._url:
            super().check_access()
            return
        with LiteProcess() as broker:
            probe_producer(replace(self._endpoint(), service_url=broker.url))

    def prepare(self) -> None:
        if not self._url:
            self.process = LiteProcess()
            self._url = self.process.start()
        try:
            super().prepare()
        except TargetError:
            self.close()  # the run ends here: the broker and its data folder go with it
            raise

    def close(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "version": lite_version(), "embedded": self.process is not None}
