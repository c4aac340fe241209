"""Signal a running command once it is under way, and make sure nothing it started outlives it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from tests.conftest import timeout


@dataclass
class Interrupted:
    out: str
    err: str
    returncode: int
    descendants: list[psutil.Process]  # every process it had started when signalled
    survivors: list[psutil.Process]  # those still alive after it ended (killed since)


def interrupt_when(
    process: subprocess.Popen[str], ready: Callable[[], bool], signum: int, ready_s: float = 60, exit_s: float = 60
) -> Interrupted:
    """Wait (bounded) until ``ready()``, send ``signum``, wait for the process; kill whatever is left."""
    descendants: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + timeout(ready_s)
        while time.monotonic() < deadline and not ready():
            time.sleep(0.1)
        descendants = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signum)
        out, err = process.communicate(timeout=timeout(exit_s))
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    _, alive = psutil.wait_procs(descendants, timeout=timeout(10))
    for leftover in alive:  # never leave a run going, whatever the test found
        leftover.kill()
    return Interrupted(out, err, process.returncode, descendants, alive)
