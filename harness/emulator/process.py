"""Run the emulator server as a process: listen, say ``ready <url>``, stop on SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import errno
import signal
import sys

from harness.emulator.server import EmulatorServer, serve
from harness.errors import HarnessError


def run(host: str, port: int) -> int:
    """Serve until a signal arrives; returns the process exit code."""
    return asyncio.run(_serve_until_signal(host, port))


async def _serve_until_signal(host: str, port: int) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        runner, url = await serve(host, port, EmulatorServer())
    except OSError as exc:
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise HarnessError(f"cannot listen on {host}:{port}: {reason}") from None
    sys.stdout.write(f"ready {url}\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0
