"""The ceiling of this stack: a minimal aiohttp WebSocket forwarder, for the emulator benchmark's ratio.

Producers' frames are acknowledged and forwarded round robin to the consumers with a message id
prepended; consumers' acks are read and dropped. No parsing, no state: the same aiohttp
receive and send work per message as the emulator, and nothing else.
Run as ``python -m tests.bench.forwarder``; prints ``ready http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import sys

from aiohttp import WSMsgType, web

consumers: list[web.WebSocketResponse] = []
ids = itertools.count()


async def handle(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False, decode_text=False)
    await ws.prepare(request)
    if "/consumer/" in request.path:
        consumers.append(ws)
        async for _ in ws:
            pass
        consumers.remove(ws)
        return ws
    turn = 0
    async for msg in ws:
        if msg.type != WSMsgType.TEXT or not consumers:
            continue
        n = b"%d" % next(ids)
        turn = (turn + 1) % len(consumers)
        try:
            await ws.send_frame(b'{"result":"ok","messageId":"' + n + b'"}', WSMsgType.TEXT)
            await consumers[turn].send_frame(b'{"messageId":"' + n + b'",' + msg.data[1:], WSMsgType.TEXT)
        except ConnectionError:
            break  # the benchmark client hung up
    return ws


async def main() -> None:
    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sys.stdout.write(f"ready http://127.0.0.1:{runner.addresses[0][1]}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
