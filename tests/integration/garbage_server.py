"""A real WebSocket server on loopback that accepts producers and consumers and answers nonsense.

Producers get a frame that is not JSON for every publish; consumers get one. The harness must
count each as a Locust failure and keep its receive loops alive, never fail silently.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import WSMsgType, web


async def _handle(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    if "/consumer/" in request.path:
        await ws.send_str("this is not a message frame")
    async for msg in ws:
        if msg.type == WSMsgType.TEXT and "/producer/" in request.path:
            await ws.send_str("{not json")
    return ws


@contextmanager
def garbage_server() -> Iterator[str]:
    """Serve on 127.0.0.1:<free port> in a thread until the block ends; yields ``ws://127.0.0.1:PORT``."""
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", _handle)
    runner = web.AppRunner(app, handle_signals=False)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
