"""The emulator's aiohttp server: Pulsar WebSocket endpoints around the sans-I/O broker.

A thin loop: each frame received is fed to the :class:`~harness.emulator.core.Broker`, and the
deliveries it decides are queued on the consumers' connections, each drained by its own sender
task so one slow consumer never stalls a producer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import orjson
from aiohttp import WSMsgType, web

from harness import wire
from harness.emulator.core import MAX_RECEIVER_QUEUE, Broker, BrokerError, Delivery

log = logging.getLogger("harness.emulator")

#: Pulsar's WebSocketError code for an unparseable command, sent as a close reason.
FAILED_TO_DESERIALIZE = 3


@dataclass(eq=False)
class ConsumerConnection:
    """Frames waiting to go out on one consumer's socket."""

    ws: web.WebSocketResponse
    pending: list[str] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    async def send_loop(self) -> None:
        while not self.ws.closed:
            await self.wake.wait()
            self.wake.clear()
            frames, self.pending = self.pending, []
            for frame in frames:
                if self.ws.closed:
                    return
                await self.ws.send_str(frame)


class EmulatorServer:
    """Routes WebSocket handshakes to producer and consumer sessions on one broker."""

    def __init__(self, broker: Broker | None = None) -> None:
        self.broker = broker or Broker(clock=time.time)
        self.connections: dict[int, ConsumerConnection] = {}
        self.app = web.Application()
        self.app.router.add_route("GET", "/{tail:.*}", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            target = wire.parse_ws_path(request.path)
        except wire.WireError as exc:
            return _error(404, str(exc))
        if target.role == "producer":
            return await self._producer(request, target)
        if target.role == "consumer":
            return await self._consumer(request, target)
        return _error(404, f"{target.role} endpoint is not served")

    async def _producer(self, request: web.Request, target: wire.WsPath) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=wire.MAX_TEXT_FRAME_BYTES)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            ack = self._publish(target.topic, msg.data)
            await ws.send_str(wire.encode_publish_ack(ack))
        return ws

    def _publish(self, topic: wire.Topic, text: str) -> wire.PublishAck:
        try:
            frame = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return wire.PublishAck("send-error:3", error=f"Failed to de-serialize from JSON: {exc}")
        if not isinstance(frame, dict):
            return wire.PublishAck("send-error:3", error="Failed to de-serialize from JSON")
        context = frame.get("context")
        context = None if context is None else str(context)
        payload = frame.get("payload")
        if not isinstance(payload, str):
            return wire.PublishAck("send-error:7", context=context, error="Invalid message-payload: missing payload")
        try:
            wire.decode_payload(payload)
        except wire.WireError:
            return wire.PublishAck("send-error:7", context=context, error="Invalid Base64 message-payload")
        properties = frame.get("properties") or {}
        key = frame.get("key")
        message_id = self.broker.publish(
            topic,
            payload,
            {str(k): str(v) for k, v in properties.items()} if isinstance(properties, dict) else {},
            None if key is None else str(key),
            None if frame.get("eventTime") is None else str(frame["eventTime"]),
        )
        self._route()
        return wire.PublishAck("ok", message_id=message_id, context=context)

    async def _consumer(self, request: web.Request, target: wire.WsPath) -> web.StreamResponse:
        query = request.query
        sub_type = query.get("subscriptionType", "Exclusive")
        if sub_type not in wire.SUBSCRIPTION_TYPES:
            return _error(400, f"Invalid query params: Invalid subscriptionType {sub_type}")
        try:
            queue = int(query.get("receiverQueueSize", MAX_RECEIVER_QUEUE))
        except ValueError:
            return _error(400, "Invalid query params: receiverQueueSize is not a number")
        assert target.subscription is not None
        try:
            consumer_id = self.broker.subscribe(
                target.topic, target.subscription, sub_type, query.get("consumerName", ""), queue
            )
        except BrokerError as exc:
            return _error(exc.status, f"Failed to subscribe: {exc.reason}")
        ws = web.WebSocketResponse(max_msg_size=wire.MAX_TEXT_FRAME_BYTES)
        connection = ConsumerConnection(ws)
        self.connections[consumer_id] = connection  # before any await: deliveries may be routed to it
        sender: asyncio.Task[None] | None = None
        try:
            await ws.prepare(request)
            sender = asyncio.create_task(connection.send_loop())
            self._route()
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                if not self._command(consumer_id, msg.data):
                    await ws.close(code=1003, message=b"Failed to de-serialize from JSON")
                    break
        finally:
            self.connections.pop(consumer_id, None)
            self.broker.close_consumer(consumer_id)
            self._route()
            if sender is not None:
                connection.wake.set()
                sender.cancel()
        return ws

    def _command(self, consumer_id: int, text: str) -> bool:
        """Apply one consumer command; False when it cannot be parsed (the session is closed)."""
        try:
            command = orjson.loads(text)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(command, dict):
            return False
        if command.get("type") in (None, "ack"):
            message_id = command.get("messageId")
            if isinstance(message_id, str):
                self.broker.ack(consumer_id, message_id)
                self._route()
        return True

    def _route(self) -> None:
        for delivery in self.broker.take_deliveries():
            self._queue(delivery)

    def _queue(self, delivery: Delivery) -> None:
        connection = self.connections.get(delivery.consumer_id)
        if connection is None:
            return  # the consumer is gone; the broker already put the message back for others
        stored = delivery.message
        frame = wire.encode_message(
            wire.Message(
                message_id=delivery.message_id,
                payload_b64=stored.payload_b64,
                properties=stored.properties,
                publish_time=wire.format_publish_time(stored.publish_time),
                redelivery_count=delivery.redelivery_count,
                key=stored.key,
                event_time=stored.event_time,
            )
        )
        connection.pending.append(frame)
        connection.wake.set()


def _error(status: int, reason: str) -> web.Response:
    log.info("refused: %d %s", status, reason)
    return web.Response(status=status, text=reason)


async def serve(host: str, port: int, server: EmulatorServer | None = None) -> tuple[web.AppRunner, str]:
    """Start listening; returns the runner (for cleanup) and the base URL actually bound."""
    emulator = server or EmulatorServer()
    runner = web.AppRunner(emulator.app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=False)
    await site.start()
    bound_port = runner.addresses[0][1] if runner.addresses else port
    return runner, f"http://{host}:{bound_port}"
