"""Producer frames in and message frames out, byte for byte as the reference describes them."""

from __future__ import annotations

import datetime as dt
import random
import statistics
from pathlib import Path

import orjson
import pytest

from harness.emulator.connection import release_time
from harness.emulator.frames import (
    Publish,
    PublishRejected,
    PublishTimeFormatter,
    format_publish_time,
    message_frame,
    parse_publish,
    publish_error,
    stamp,
)
from harness.emulator.profiles import BUILTIN_PROFILES, load_profile
from harness.errors import HarnessError


def test_a_publish_becomes_a_fragment_of_the_message_frame() -> None:
    parsed = parse_publish(b'{"payload":"eA==","properties":{"a":"1"},"context":"c","key":"k"}')
    assert isinstance(parsed, Publish) and parsed.context == "c" and parsed.key == "k"
    fields = orjson.loads(b"{" + stamp(parsed.fragment, PublishTimeFormatter()(1.5)) + b"}")
    assert fields == {
        "payload": "eA==",
        "properties": {"a": "1"},
        "publishTime": "1970-01-01T00:00:01.5Z",
        "key": "k",
    }


def test_a_message_frame_wraps_the_stored_fragment() -> None:
    parsed = parse_publish(b'{"payload":"eA==","key":"k"}')
    assert isinstance(parsed, Publish)
    frame = message_frame(b"CAAQAw==", stamp(parsed.fragment, b"1970-01-01T00:00:01.5Z"), 2)
    assert orjson.loads(frame) == {
        "messageId": "CAAQAw==",
        "payload": "eA==",
        "properties": {},
        "publishTime": "1970-01-01T00:00:01.5Z",
        "key": "k",
        "redeliveryCount": 2,
    }


def test_unpadded_base64_is_accepted_and_re_encoded_like_java_does() -> None:
    parsed = parse_publish(b'{"payload":"aGVsbG8"}')
    assert isinstance(parsed, Publish) and b'"payload":"aGVsbG8="' in parsed.fragment


def test_scalar_properties_are_strings_and_nested_ones_refused() -> None:
    parsed = parse_publish(b'{"payload":"eA==","properties":{"n":5,"b":true}}')
    assert isinstance(parsed, Publish) and b'"properties":{"n":"5","b":"true"}' in parsed.fragment
    refused = parse_publish(b'{"payload":"eA==","properties":{"n":[1]},"context":"c"}')
    assert isinstance(refused, PublishRejected) and refused.code == 3


@pytest.mark.parametrize(
    ("epoch_ms", "tz", "expected"),
    [
        (1_635_548_498_967, dt.timezone(dt.timedelta(hours=-7)), "2021-10-29T16:01:38.967-07:00"),
        (1_635_548_498_960, dt.UTC, "2021-10-29T23:01:38.96Z"),
        (1_635_548_498_900, dt.UTC, "2021-10-29T23:01:38.9Z"),
        (1_635_548_498_000, dt.UTC, "2021-10-29T23:01:38Z"),
        (1_635_548_460_000, dt.UTC, "2021-10-29T23:01:00Z"),
        (1_635_548_498_007, dt.timezone(dt.timedelta(hours=5, minutes=30)), "2021-10-30T04:31:38.007+05:30"),
    ],
)
def test_publish_time_is_written_as_javas_iso_offset_date_time(epoch_ms: int, tz: dt.tzinfo, expected: str) -> None:
    """Java writes ``Z`` for UTC, always the seconds, and the fraction without trailing zeros."""
    assert format_publish_time(epoch_ms, tz) == expected


def test_send_errors_echo_the_context_only_when_known() -> None:
    rejected = parse_publish(b'{"payload":"%%%","context":"7"}')
    assert isinstance(rejected, PublishRejected)
    assert orjson.loads(publish_error(rejected)) == {
        "result": "send-error:7",
        "errorMsg": "Invalid Base64 message-payload",
        "context": "7",
    }


def test_profiles_builtin_and_from_toml(tmp_path: Path) -> None:
    assert set(BUILTIN_PROFILES) == {"us-east", "eu-west", "ap-south"}
    rates = sorted(p.service_rate for p in BUILTIN_PROFILES.values())
    assert len(set(rates)) == 3
    path = tmp_path / "lab.toml"
    path.write_text("latency_ms = 20\njitter_ms = 2.5\nservice_rate = 300\n")
    profile = load_profile(str(path))
    assert (profile.name, profile.latency_ms, profile.jitter_ms, profile.service_rate) == ("lab", 20.0, 2.5, 300.0)
    path.write_text("latency_ms = 1\njitter_ms = 2\n")
    with pytest.raises(HarnessError, match="jitter_ms must not exceed latency_ms"):
        load_profile(str(path))


def test_profile_jitter_spreads_release_times_both_ways_and_keeps_a_sockets_order() -> None:
    rng = random.Random(3)
    latency, jitter = 0.040, 0.005
    offsets, previous = [], 0.0
    for i in range(2000):
        now = 100.0 + i * 0.010  # frames 10 ms apart: more than the jitter's whole spread
        release = release_time(now, previous, latency, jitter, rng)
        offsets.append(release - now)
        previous = release
    assert all(latency - jitter <= o <= latency + jitter for o in offsets)
    assert min(offsets) < latency - 0.9 * jitter and max(offsets) > latency + 0.9 * jitter
    assert abs(statistics.mean(offsets) - latency) < jitter / 10
    # Frames queued together may not overtake each other: each is released no earlier than the one before.
    burst = [release_time(100.0, 0.0, latency, jitter, rng)]
    for _ in range(50):
        burst.append(release_time(100.0, burst[-1], latency, jitter, rng))
    assert burst == sorted(burst) and burst[-1] > burst[0]
