"""Install the published SDKs for the interop tests, once: later runs reuse what is there.

jsc8 1.1.0 goes into tests/interop/node_modules from the npm registry; pyC8 1.1.2 into its own
virtualenv tests/interop/.venv-pyc8 from PyPI (it pins websocket-client 0.57.0, which must not
reach the harness's environment). A stamp file is written only after a complete install.

The tests run in several pytest workers at once, and more than one may need an SDK on a fresh
checkout; each installer therefore holds an exclusive ``flock`` on its own lock file while it
checks and installs, so the second worker waits and then finds the finished install.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
JSC8_VERSION, PYC8_VERSION = "1.1.0", "1.1.2"
PYC8_VENV = HERE / ".venv-pyc8"
INSTALL_TIMEOUT_S = 300
#: A waiting worker gives up after this long: the holder's own steps are bounded by INSTALL_TIMEOUT_S.
LOCK_WAIT_S = 3 * INSTALL_TIMEOUT_S
LOCK_POLL_S = 0.2


class InstallError(RuntimeError):
    pass


@contextlib.contextmanager
def _exclusive(name: str) -> Iterator[None]:
    """Hold ``tests/interop/.install-<name>.lock`` exclusively (released when the file closes)."""
    with (HERE / f".install-{name}.lock").open("a") as handle:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise InstallError(f"another process held the {name} install lock for {LOCK_WAIT_S} s") from None
                time.sleep(LOCK_POLL_S)
        yield


def _run(command: list[str], what: str) -> None:
    try:
        result = subprocess.run(command, cwd=HERE, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallError(f"{what} failed: {exc}") from None
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise InstallError(f"{what} failed with exit code {result.returncode}: {' | '.join(tail)}")


def jsc8() -> Path:
    """The installed jsc8 package folder (installing it on first use)."""
    package = HERE / "node_modules" / "jsc8" / "package.json"
    with _exclusive("jsc8"):
        if package.is_file() and json.loads(package.read_text())["version"] == JSC8_VERSION:
            return package.parent
        npm = shutil.which("npm")
        if npm is None:
            raise InstallError("npm is not installed; the jsc8 interop test needs Node.js and npm")
        _run([npm, "install", "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error"], "npm install jsc8")
        return package.parent


def pyc8_python() -> Path:
    """The interpreter of the pyC8 virtualenv (creating it on first use)."""
    python = PYC8_VENV / "bin" / "python"
    stamp = PYC8_VENV / f".pyc8-{PYC8_VERSION}"
    with _exclusive("pyc8"):
        if stamp.is_file() and python.is_file():
            return python
        shutil.rmtree(PYC8_VENV, ignore_errors=True)
        base = getattr(sys, "_base_executable", sys.executable)
        _run([base, "-m", "venv", str(PYC8_VENV)], "creating the pyC8 virtualenv")
        _run([str(python), "-m", "pip", "install", "--quiet", f"pyC8=={PYC8_VERSION}"], "pip install pyC8")
        stamp.touch()
        return python
