"""Child processes the run starts (the emulator, pulsar-lite, Locust's master): tied to the parent, stopped by PID."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

#: Linux prctl option: the signal a child gets when its parent dies.
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child, before exec: on Linux, get SIGTERM when the parent dies, however it dies."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_child(process: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM by PID, SIGKILL if it lingers past ``timeout``; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def last_line(output: bytes) -> str:
    """A child's last non-blank line of output (at most 200 characters): why it ended, for a one-line error."""
    lines = [line.strip() for line in output.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now, for a child to bind."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
