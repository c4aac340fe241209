"""The emulator's aiohttp server: GDN REST, Pulsar WebSockets, a tick loop, optional TLS.

One catch-all route: the path is normalised (doubled leading slashes collapse, as the seed's
jsc8 flow sends ``//_ws/...``), WebSocket upgrades go to :mod:`harness.emulator.sockets`,
everything else to :mod:`harness.emulator.rest`. Under ``/_ws/ws/v2/`` (the GDN gateway) a
socket needs credentials and an existing stream; under ``/ws/v2/`` (a plain Pulsar proxy, which
the load harness uses) topics are created on first use and no credentials are needed unless
``require_auth`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import traceback
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import http_exceptions, web

from harness import wire
from harness.emulator import sockets, tls
from harness.emulator.auth import Authenticator, Principal
from harness.emulator.config import BrokerConfig
from harness.emulator.connection import Connection
from harness.emulator.core import Broker
from harness.emulator.faults import FaultInjector, FaultSpec
from harness.emulator.profiles import RegionProfile
from harness.emulator.ratelog import RateLimitedLog
from harness.emulator.rest import GdnApi
from harness.emulator.truth import TruthLog

log = logging.getLogger("harness.emulator")
#: aiohttp's own request logging goes here (see serve()) to pass through RequestContentWithheld first.
http_log = logging.getLogger("harness.emulator.http")

#: Tick period while timers, rate caps or faults are pending, and while idle.
BUSY_TICK_S, IDLE_TICK_S = 0.005, 0.05
#: How long shutdown waits for clients to answer the close frames.
SHUTDOWN_WAIT_S = 0.5


@dataclass
class EmulatorOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    extra_ports: list[int] = field(default_factory=list)
    cert_dir: Path | None = None  # TLS when set
    profile: RegionProfile | None = None
    faults: list[FaultSpec] = field(default_factory=list)
    fault_seed: int | None = None
    truth_log: Path | None = None
    round_robin_batch: int = 20
    max_backlog_messages: int = 2_000_000
    max_backlog_bytes: int = 1 << 30
    required_key: str | None = None
    required_password: str | None = None
    require_auth: bool = False  # also on plain /ws/v2/ paths
    otp_ttl_s: float = 60.0
    queue_model: str = "proxy"  # config.QUEUE_MODELS
    pulsar_version: str = "2.8"  # config.PULSAR_VERSIONS
    timers: str = "client"  # config.TIMER_MODELS


class EmulatorServer:
    """The broker, its REST API and WebSocket sessions, as one aiohttp application."""

    def __init__(self, options: EmulatorOptions | None = None) -> None:
        self.options = options = options or EmulatorOptions()
        self.clock = time.time
        seed = options.fault_seed if options.fault_seed is not None else random.SystemRandom().getrandbits(64)
        self.rng = random.Random(seed)
        self.truth = TruthLog(options.truth_log) if options.truth_log else None
        faults = None
        if options.faults:
            sink = self.truth.write if self.truth else (lambda record: None)
            faults = FaultInjector(options.faults, random.Random(seed), sink)
        profile = options.profile
        config = BrokerConfig(
            round_robin_batch=options.round_robin_batch,
            max_backlog_messages=options.max_backlog_messages,
            max_backlog_bytes=options.max_backlog_bytes,
            service_rate=profile.service_rate if profile else 0.0,
            queue_model=options.queue_model,
            pulsar_version=options.pulsar_version,
            timers=options.timers,
        )
        self.broker = Broker(self.clock, config, faults)
        self.auth = Authenticator(self.clock, None, options.required_key, options.required_password, options.otp_ttl_s)
        bad_requests = RateLimitedLog(log)
        self.api = GdnApi(self.broker, self.auth, bad_requests)
        self.connections: dict[int, Connection] = {}
        self._route_scheduled = False
        self.session = sockets.Session(
            self.broker, self.route, self._route_soon, self.connections, self._new_connection, bad_requests
        )
        self.app = web.Application(client_max_size=wire.MAX_TEXT_FRAME_BYTES)
        self.app.router.add_route("*", "/{tail:.*}", self.handle)
        self.app.on_startup.append(self._start_ticking)
        self.app.on_shutdown.append(self._close_sockets)
        self.app.on_cleanup.append(self._stop_ticking)
        self._ticker: asyncio.Task[None] | None = None
        self._open: weakref.WeakSet[Connection] = weakref.WeakSet()

    def _new_connection(self, ws: web.WebSocketResponse) -> Connection:
        conn = Connection(ws, self.clock, self.options.profile, self.rng)
        self._open.add(conn)
        return conn

    async def _close_sockets(self, _: web.Application) -> None:
        """On shutdown, close every socket at once (going away) instead of waiting for each client."""
        closes = [conn.ws.close(code=1001, message=b"emulator shutting down") for conn in self._open]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*closes, return_exceptions=True), SHUTDOWN_WAIT_S)

    # --- requests ------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.raw_path.split("?", 1)[0].lstrip("/")
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._socket(request, path)
        response = await self.api.handle(request, path)
        self.route()  # a REST publish or an admin call may have deliveries or closes for the sockets
        return response if response is not None else self.api.refuse(request, path, 404, "unknown path")

    async def _socket(self, request: web.Request, path: str) -> web.StreamResponse:
        gateway = path.startswith(wire.MACROMETA_WS_PREFIX + "/")
        try:
            target = wire.parse_ws_path(path)
        except wire.WireError as exc:
            known = any(f"/ws/v2/{role}/" in path for role in wire.ROLES)
            return sockets.refuse(self.session, request, 400 if known else 404, str(exc)[:200])
        if gateway or self.options.require_auth:
            principal = self._ws_principal(request)
            if principal is None:
                return sockets.refuse(self.session, request, 401, "Failed to authenticate")
            if principal.tenant != target.topic.tenant:
                return sockets.refuse(self.session, request, 403, "Not authorized")
        handler = {"producer": sockets.producer, "consumer": sockets.consumer, "reader": sockets.reader}[target.role]
        return await handler(request, target, self.session, not gateway)

    def _ws_principal(self, request: web.Request) -> Principal | None:
        otp = request.query.get("otp")
        if otp:
            return self.auth.redeem_otp(otp)
        return self.auth.from_header(request.headers.get("Authorization"))

    # --- the broker's output -------------------------------------------------------------------

    def route(self) -> None:
        """Queue every delivery the broker decided on its consumer's connection; start requested closes
        (consumers and producers share one id space, and ``connections`` holds both)."""
        broker = self.broker
        connections = self.connections
        for delivery in broker.take_deliveries():
            conn = connections.get(delivery.consumer.id)
            if conn is not None:
                conn.push(delivery.frame)
        for socket_id, reason in broker.take_disconnects():
            conn = connections.get(socket_id)
            if conn is not None:
                conn.close_after_sending(sockets.CLOSE_GOING_AWAY, reason)

    def _route_soon(self) -> None:
        """Route once the event loop has handled every frame it already read: a burst of publishes is then
        dispatched as one read, as Pulsar's dispatcher reads what arrived while it was busy."""
        if not self._route_scheduled:
            self._route_scheduled = True
            asyncio.get_running_loop().call_soon(self._routed_soon)

    def _routed_soon(self) -> None:
        self._route_scheduled = False
        self.route()

    async def _tick_forever(self) -> None:
        broker = self.broker
        while True:
            await asyncio.sleep(BUSY_TICK_S if broker.busy() else IDLE_TICK_S)
            try:
                broker.tick(self.clock())
                self.route()
                if self.truth is not None:
                    self.truth.flush()
            except Exception:  # noqa: BLE001 - a bug in one tick must not stop every timer
                log.exception("emulator tick failed")

    async def _start_ticking(self, _: web.Application) -> None:
        self._ticker = asyncio.create_task(self._tick_forever())

    async def _stop_ticking(self, _: web.Application) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self.truth is not None:
            self.truth.close()


