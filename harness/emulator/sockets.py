"""The Pulsar WebSocket endpoints: producer, consumer and reader sessions around the broker.

Each handler validates the handshake (auth, query parameters, topic) before upgrading, so a
refusal is an HTTP status as Pulsar's proxy gives it; after the upgrade every frame is fed to the
broker and the deliveries it decides are routed to the consumers' connections.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from aiohttp import WSMsgType, web

from harness import wire
from harness.emulator import frames
from harness.emulator.config import BrokerError
from harness.emulator.connection import Connection
from harness.emulator.core import Broker
from harness.emulator.params import ParamError, consumer_options, producer_params, reader_params
from harness.emulator.ratelog import RateLimitedLog

log = logging.getLogger("harness.emulator")

#: Close codes: Pulsar's WebSocketError numbers (1-8) are not valid RFC 6455 codes, so the emulator
#: closes with 1008 and Pulsar's description as the reason.
CLOSE_BAD_COMMAND = 1008
CLOSE_GOING_AWAY = 1001  # the emulator closes: a fault disconnect, a deleted stream
CLOSE_NORMAL = 1000


@dataclass
class Session:
    """What every socket handler needs from the server."""

    broker: Broker
    route: Callable[[], None]
    route_soon: Callable[[], None]  # route once the frames already read are all handled (a burst is one read)
    connections: dict[int, Connection]  # by consumer or producer id
    new_connection: Callable[[web.WebSocketResponse], Connection]
    bad_requests: RateLimitedLog  # refused handshakes, shared with the REST errors


def refuse(s: Session, request: web.Request, status: int, reason: str) -> web.Response:
    """Refuse the upgrade with an HTTP status, as Pulsar's proxy does; logged without the query (an OTP)."""
    s.bad_requests.warning("WebSocket %s: %d %s", request.path[:120], status, reason)
    return web.Response(status=status, text=reason)


def _socket() -> web.WebSocketResponse:
    return web.WebSocketResponse(max_msg_size=wire.MAX_TEXT_FRAME_BYTES, compress=False, decode_text=False)


async def _start(request: web.Request, ws: web.WebSocketResponse, conn: Connection) -> asyncio.Task[None] | None:
    try:
        await ws.prepare(request)
    except (ConnectionError, RuntimeError):
        return None
    return asyncio.create_task(conn.run())


def _bad_frame(msg_type: WSMsgType, data: object) -> bool:
    """True when the loop must end: an oversize frame (1009) or a transport error (always logged)."""
    if msg_type == WSMsgType.ERROR:
        log.warning("closing a socket: %s", data)
        return True
    return False


async def producer(request: web.Request, target: wire.WsPath, s: Session, create: bool) -> web.StreamResponse:
    try:
        params = producer_params(request.query)
        producer_id = s.broker.add_producer(target.topic, params.name, create)
    except ParamError as exc:
        return refuse(s, request, 400, f"Invalid query params: {exc}")
    except BrokerError as exc:
        return refuse(s, request, exc.status, f"Failed to create producer: {exc.reason}")
    ws = _socket()
    conn = s.new_connection(ws)
    s.connections[producer_id] = conn  # a deleted stream closes its producers through it
    sender = await _start(request, ws, conn)
    try:
        if sender is not None:  # the handshake went through
            await _publish_frames(ws, conn, target, s)
    finally:
        s.connections.pop(producer_id, None)
        s.broker.remove_producer(target.topic, producer_id)
        if sender is not None:
            sender.cancel()
    return ws


async def _publish_frames(ws: web.WebSocketResponse, conn: Connection, target: wire.WsPath, s: Session) -> None:
    """Answer every frame of a producer socket with one publish ack or send-error, in order."""
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            if _bad_frame(msg.type, msg.data):
                break
            continue
        parsed = frames.parse_publish(msg.data)
        if isinstance(parsed, frames.PublishRejected):
            conn.warn_once("producer on %s: send-error:%d %s", target.topic, parsed.code, parsed.message)
            conn.push(frames.publish_error(parsed))
            continue
        try:
            message_id = s.broker.publish(target.topic, parsed.fragment, parsed.key)
        except BrokerError as exc:  # BacklogQuotaExceeded, or the stream was deleted under the producer
            conn.warn_once("producer on %s: %s", target.topic, exc.reason)
            conn.push(frames.publish_error(frames.PublishRejected(frames.UNKNOWN_ERROR, exc.reason, parsed.context)))
            continue
        conn.push(frames.publish_ack(message_id.decode(), parsed.context))
        s.route_soon()


