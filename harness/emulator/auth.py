"""Who is calling: GDN API keys, JWTs from ``/_open/auth``, and one-time passwords for sockets.

What the emulator accepts (no account database, so the rules are structural):

* ``Authorization: apikey <KEY>`` where KEY is ``<tenant>.<keyname>.<secret>``; the tenant is
  everything before the last two dots, as jsc8's ``extractTenantName`` derives it. If the
  emulator was started with a required key, only that key is accepted.
* ``Authorization: bearer <JWT>`` (scheme case-insensitive) for a JWT this emulator issued from
  ``/_open/auth`` (HS256, per-process secret, with a ``tenant`` claim), not expired.
* ``Basic`` is ignored: it is what the URL-userinfo recipe makes ws@6 send.
* ``?otp=<otp>`` on a WebSocket URL: single use, valid ``otp_ttl`` seconds, bound to its tenant.

Malformed credentials (non-ASCII or control characters, a scheme with no credential, a JWT that is
not three base64url parts, an OTP that is not 32 hex digits) are simply not valid: the caller gets
401, never a 500. Nothing here ever logs or returns a secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson

DEFAULT_OTP_TTL_S: Final = 60.0
JWT_TTL_S: Final = 24 * 3600.0
#: Longest credential looked at; aiohttp already refuses a header line over 8190 bytes.
MAX_CREDENTIAL_CHARS: Final = 8192
#: Visible ASCII only: an HTTP token or key never holds spaces, controls or non-ASCII.
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_OTP_SHAPE = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Principal:
    tenant: str
    user: str = "root"


def tenant_of_key(api_key: str) -> str | None:
    """``demo_tenant.mykey.SECRET`` -> ``demo_tenant``; None for a key not of that form."""
    parts = api_key.split(".")
    if len(parts) < 3 or not all(parts[-2:]):
        return None
    tenant = ".".join(parts[:-2])
    return tenant or None


def tenant_of_email(email: str) -> str:
    """GDN names a user's tenant after the e-mail address: ``user@example.com`` -> ``user_example.com``."""
    return email.replace("@", "_")


def well_formed(credential: str) -> bool:
    """True for a non-empty run of visible ASCII of sane length: the only shape a key or token has."""
    return len(credential) <= MAX_CREDENTIAL_CHARS and _VISIBLE_ASCII.fullmatch(credential) is not None


def _same_secret(given: str, expected: str) -> bool:
    """Constant-time equality that, unlike ``hmac.compare_digest`` on ``str``, accepts any characters."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Authenticator:
    """Checks credentials and keeps the one-time passwords."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        required_key: str | None = None,
        required_password: str | None = None,
        otp_ttl: float = DEFAULT_OTP_TTL_S,
    ) -> None:
        self.clock = clock
        self.rng = rng or random.SystemRandom()
        self.required_key = required_key or None
        self.required_password = required_password or None
        self.otp_ttl = otp_ttl
        self._secret = self.rng.getrandbits(256).to_bytes(32, "big")
        self._otps: dict[str, tuple[float, Principal]] = {}

    # --- headers -------------------------------------------------------------------------------

    def from_header(self, value: str | None) -> Principal | None:
        """The caller an ``Authorization`` header names, or None (missing, Basic, or invalid)."""
        if not value:
            return None
        scheme, _, credential = value.strip().partition(" ")
        scheme = scheme.lower()
        credential = credential.strip()
        if not well_formed(credential):  # "Bearer" alone, spaces inside, control or non-ASCII characters
            return None
        if scheme == "apikey":
            return self.check_key(credential)
        if scheme == "bearer":
            return self.check_jwt(credential)
        return None

    def check_key(self, api_key: str) -> Principal | None:
        if not well_formed(api_key):
            return None
        if self.required_key is not None and not _same_secret(api_key, self.required_key):
            return None
        tenant = tenant_of_key(api_key)
        return None if tenant is None else Principal(tenant)

    # --- JWT -----------------------------------------------------------------------------------

    def login(self, body: dict[str, Any]) -> dict[str, str] | None:
        """``/_open/auth``: e-mail (or tenant and username) plus password -> ``{jwt, tenant, username}``."""
        password = body.get("password")
        email = body.get("email")
        if not isinstance(password, str) or not password:
            return None
        if self.required_password is not None and not _same_secret(password, self.required_password):
            return None
        if isinstance(email, str) and "@" in email:
            tenant, username = tenant_of_email(email), "root"
        elif isinstance(body.get("tenant"), str) and isinstance(body.get("username"), str) and body["tenant"]:
            tenant, username = body["tenant"], body["username"]
        else:
            return None
        return {"jwt": self.issue_jwt(tenant, username), "tenant": tenant, "username": username}

    def issue_jwt(self, tenant: str, username: str = "root") -> str:
        now = int(self.clock())
        header = _b64url(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
        claims = {
            "iat": now,
            "exp": now + int(JWT_TTL_S),
            "iss": "macrometa",
            "preferred_username": username,
            "sub": tenant,
            "tenant": tenant,
        }
        body = _b64url(orjson.dumps(claims))
        signature = _b64url(hmac.new(self._secret, f"{header}.{body}".encode(), hashlib.sha256).digest())
        return f"{header}.{body}.{signature}"

    def check_jwt(self, token: str) -> Principal | None:
        if len(token) > MAX_CREDENTIAL_CHARS or _JWT_SHAPE.fullmatch(token) is None:
            return None
        parts = token.split(".")
        expected = _b64url(hmac.new(self._secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            return None
        try:
            claims = orjson.loads(_unb64url(parts[1]))
        except (ValueError, orjson.JSONDecodeError):
            return None
        if not isinstance(claims, dict) or not isinstance(claims.get("tenant"), str) or not claims["tenant"]:
            return None
        exp = claims.get("exp")
        if not isinstance(exp, int) or isinstance(exp, bool) or exp < self.clock():
            return None
        return Principal(claims["tenant"], str(claims.get("preferred_username", "root")))

    # --- one-time passwords --------------------------------------------------------------------

    def issue_otp(self, principal: Principal) -> str:
        now = self.clock()
        self._otps = {k: v for k, v in self._otps.items() if v[0] > now} if len(self._otps) > 1000 else self._otps
        otp = f"{self.rng.getrandbits(128):032x}"
        self._otps[otp] = (now + self.otp_ttl, principal)
        return otp

    def redeem_otp(self, otp: str) -> Principal | None:
        """Single use: a second redeem of the same OTP fails, and so does an expired one."""
        if _OTP_SHAPE.fullmatch(otp) is None:
            return None
        record = self._otps.pop(otp, None)
        if record is None or record[0] < self.clock():
            return None
        return record[1]
