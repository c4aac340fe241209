"""Credentials the emulator accepts: key tenants as jsc8 derives them, its own JWTs, single-use OTPs."""

from __future__ import annotations

import random

import pytest

from harness.emulator.auth import Authenticator, Principal, tenant_of_key
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
