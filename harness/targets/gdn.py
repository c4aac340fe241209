"""Macrometa GDN streams: REST on ``https://api-<host>``, WebSockets with a one-time password each.

Follows the protocol reference (sections 2-5): the ``api-`` host is derived from the federation
URL; the tenant comes from ``--tenant``, the API key (all but its last two dot-parts, else ``_mm``),
a JWT's ``tenant`` claim, or the login answer; the stream is created if missing, global or local;
every WebSocket gets a fresh OTP from ``POST /apid/otp`` and connects to
``wss://api-<host>/_ws/ws/v2/...``, on the regional host for a local stream.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from harness import wire
from harness.drivers.ws_connection import probe
from harness.settings import LoadSettings
from harness.targets.base import (
    Endpoint,
    Target,
    TargetError,
    TlsOptions,
    check_reachable,
    consumer_query,
    status_line,
    websocket_base,
)

REST_TIMEOUT_S = 15.0
JSON_HEADERS = {"content-type": "application/json", "x-c8-version": "30000"}


def api_base(url: str) -> str:
    """``scheme://api-<host>[:port]`` for a federation URL; hosts already ``api-``, IPs and localhost stay."""
    parts = urlsplit(url if "://" in url else "https://" + url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    host = parts.hostname or ""
    if not (host.startswith("api-") or host == "localhost" or _is_ip(host)):
        host = "api-" + host
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def tenant_from_api_key(api_key: str) -> str:
    """jsC8's rule: drop the key's last two dot-separated parts; ``_mm`` when it has fewer than three."""
    parts = api_key.split(".")
    return ".".join(parts[:-2]) if len(parts) >= 3 else "_mm"


def tenant_from_jwt(token: str) -> str:
    """The ``tenant`` claim of a JWT's payload (not verified: the endpoint does that)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        raise TargetError("--token is not a JWT (three base64url parts); pass --tenant with it") from None
    tenant = claims.get("tenant") if isinstance(claims, dict) else None
    if not isinstance(tenant, str) or not tenant:
        raise TargetError("the JWT given with --token has no tenant claim; pass --tenant with it")
    return tenant


class GdnTarget(Target):
    """A Macrometa GDN stream on one fabric."""

    name = "gdn"

    def __init__(self, settings: LoadSettings) -> None:
        self.settings = settings
        self.tls = TlsOptions(settings.insecure, settings.ca_file)
        self.api = api_base(settings.url)
        self.session = requests.Session()
        self.verify = self.tls.requests_verify()
        self._authorization = ""
        self._tenant = settings.tenant
        self._ws_api = "" if settings.local_stream else self.api  # regional host for local streams, found lazily
        prefix = "c8local" if settings.local_stream else "c8global"
        self._namespace, self._topic_prefix = f"{prefix}.{settings.fabric}", f"{prefix}s."
        self._streams = f"/_fabric/{quote(settings.fabric, safe='')}/_api/streams"  # the REST collection
        self._kind = {"global": "false" if settings.local_stream else "true"}  # query of every streams call

    @property
    def base_url(self) -> str:
        return self.api

    @property
    def topic_name(self) -> str:
        return self._topic_prefix + self.settings.stream

    def check(self) -> None:
        check_reachable(self.api)

    def check_access(self) -> None:
        self.stream_topics()  # authenticated, and the fabric must exist

    def prepare(self) -> None:
        self.check()
        self.ensure_stream()
        probe(self.producer_endpoint(), f"connecting a producer to stream {self.topic_name}")

    def close(self) -> None:
        self.session.close()

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.name,
            "url": self.api,
            "fabric": self.settings.fabric,
            "stream": self.topic_name,
            "ws_url": self._ws_api,
        }

    # --- REST ------------------------------------------------------------------------------------

    def request(self, method: str, path: str, action: str, auth: bool = True, **kwargs: Any) -> requests.Response:
        """One REST call; every failure becomes a one-line TargetError naming ``action``."""
        headers = dict(JSON_HEADERS)
        if auth:
            headers["authorization"] = self.authorization()
        base = kwargs.pop("base", self.api)
        try:
            # verify per request: a session-level verify loses to REQUESTS_CA_BUNDLE in the environment
            response = self.session.request(
                method, base + path, headers=headers, timeout=REST_TIMEOUT_S, verify=self.verify, **kwargs
            )
        except requests.exceptions.SSLError:
            raise TargetError(
                f"{action}: the TLS certificate of {base} is not trusted; pass --ca-file, or --insecure to skip checks"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise TargetError(f"{action}: cannot reach {base}: {_reason(exc)}") from None
        return response

    def authorization(self) -> str:
        """The ``Authorization`` header value; logs in with email and password the first time."""
        if self._authorization:
            return self._authorization
        settings = self.settings
        if settings.api_key:
            self._authorization = f"apikey {settings.api_key}"
            self._tenant = self._tenant or tenant_from_api_key(settings.api_key)
        elif settings.token:
            self._authorization = f"bearer {settings.token}"
            self._tenant = self._tenant or tenant_from_jwt(settings.token)
        else:
            self._login()
        return self._authorization

    def _login(self) -> None:
        body = {"email": self.settings.email, "password": self.settings.password}
        response = self.request("POST", "/_open/auth", "logging in to GDN", auth=False, json=body)
        answer = _json_or_fail(response, "logging in to GDN")
        jwt, tenant = answer.get("jwt"), answer.get("tenant")
        if not isinstance(jwt, str) or not jwt:
            raise TargetError("logging in to GDN: the answer has no jwt")
        self._authorization = f"bearer {jwt}"
        if not self._tenant:
            self._tenant = tenant if isinstance(tenant, str) and tenant else tenant_from_jwt(jwt)

    @property
    def tenant(self) -> str:
        self.authorization()
        return self._tenant

    def stream_topics(self) -> set[str]:
        """The topics of the fabric's streams of this kind (global or local)."""
        action = f"listing streams of fabric {self.settings.fabric}"
        listing = _json_or_fail(self.request("GET", self._streams, action, params=self._kind), action)
        return {s["topic"] for s in listing.get("result") or [] if isinstance(s, dict) and "topic" in s}

    def ensure_stream(self) -> None:
        """Create the stream unless it exists (a 409 from a concurrent create counts as existing)."""
        if self.topic_name in self.stream_topics():
            return
        action = f"creating stream {self.topic_name}"
        path = f"{self._streams}/{quote(self.settings.stream, safe='')}"
        response = self.request("POST", path, action, params=self._kind)
        if response.status_code != 409:
            _json_or_fail(response, action)

    def ws_api(self) -> str:
        """The ``api-`` host the stream's WebSockets go to: the regional one for a local stream."""
        if self._ws_api:
            return self._ws_api
        if self.settings.region_url:
            self._ws_api = api_base(self.settings.region_url)
            return self._ws_api
        action = "asking /datacenter/local for the regional host of the local stream"
        answer = _json_or_fail(self.request("GET", "/datacenter/local", action), action)
        tags = answer.get("tags")
        url = tags.get("url") if isinstance(tags, dict) else None
        if not isinstance(url, str) or not url:
            raise TargetError(f"{action}: the answer has no tags.url; pass --region-url")
        self._ws_api = api_base(f"{urlsplit(self.api).scheme}://{url}")
        return self._ws_api

    def one_time_password(self) -> str:
        """A fresh OTP, from the host the WebSocket will connect to."""
        action = "asking for a one-time password (POST /apid/otp)"
        answer = _json_or_fail(self.request("POST", "/apid/otp", action, base=self.ws_api()), action)
        otp = answer.get("otp")
        if not isinstance(otp, str) or not otp:
            raise TargetError(f"{action}: the answer has no otp")
        return otp

    # --- WebSockets ------------------------------------------------------------------------------

    def _topic(self) -> wire.Topic:
        return wire.Topic(self.tenant, self._namespace, self.topic_name)

    def _endpoint(self, path: str, query: str) -> Endpoint:
        ws_base = websocket_base(self.ws_api())
        otp = quote(self.one_time_password(), safe="")
        url = f"{ws_base}{path}?{query + '&' if query else ''}otp={otp}"
        return Endpoint(url, {}, self.tls.sslopt_for(url))

    def producer_endpoint(self) -> Endpoint:
        return self._endpoint(wire.ws_path("producer", self._topic(), prefix=wire.MACROMETA_WS_PREFIX), "")

    def consumer_endpoint(self, consumer_name: str) -> Endpoint:
        path = wire.ws_path("consumer", self._topic(), self.settings.subscription, prefix=wire.MACROMETA_WS_PREFIX)
        return self._endpoint(path, consumer_query(self.settings, consumer_name))


def _json_or_fail(response: requests.Response, action: str) -> dict[str, Any]:
    """The JSON object of a 2xx answer without ``errorNum``; TargetError with the status otherwise."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = ""
    if isinstance(body, dict):
        message = str(body.get("errorMessage") or "")
    if response.status_code >= 300 or (isinstance(body, dict) and "errorNum" in body):
        status = response.status_code if response.status_code >= 300 else 500
        raise TargetError(status_line(action, status, message or response.text[:200]))
    if not isinstance(body, dict):
        raise TargetError(f"{action}: HTTP {response.status_code} without a JSON object")
    return body


def _reason(exc: BaseException) -> str:
    """The innermost OS-level reason of a connection failure ("Connection refused"), else the text."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        if seen.args and isinstance(seen.args[0], BaseException):
            seen = seen.args[0]
            continue
        seen = seen.__context__ or seen.__cause__
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
