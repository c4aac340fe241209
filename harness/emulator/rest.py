"""The GDN REST API that jsc8 1.1.0 and pyc8 1.1.2 call, with the reference's shapes and codes.

Success bodies never carry ``errorNum``/``errorMessage`` (jsc8 treats any body with all of
``error, code, errorMessage, errorNum`` as an error); errors are
``{"code", "error": true, "errorMessage", "errorNum"}``. Every response is JSON. Streams live
under ``/_fabric/<fabric>/_api/streams`` and the legacy ``/_fabric/<fabric>/streams``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, Final

import orjson
from aiohttp import web

from harness.emulator import admin, frames
from harness.emulator.auth import Authenticator, Principal
from harness.emulator.config import BrokerError
from harness.emulator.core import Broker
from harness.emulator.params import INT_MAX, java_int
from harness.emulator.ratelog import RateLimitedLog
from harness.emulator.stats import topic_stats
from harness.wire import Topic

#: errorNum values the emulator uses (GDN's own are not documented beyond one example).
ERROR_NUMS: Final = {400: 400, 401: 11, 403: 11, 404: 1203, 409: 581, 412: 1200, 500: 4}

STREAM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.]{0,229}$")
GLOBAL_PREFIX, LOCAL_PREFIX = "c8globals.", "c8locals."

Handler = Callable[[web.Request, Principal | None, dict[str, str]], Awaitable[web.Response]]


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def error_response(status: int, message: str) -> web.Response:
    body = {"code": status, "error": True, "errorMessage": message, "errorNum": ERROR_NUMS.get(status, status)}
    return json_response(body, status)


def ok(result: Any = None, status: int = 200) -> web.Response:
    body: dict[str, Any] = {"error": False, "code": status}
    if result is not None:
        body["result"] = result
    return json_response(body, status)


def global_flag(request: web.Request) -> bool | None:
    """``global=true|false`` in any case (pyc8 sends ``True``); None when absent."""
    text = request.query.get("global")
    if text is None:
        return None
    if text.lower() not in ("true", "false"):
        raise ApiError(400, f"invalid value for global: {text[:20]}")
    return text.lower() == "true"


class GdnApi:
    """Routes GDN REST calls to the broker; ``handle`` returns None for paths it does not serve."""

    def __init__(self, broker: Broker, auth: Authenticator, bad_requests: RateLimitedLog) -> None:
        self.broker = broker
        self.auth = auth
        self.bad_requests = bad_requests
        self.ttl_s = 3600
        self._routes: list[tuple[str, re.Pattern[str], Handler, bool]] = []
        open_route, auth_route = False, True
        self._add("POST", r"/_open/auth", self.login, open_route)
        self._add("POST", r"/_fabric/(?P<fabric>[^/]+)/_api/key/validate", self.validate, open_route)
        self._add("POST", r"/apid/otp", self.otp, auth_route)
        self._add("GET", r"/datacenter/local", self.local_dc, auth_route)
        self._add("GET", r"/_api/user", self.user, auth_route)
        for prefix in (r"/_fabric/(?P<fabric>[^/]+)/_api/streams", r"/_fabric/(?P<fabric>[^/]+)/streams"):
            self._add("GET", prefix, self.list_streams, auth_route)
            self._add("POST", prefix + r"/clearbacklog", self.clear_all, auth_route)
            self._add("POST", prefix + r"/clearbacklog/(?P<sub>[^/]+)", self.clear_all, auth_route)
            self._add("GET", prefix + r"/ttl", self.get_ttl, auth_route)
            self._add("POST", prefix + r"/ttl/(?P<ttl>[^/]+)", self.set_ttl, auth_route)
            self._add("DELETE", prefix + r"/subscription/(?P<sub>[^/]+)", self.unsubscribe_all, auth_route)
            self._add("POST", prefix + r"/unsubscribe/(?P<sub>[^/]+)", self.unsubscribe_all, auth_route)
            self._add("POST", prefix + r"/(?P<name>[^/]+)", self.create_stream, auth_route)
            self._add("DELETE", prefix + r"/(?P<topic>[^/]+)", self.delete_stream, auth_route)
            self._add("GET", prefix + r"/(?P<topic>[^/]+)/backlog", self.backlog, auth_route)
            self._add("GET", prefix + r"/(?P<topic>[^/]+)/stats", self.stats, auth_route)
            self._add("GET", prefix + r"/(?P<topic>[^/]+)/subscriptions", self.subscriptions, auth_route)
            self._add("DELETE", prefix + r"/(?P<topic>[^/]+)/subscriptions/(?P<sub>[^/]+)", self.delete_sub, auth_route)
            self._add("POST", prefix + r"/(?P<topic>[^/]+)/expiry/(?P<seconds>[^/]+)", self.expiry, auth_route)
            self._add("POST", prefix + r"/(?P<topic>[^/]+)/publish", self.publish, auth_route)

    def _add(self, method: str, pattern: str, handler: Handler, needs_auth: bool) -> None:
        self._routes.append((method, re.compile(f"^{pattern}/?$"), handler, needs_auth))

    async def handle(self, request: web.Request, path: str) -> web.Response | None:
        matched_path = False
        for method, pattern, handler, needs_auth in self._routes:
            match = pattern.match(path)
            if match is None:
                continue
            matched_path = True
            if method != request.method:
                continue
            principal = self.auth.from_header(request.headers.get("Authorization"))
            try:
                if needs_auth and principal is None:
                    raise ApiError(401, "unauthorized: missing or invalid credentials")
                return await handler(request, principal, match.groupdict())
            except ApiError as exc:
                return self.refuse(request, path, exc.status, exc.message)
            except BrokerError as exc:
                return self.refuse(request, path, exc.status, exc.reason)
        return self.refuse(request, path, 405, "method not allowed") if matched_path else None

    def refuse(self, request: web.Request, path: str, status: int, message: str) -> web.Response:
        """An error answer, logged (rate-limited; the path without its query, never a header or body)."""
        self.bad_requests.warning("%s %s: %d %s", request.method, path[:120], status, message)
        return error_response(status, message)

    # --- identity ------------------------------------------------------------------------------

    async def login(self, request: web.Request, _: Principal | None, __: dict[str, str]) -> web.Response:
        body = await _json_body(request)
        result = self.auth.login(body)
        if result is None:
            raise ApiError(401, "invalid credentials")
        return json_response(result)

    async def validate(self, request: web.Request, _: Principal | None, __: dict[str, str]) -> web.Response:
        body = await _json_body(request)
        principal = None
        if isinstance(body.get("apikey"), str):
            principal = self.auth.check_key(body["apikey"])
        elif isinstance(body.get("jwt"), str):
            principal = self.auth.check_jwt(body["jwt"])
        if principal is None:
            raise ApiError(401, "invalid api key or token")
        return ok({"tenant": principal.tenant, "user": principal.user})

    async def otp(self, _: web.Request, principal: Principal | None, __: dict[str, str]) -> web.Response:
        assert principal is not None
        return json_response({"otp": self.auth.issue_otp(principal)})

    async def local_dc(self, request: web.Request, _: Principal | None, __: dict[str, str]) -> web.Response:
        host = request.host
        try:
            url_host = request.url.host  # yarl refuses a Host header such as "x:99999"
        except ValueError:
            raise ApiError(400, "invalid Host header") from None
        # pyc8 opens wss://api-<tags.url>: "x@" makes its forced "api-" prefix URL userinfo.
        url = host[len("api-") :] if host.startswith("api-") else f"x@{host}"
        location = {"city": "", "countrycode": "", "countryname": "", "latitude": "0", "longitude": "0", "url": url}
        return json_response(
            {
                "_key": "emulator",
                "host": url_host or "127.0.0.1",
                "local": True,
                "name": "emulator",
                "spot_region": False,
                "status": 0,
                "tags": {"api": f"api-{url}", "url": url},
                "locationInfo": location,
            }
        )

    async def user(self, _: web.Request, principal: Principal | None, __: dict[str, str]) -> web.Response:
        assert principal is not None
        user = {"tenant": principal.tenant, "email": "", "active": True, "extra": {}, "user": principal.user}
        return ok([{**user, "displayName": principal.user}])

    # --- streams -------------------------------------------------------------------------------

    def _topic(self, principal: Principal | None, fabric: str, name: str, is_global: bool | None) -> Topic:
        assert principal is not None
        if name.startswith(GLOBAL_PREFIX):
            is_global = True
        elif name.startswith(LOCAL_PREFIX):
            is_global = False
        else:
            is_global = True if is_global is None else is_global
            name = (GLOBAL_PREFIX if is_global else LOCAL_PREFIX) + name
        namespace = f"c8global.{fabric}" if is_global else f"c8local.{fabric}"
        return Topic(principal.tenant, namespace, name)

    def _existing(self, request: web.Request, principal: Principal | None, params: dict[str, str]) -> Topic:
        topic = self._topic(principal, params["fabric"], params["topic"], global_flag(request))
        if topic not in self.broker.topics:
            raise ApiError(404, f"stream {params['topic']} not found")
        return topic

    async def list_streams(self, request: web.Request, principal: Principal | None, p: dict[str, str]) -> web.Response:
        assert principal is not None
        wanted = global_flag(request)
        result = []
        for topic in self.broker.topics:
            is_global = topic.namespace == f"c8global.{p['fabric']}"
            if topic.tenant != principal.tenant or not (is_global or topic.namespace == f"c8local.{p['fabric']}"):
                continue
            if wanted is not None and wanted != is_global:
                continue
            record = {"_key": topic.name, "_id": f"_streams/{topic.name}", "_rev": "_emulator", "db": p["fabric"]}
            result.append({**record, "local": not is_global, "tenant": topic.tenant, "topic": topic.name, "type": 4})
        return ok(result)

    async def create_stream(self, request: web.Request, principal: Principal | None, p: dict[str, str]) -> web.Response:
        name = p["name"]
        if not STREAM_NAME.match(name):
            raise ApiError(400, f"invalid stream name: {name[:60]}")
        topic = self._topic(principal, p["fabric"], name, global_flag(request))
        if topic in self.broker.topics:
            raise ApiError(409, f"stream {topic.name} already exists")
        self.broker.topic(topic)
        return ok({"stream-id": topic.name}, 202)

    async def delete_stream(self, request: web.Request, principal: Principal | None, p: dict[str, str]) -> web.Response:
        topic = self._existing(request, principal, p)
        admin.delete_topic(self.broker, topic, force=request.query.get("force", "").lower() == "true")
        return ok(None, 202)

    async def backlog(self, request: web.Request, principal: Principal | None, p: dict[str, str]) -> web.Response:
        state = self.broker.topics[self._existing(request, principal, p)]
        backlog = max((s.backlog for s in state.subscriptions.values() if s.durable), default=0)
        return ok({"storageSize": state.log.retained_bytes, "totalMessages": len(state.log), "messageBacklog": backlog})

    async def stats(self, request: web.Request, principal: Principal | None, p: dict[str, str]) -> web.Response:
        return ok(topic_stats(self.broker.topics[self._existing(request, principal, p)]))

    async def subscriptions(self, request: web.Request, principal: Principal | None, p: dict[str, str]) -> web.Response:
        state = self.broker.topics[self._existing(request, principal, p)]
        return ok([name for name, sub in state.subscriptions.items() if sub.durable])

    async def delete_sub(self, request: web.Request, principal: Principal | None, p: dict[str, str]) -> web.Response:
        admin.delete_subscription(self.broker, self._existing(request, principal, p), p["sub"])
        return ok(None)

    async def unsubscribe_all(
        self, request: web.Request, principal: Principal | None, p: dict[str, str]
    ) -> web.Response:
        for topic in self._tenant_topics(principal):
            if p["sub"] in self.broker.topics[topic].subscriptions:
                admin.delete_subscription(self.broker, topic, p["sub"])
        return ok(None)

    async def clear_all(self, request: web.Request, principal: Principal | None, p: dict[str, str]) -> web.Response:
        for topic in self._tenant_topics(principal):
            admin.clear_backlog(self.broker, topic, p.get("sub"))
        return ok(None)

    async def expiry(self, request: web.Request, principal: Principal | None, p: dict[str, str]) -> web.Response:
        topic = self._existing(request, principal, p)
        seconds = _seconds(p["seconds"], "expiry")
        admin.expire(self.broker, topic, seconds)
        return ok(None)

    async def publish(self, request: web.Request, principal: Principal | None, p: dict[str, str]) -> web.Response:
        """jsC8's ``publishMessage``: the raw body becomes one message; 202 as jsC8's own test expects."""
        topic = self._existing(request, principal, p)
        self.broker.publish(topic, frames.rest_publish(await _body(request)))  # BacklogQuotaExceeded: refused
        return ok(None, 202)

    async def get_ttl(self, _: web.Request, __: Principal | None, ___: dict[str, str]) -> web.Response:
        return ok(self.ttl_s)

    async def set_ttl(self, _: web.Request, __: Principal | None, p: dict[str, str]) -> web.Response:
        self.ttl_s = _seconds(p["ttl"], "ttl")
        return ok(self.ttl_s)

    def _tenant_topics(self, principal: Principal | None) -> list[Topic]:
        assert principal is not None
        return [t for t in self.broker.topics if t.tenant == principal.tenant]


def _seconds(text: str, what: str) -> int:
    """A ttl or expiry path value: Java ``Integer.parseInt`` (Pulsar's admin API takes an ``int``), at least 0.

    Checked when it is set, so a value the emulator accepted always serialises on a later read.
    """
    value = java_int(text)
    if value is None or value < 0:
        shown = text if len(text) <= 20 else text[:20] + "..."
        raise ApiError(400, f"invalid {what}: {shown} (a whole number of seconds from 0 to {INT_MAX})")
    return value


async def _body(request: web.Request) -> bytes:
    """The request's body; a body that cannot be decoded (a bad chunk size, gzip that is not gzip) is a 400."""
    try:
        return await request.read()
    except web.RequestPayloadError:
        raise ApiError(400, "malformed request body") from None


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await _body(request))
    except orjson.JSONDecodeError:
        raise ApiError(400, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body