class RequestContentWithheld(logging.Filter):
    """Rewrite aiohttp's "Error handling request" records so no request bytes reach the log.

    aiohttp quotes the offending bytes of a request it cannot parse (the first 100 of an oversized
    Authorization header, a URL with its OTP), and an exception's message may quote a header too.
    Refused requests and clients that went away are the client's doing: one line each, the fact
    without the content, rate-limited like the REST errors. Anything else is a bug:
    always logged, with its stack but never the exception's message.
    """

    def __init__(self, refusals: RateLimitedLog) -> None:
        super().__init__()
        self.refusals = refusals

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return True
        if isinstance(exc, http_exceptions.HttpProcessingError):
            self.refusals.warning("request refused before routing: %d, %s", exc.code, _refusal(exc))
            return False
        if isinstance(exc, web.RequestPayloadError):  # aiohttp draining a body the handler refused
            self.refusals.warning("request body refused: %s", "it cannot be decoded")
            return False
        if isinstance(exc, ConnectionError):
            self.refusals.warning("a client went away mid-request (%s)", type(exc).__name__)
            return False
        # A bug: its stack helps a bug report, its message might quote the request.
        stack = "".join(traceback.format_tb(exc.__traceback__))
        record.msg, record.args = "request failed: %s (message withheld)\n%s", (type(exc).__name__, stack)
        record.exc_info, record.exc_text = None, None
        return True


def _refusal(exc: http_exceptions.HttpProcessingError) -> str:
    """What aiohttp refused, by the exception's class alone."""
    if isinstance(exc, http_exceptions.LineTooLong):
        return "a header or the request line is too long"
    if isinstance(exc, http_exceptions.InvalidURLError):
        return "malformed URL"
    if isinstance(exc, http_exceptions.InvalidHeader):
        return "malformed header"
    if isinstance(exc, http_exceptions.BadStatusLine):
        return "malformed request line"
    return f"malformed request line, header or body ({type(exc).__name__})"


http_log.addFilter(RequestContentWithheld(RateLimitedLog(log)))


async def serve(server: EmulatorServer) -> tuple[web.AppRunner, str]:
    """Start listening on every configured port; returns the runner and the primary base URL."""
    options = server.options
    context = tls.prepare(options.cert_dir, (options.host,)) if options.cert_dir else None
    runner = web.AppRunner(server.app, access_log=None, handle_signals=False, shutdown_timeout=2.0, logger=http_log)
    await runner.setup()
    try:
        primary = web.TCPSite(runner, options.host, options.port, ssl_context=context, reuse_address=False)
        await primary.start()
        bound = runner.addresses[0][1] if runner.addresses else options.port
        for port in options.extra_ports:
            await web.TCPSite(runner, options.host, port, ssl_context=context, reuse_address=False).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, base_url("https" if context else "http", options.host, bound)


def base_url(scheme: str, host: str, port: int) -> str:
    """``scheme://host:port``, with an IPv6 host in brackets (``http://[::1]:8080``)."""
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"
