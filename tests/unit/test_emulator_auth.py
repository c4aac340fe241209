"""Credentials the emulator accepts: key tenants as jsc8 derives them, its own JWTs, single-use OTPs."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest

from harness.emulator.auth import Authenticator, Principal, _b64url, tenant_of_key
from tests.unit.emulator_helpers import Clock


@pytest.mark.parametrize(
    ("key", "tenant"),
    [
        ("demo_tenant.mykey.SECRET", "demo_tenant"),
        ("user_example.com.k.S", "user_example.com"),
        ("a.b", None),
        (".k.S", None),
    ],
)
def test_tenant_comes_from_all_but_the_last_two_parts(key: str, tenant: str | None) -> None:
    assert tenant_of_key(key) == tenant


def test_header_schemes_are_case_insensitive_and_basic_is_ignored() -> None:
    auth = Authenticator(Clock(), random.Random(1))
    assert auth.from_header("APIKEY t.k.S") == Principal("t")
    assert auth.from_header("Basic YXBpLXg6") is None
    token = auth.issue_jwt("t2")
    assert auth.from_header(f"bEaReR {token}") == Principal("t2")
    assert auth.from_header(f"bearer {token}x") is None


def test_jwts_expire_and_a_required_key_excludes_others() -> None:
    clock = Clock()
    auth = Authenticator(clock, random.Random(1), required_key="only.this.KEY")
    token = auth.issue_jwt("t")
    clock.now += 25 * 3600
    assert auth.check_jwt(token) is None
    assert auth.check_key("other.key.S") is None and auth.check_key("only.this.KEY") == Principal("only")


def test_otps_are_single_use_and_short_lived() -> None:
    clock = Clock()
    auth = Authenticator(clock, random.Random(1), otp_ttl=60)
    first = auth.issue_otp(Principal("t"))
    assert auth.redeem_otp(first) == Principal("t")
    assert auth.redeem_otp(first) is None
    late = auth.issue_otp(Principal("t"))
    clock.now += 61
    assert auth.redeem_otp(late) is None


def test_login_needs_a_password_and_names_the_tenant_after_the_email() -> None:
    auth = Authenticator(Clock(), random.Random(1), required_password="pw")
    assert auth.login({"email": "a@b.com", "password": "nope"}) is None
    result = auth.login({"email": "a@b.com", "password": "pw"})
    assert result is not None and result["tenant"] == "a_b.com"
    assert auth.check_jwt(result["jwt"]) == Principal("a_b.com")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer   ",
        "apikey",
        "apikey t.k.S\u00e9",
        "apikey t.k.\x01S",
        "apikey t.k. S",
        "Bearer a.b.\u00e9",
        "Bearer \u00e9.\u00e9.\u00e9",
        "Bearer a.b!!.c",
        "Bearer a.b.c.d",
        "Bearer a..c",
        "apikey " + "t.k." + "S" * 9000,
    ],
)
def test_malformed_headers_name_no_caller_and_raise_nothing(header: str) -> None:
    for auth in (Authenticator(Clock(), random.Random(1)), Authenticator(Clock(), random.Random(1), "t.k.S")):
        assert auth.from_header(header) is None


def test_a_required_key_or_password_compared_with_non_ascii_input_is_a_refusal() -> None:
    auth = Authenticator(Clock(), random.Random(1), required_key="t.k.S", required_password="pw")
    assert auth.check_key("t.k.\u00e9") is None
    assert auth.login({"email": "a@b.com", "password": "p\u00e9"}) is None
    assert auth.login({"email": "a@b.com", "password": "\ud800"}) is None  # a lone surrogate JSON allows


def _signed(auth: Authenticator, claims: bytes) -> str:
    """A token with a valid signature around any claims text (what only a leaked secret could forge)."""
    header, body = _b64url(b'{"alg":"HS256"}'), _b64url(claims)
    signature = _b64url(hmac.new(auth._secret, f"{header}.{body}".encode(), hashlib.sha256).digest())
    return f"{header}.{body}.{signature}"


@pytest.mark.parametrize(
    "claims",
    [
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"tenant": 5, "exp": 9e9}',
        b'{"tenant": "", "exp": 99999999999}',
        b'{"tenant": "t", "exp": true}',
        b'{"tenant": "t", "exp": "never"}',
        b'{"tenant": "t"}',
    ],
)
def test_signed_tokens_with_unusable_claims_are_refused(claims: bytes) -> None:
    auth = Authenticator(Clock(), random.Random(1))
    assert auth.check_jwt(_signed(auth, claims)) is None
    assert auth.check_jwt(_signed(auth, b'{"tenant": "t", "exp": 99999999999}')) == Principal("t")


@pytest.mark.parametrize("otp", ["", "\u00e9" * 32, "G" * 32, "0" * 31, "0" * 33, "0" * 32 + "\n"])
def test_an_otp_of_the_wrong_shape_is_refused(otp: str) -> None:
    auth = Authenticator(Clock(), random.Random(1))
    auth.issue_otp(Principal("t"))
    assert auth.redeem_otp(otp) is None
