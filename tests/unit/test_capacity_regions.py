"""The regions file: defaults, overrides, and one line naming file, region and field for every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.capacity.regions import RegionsFileError, load_regions

GOOD = """
parallel = false

[slo]
p99_ms = 250
min_jain = 0.8

[search]
start_rate = 200
stage_seconds = 5

[[region]]
name = "us-east"
target = "gdn"
url = "https://play.paas.macrometa.io"
fabric = "_system"
api_key_env = "US_EAST_KEY"
stream = "cap"
subscription = "cap-sub"

[region.search]
max_rate = 3000

[[region]]
name = "lab"
target = "emulator"
profile = "eu-west"

[region.slo]
p99_ms = 100
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "regions.toml"
    path.write_text(text)
    return path


def test_defaults_and_overrides(tmp_path: Path) -> None:
    regions = load_regions(write(tmp_path, GOOD), environ={"US_EAST_KEY": "t.k.s"})
    us, lab = regions.regions
    assert (us.name, us.target, us.fabric, us.stream, us.subscription) == (
        "us-east",
        "gdn",
        "_system",
        "cap",
        "cap-sub",
    )
    assert us.slo.p99_ms == 250 and us.slo.min_jain == 0.8
    assert us.search.start_rate == 200 and us.search.stage_seconds == 5 and us.search.max_rate == 3000
    assert lab.slo.p99_ms == 100 and lab.search.max_rate == 20_000 and lab.profile == "eu-west"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('name = "lab"\n', ""), "region #2: name: missing"),
        (lambda t: t.replace('profile = "eu-west"', 'profil = "eu-west"'), "region 'lab': unknown key 'profil'"),
        (lambda t: t.replace("p99_ms = 100", "p99_ms = 'fast'"), "region 'lab': slo: p99_ms: must be a finite number"),
        (lambda t: t.replace("stage_seconds = 5", "stage_seconds = inf"), "[search]: stage_seconds: must be a finite"),
        (lambda t: t.replace("max_rate = 3000", "max_rate = 3000\nwarmup_seconds = nan"), "warmup_seconds: must be a"),
        (lambda t: t.replace("stage_seconds = 5", "stage_secs = 5"), "[search]: unknown key 'stage_secs'"),
        (lambda t: t.replace('url = "https://play.paas.macrometa.io"\n', ""), "region 'us-east': url: missing"),
        (lambda t: t.replace('target = "emulator"', 'target = "kafka"'), "region 'lab': target: must be one of"),
        (lambda t: t.replace("max_rate = 3000", "max_rate = 100"), "region 'us-east': search: start_rate: above"),
        (lambda t: t.replace('name = "lab"', 'name = "us-east"'), "region name 'us-east' is used twice"),
        (lambda t: t + "\n[bogus]\n", "unknown key 'bogus'"),
        (lambda t: t.replace("[slo]", "[slo"), "not valid TOML"),
        (lambda t: t.replace('target = "emulator"\n', ""), "region 'lab': target: missing"),
        (lambda t: t.replace('profile = "eu-west"', 'profile = "mars"'), "region 'lab': profile: unknown profile"),
        (lambda t: t.replace("p99_ms = 100", "p99_ms = -5"), "region 'lab': slo: p99_ms: must be greater than 0"),
        (lambda t: t.replace("min_jain = 0.8", "min_jain = 7"), "slo: min_jain: must be between 0 and 1"),
        (lambda t: t.replace("max_rate = 3000", "max_rate = 3000\nsize = -5"), "search: size: must not be negative"),
        (lambda t: t.replace("macrometa.io", "macrometa.io:99999"), "region 'us-east': url 'https://play.paas"),
        (lambda t: t.replace('api_key_env = "US_EAST_KEY"\n', ""), "region 'us-east': api_key_env: missing"),
        # numbers that are not finite or out of range, in every section
        (lambda t: t.replace("p99_ms = 250", "p99_ms = nan"), "[slo]: p99_ms: must be a finite number, not nan"),
        (lambda t: t.replace("min_jain = 0.8", "min_jain = -inf"), "[slo]: min_jain: must be a finite number"),
        (lambda t: t.replace("start_rate = 200", "start_rate = nan"), "[search]: start_rate: must be a finite"),
        (lambda t: t.replace("max_rate = 3000", "max_rate = inf"), "region 'us-east': search: max_rate: must be a"),
        (lambda t: t.replace("p99_ms = 100", "p99_ms = inf"), "region 'lab': slo: p99_ms: must be a finite"),
        (
            lambda t: t.replace("p99_ms = 100", "p99_ms = 1e300"),
            "region 'lab': slo: p99_ms: must be greater than 0 and",
        ),
        (lambda t: t.replace("max_rate = 3000", "max_rate = 1e300"), "search: max_rate: must be at most"),
        (lambda t: t.replace("stage_seconds = 5", "stage_seconds = 1e12"), "search: stage_seconds: must be at most"),
        (lambda t: t.replace("stage_seconds = 5", "stage_seconds = 5\nresolution = 1e-300"), "search: resolution"),
        (lambda t: t.replace("stage_seconds = 5", "stage_seconds = 5\nresolution = 1.0"), "search: resolution"),
        (lambda t: t.replace("stage_seconds = 5", "stage_seconds = 5\ngrowth = 1e300"), "search: growth"),
        (lambda t: t.replace("stage_seconds = 5", "stage_seconds = 5\nproducers = 9000000000"), "search: producers"),
        (lambda t: t.replace("stage_seconds = 5", "stage_seconds = 5\nconsumers = 0"), "search: consumers"),
        (lambda t: t.replace('name = "lab"', 'name = "../lab"'), "region '../lab': name: must be a plain name"),
        (lambda t: t.replace('name = "lab"', 'name = "a/b"'), "region 'a/b': name: must be a plain name"),
        (
            lambda t: t.replace("macrometa.io", "[::1"),
            "region 'us-east': url 'https://play.paas.[::1' is not a valid URL",
        ),
    ],
)
def test_problems_name_file_region_and_field(tmp_path: Path, edit, message: str) -> None:
    path = write(tmp_path, edit(GOOD))
    with pytest.raises(RegionsFileError) as caught:
        load_regions(path, environ={"US_EAST_KEY": "t.k.s"})
    text = str(caught.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text


def test_unset_credential_variable_is_named(tmp_path: Path) -> None:
    with pytest.raises(RegionsFileError) as caught:
        load_regions(write(tmp_path, GOOD), environ={})
    assert "region 'us-east': api_key_env: environment variable US_EAST_KEY is not set" in str(caught.value)


def test_a_gdn_region_may_take_a_jwt_by_token_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("US_EAST_JWT", "h.p.s")
    text = GOOD.replace('api_key_env = "US_EAST_KEY"', 'token_env = "US_EAST_JWT"')
    us, _ = load_regions(write(tmp_path, text), environ={"US_EAST_JWT": "h.p.s"}).regions
    assert us.token_env == "US_EAST_JWT" and us.secret("token_env") == "h.p.s"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RegionsFileError, match="no such file"):
        load_regions(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("text", "field"), [("latency_ms = nan", "latency_ms"), ("service_rate = inf", "service_rate")]
)
def test_a_profile_file_with_a_number_not_finite_is_refused(tmp_path: Path, text: str, field: str) -> None:
    (tmp_path / "odd.toml").write_text(text + "\n")
    path = write(tmp_path, GOOD.replace('profile = "eu-west"', 'profile = "odd.toml"'))
    with pytest.raises(RegionsFileError) as caught:
        load_regions(path, environ={"US_EAST_KEY": "t.k.s"})
    assert f"region 'lab': profile: profile odd: {field} must be a finite number" in str(caught.value)