async def consumer(request: web.Request, target: wire.WsPath, s: Session, create: bool) -> web.StreamResponse:
    assert target.subscription is not None
    try:
        options = consumer_options(request.query)
        state = s.broker.subscribe(target.topic, target.subscription, options, create)
    except ParamError as exc:
        return refuse(s, request, 400, f"Invalid query params: {exc}")
    except BrokerError as exc:
        return refuse(s, request, exc.status, f"Failed to subscribe: {exc.reason}")
    ws = _socket()
    conn = s.new_connection(ws)
    s.connections[state.id] = conn  # before any await: deliveries may be routed to it
    sender = await _start(request, ws, conn)
    try:
        if sender is not None:
            s.route()
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    if _bad_frame(msg.type, msg.data):
                        break
                    continue
                problem = _command(s, state.id, conn, msg.data)
                if problem is not None:  # logged every time: it ends the connection
                    log.warning("consumer %d: %s, closing", state.id, problem)
                    await ws.close(code=CLOSE_BAD_COMMAND, message=b"Failed to de-serialize from JSON")
                    break
                s.route()
    finally:
        s.connections.pop(state.id, None)
        s.broker.close_consumer(state.id)
        s.route()
        if sender is not None:
            sender.cancel()
    return ws


def _command(s: Session, consumer_id: int, conn: Connection, data: bytes) -> str | None:
    """Apply one consumer command as ConsumerHandler does; a returned problem closes the session."""
    try:
        command = orjson.loads(data)
    except orjson.JSONDecodeError:
        return "command is not JSON"
    if not isinstance(command, dict):
        return "command is not a JSON object"
    kind = command.get("type")
    message_id = command.get("messageId")
    if kind == "permit":
        count = command.get("permitMessages")
        if not isinstance(count, int) or isinstance(count, bool):
            return "permit without a number in permitMessages"
        s.broker.permit(consumer_id, count)
    elif kind == "isEndOfTopic":
        conn.push(b'{"endOfTopic":false}')
    elif kind == "unsubscribe":
        try:
            s.broker.unsubscribe(consumer_id)
            conn.close_after_sending(CLOSE_NORMAL, "unsubscribed")
        except BrokerError as exc:
            conn.warn_once("consumer %d: unsubscribe refused: %s", consumer_id, exc.reason)
    elif kind == "negativeAcknowledge":
        if not s.broker.nack(consumer_id, message_id if isinstance(message_id, str) else ""):
            conn.warn_once("consumer %d: nack for an unknown messageId", consumer_id)
    elif not s.broker.ack(consumer_id, message_id if isinstance(message_id, str) else ""):
        # Any other command is an ack (ConsumerHandler's final else); unknown ids change nothing.
        conn.warn_once("consumer %d: ack for an unknown or already acknowledged messageId", consumer_id)
    return None


async def reader(request: web.Request, target: wire.WsPath, s: Session, create: bool) -> web.StreamResponse:
    try:
        params = reader_params(request.query)
        log_state = s.broker.topic(target.topic, create)
    except ParamError as exc:
        return refuse(s, request, 500, f"Failed to create reader: {exc}")
    except BrokerError as exc:
        return refuse(s, request, exc.status, f"Failed to create reader: {exc.reason}")
    start: str | int
    if isinstance(params.start, tuple):
        ledger, entry = params.start
        start = entry + 1 if ledger == log_state.log.ledger else "latest"
    else:
        start = params.start
    state = s.broker.reader(target.topic, start, params.queue, params.name)
    ws = _socket()
    conn = s.new_connection(ws)
    s.connections[state.id] = conn
    sender = await _start(request, ws, conn)
    try:
        if sender is not None:
            s.route()
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    if _bad_frame(msg.type, msg.data):
                        break
                    continue
                try:
                    command = orjson.loads(msg.data)
                except orjson.JSONDecodeError:
                    command = None
                message_id = command.get("messageId") if isinstance(command, dict) else None
                s.broker.reader_ack(state.id, message_id if isinstance(message_id, str) else None)
                s.route()
    finally:
        s.connections.pop(state.id, None)
        s.broker.close_consumer(state.id)
        if sender is not None:
            sender.cancel()
    return ws
