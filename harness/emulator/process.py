"""Run the emulator server as a process: listen, say ``ready <url>``, stop on SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import sys

from harness.emulator.server import EmulatorOptions, EmulatorServer, serve
from harness.errors import HarnessError

log = logging.getLogger("harness.emulator")


def run(options: EmulatorOptions) -> int:
    """Serve until a signal arrives; returns the process exit code."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="emulator: %(message)s")
    return asyncio.run(_serve_until_signal(options))


async def _serve_until_signal(options: EmulatorOptions) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = EmulatorServer(options)
    try:
        runner, url = await serve(server)
    except OSError as exc:
        ports = ", ".join(f"{options.host}:{p}" for p in [options.port, *options.extra_ports])
        reason = {errno.EADDRINUSE: "address already in use", errno.EACCES: "permission denied"}.get(
            exc.errno or 0, exc.strerror or str(exc)
        )
        raise HarnessError(f"cannot listen on {ports}: {reason}") from None
    log.info(
        "emulating Pulsar %s's WebSocket proxy (queue model %s, %s timers)",
        options.pulsar_version,
        options.queue_model,
        options.timers,
    )
    sys.stdout.write(f"ready {url}\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0
