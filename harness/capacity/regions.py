"""The regions file: which fabric regions to measure, their SLO and the search plan.

A TOML file with defaults at the top level (``[slo]``, ``[search]``) and one ``[[region]]`` table
per region, which may override them (``[region.slo]``, ``[region.search]``). Credentials are named
by environment variable, never written in the file. Every problem is reported as one line naming
the file, the region and the field, before any load starts.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from harness.analysis.capacity import Slo
from harness.analysis.rate_search import SearchPlan
from harness.argtypes import MAX_SECONDS
from harness.errors import HarnessError, one_line
from harness.events.runfolder import run_id_problem
from harness.settings import MAX_RATE, MAX_USERS, TARGETS, LoadSettings, SettingsError, check_url, payload_frame_bytes
from harness.userfiles import read_small_text
from harness.wire import MAX_TEXT_FRAME_BYTES

#: The least bracket width the search narrows to, as a fraction: a finer one never ends in float arithmetic.
MIN_RESOLUTION = 0.001
#: The largest stage-to-stage growth: beyond it one stage would jump past any capacity worth finding.
MAX_GROWTH = 1000.0

#: Region fields that name environment variables holding secrets.
CREDENTIAL_FIELDS = ("api_key_env", "email_env", "password_env", "token_env")


class RegionsFileError(HarnessError):
    """A regions file that cannot be used; one line naming the file, the region and the field."""


@dataclass(frozen=True)
class Region:
    """One region to measure."""

    name: str
    target: str
    url: str = ""
    fabric: str = "_system"
    stream: str = "streamharness-capacity"
    subscription: str = "streamharness-capacity"
    local: bool = False  # a local (one-region) stream rather than a global one
    profile: str = ""  # emulator target only: a built-in profile name or a profile file
    api_key_env: str = ""
    email_env: str = ""
    password_env: str = ""
    token_env: str = ""
    slo: Slo = field(default_factory=Slo)
    search: SearchPlan = field(default_factory=SearchPlan)

    def secret(self, field_name: str) -> str:
        """The value of the environment variable a credential field names ('' if none)."""
        variable = getattr(self, field_name)
        return os.environ.get(variable, "") if variable else ""


@dataclass(frozen=True)
class RegionsFile:
    path: Path
    regions: tuple[Region, ...]
    parallel: bool = False


def load_regions(path: Path, environ: Mapping[str, str] | None = None) -> RegionsFile:
    """Parse and validate a regions file; raises RegionsFileError naming file, region and field."""
    env = os.environ if environ is None else environ
    label = str(path)
    try:
        document = tomllib.loads(read_small_text(path))
    except FileNotFoundError:
        raise RegionsFileError(f"{label}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RegionsFileError(f"{label}: cannot read it ({one_line(exc)})") from None
    except (tomllib.TOMLDecodeError, RecursionError) as exc:  # RecursionError: tables nested thousands deep
        raise RegionsFileError(f"{label}: not valid TOML ({one_line(exc)})") from None
    _only_keys(document, {"slo", "search", "parallel", "region"}, label)
    base_slo = _section(Slo(), document.get("slo", {}), f"{label}: [slo]")
    base_search = _section(SearchPlan(), document.get("search", {}), f"{label}: [search]")
    parallel = document.get("parallel", False)
    if not isinstance(parallel, bool):
        raise RegionsFileError(f"{label}: parallel must be true or false")
    raw_regions = document.get("region")
    if not isinstance(raw_regions, list) or not raw_regions:
        raise RegionsFileError(f"{label}: no [[region]] tables")
    regions: list[Region] = []
    for index, raw in enumerate(raw_regions):
        regions.append(_region(raw, index, label, base_slo, base_search, env, path.parent))
    names = [r.name for r in regions]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RegionsFileError(f"{label}: region name {duplicates[0]!r} is used twice")
    return RegionsFile(path, tuple(regions), parallel)


def _region(
    raw: Any,
    index: int,
    label: str,
    base_slo: Slo,
    base_search: SearchPlan,
    env: Mapping[str, str],
    base_dir: Path,
) -> Region:
    where = f"{label}: region #{index + 1}"
    if not isinstance(raw, dict):
        raise RegionsFileError(f"{where}: not a table")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise RegionsFileError(f"{where}: name: missing")
    where = f"{label}: region {name!r}"
    problem = run_id_problem(name)  # the name begins each stage's run folder name
    if problem:
        raise RegionsFileError(f"{where}: name: {problem}")
    simple = {f.name for f in fields(Region)} - {"slo", "search"}
    _only_keys(raw, simple | {"slo", "search"}, where)
    values: dict[str, Any] = {}
    for key in simple:
        if key in raw:
            values[key] = _typed(Region, key, raw[key], where)
    if not isinstance(raw.get("target"), str):
        raise RegionsFileError(f"{where}: target: missing (one of {', '.join(TARGETS)})")
    region = Region(
        **values,
        slo=_section(base_slo, raw.get("slo", {}), f"{where}: slo"),
        search=_section(base_search, raw.get("search", {}), f"{where}: search"),
    )
    if region.target not in TARGETS:
        raise RegionsFileError(f"{where}: target: must be one of {', '.join(TARGETS)}, not {region.target!r}")
    if region.target in ("gdn", "pulsar") and not region.url:
        raise RegionsFileError(f"{where}: url: missing (required for target {region.target})")
    if region.url:
        try:
            check_url("url", region.url, LoadSettings(target=region.target, url=region.url).url_schemes())
        except SettingsError as exc:
            raise RegionsFileError(f"{where}: {exc}") from None
    gdn_credentials = region.api_key_env or region.token_env or (region.email_env and region.password_env)
    if region.target == "gdn" and not gdn_credentials:
        raise RegionsFileError(f"{where}: api_key_env: missing (or token_env, or email_env and password_env)")
    if region.profile and region.target != "emulator":
        raise RegionsFileError(f"{where}: profile: only an emulator region has a profile")
    if region.profile:
        region = replace(region, profile=_checked_profile(region.profile, base_dir, where))
    for key in CREDENTIAL_FIELDS:
        variable = getattr(region, key)
        if variable and not env.get(variable):
            raise RegionsFileError(f"{where}: {key}: environment variable {variable} is not set")
    _check_plan(region.search, f"{where}: search")
    _check_slo(region.slo, f"{where}: slo")
    return region


def _checked_profile(profile: str, base_dir: Path, where: str) -> str:
    """A built-in profile name, or a profile file (relative to the regions file) that the emulator accepts."""
    from harness.emulator.command import checked_profile
    from harness.emulator.profiles import BUILTIN_PROFILES, load_profile

    if profile in BUILTIN_PROFILES:
        return profile
    path = Path(profile) if Path(profile).is_absolute() else base_dir / profile
    try:
        checked_profile(load_profile(str(path)))
    except HarnessError as exc:
        raise RegionsFileError(f"{where}: profile: {exc}") from None
    return str(path)


def _check_plan(plan: SearchPlan, where: str) -> None:
    for key in ("start_rate", "stage_seconds", "max_rate"):
        if not getattr(plan, key) > 0:
            raise RegionsFileError(f"{where}: {key}: must be greater than 0")
    for key, high in (("start_rate", MAX_RATE), ("max_rate", MAX_RATE)):
        if getattr(plan, key) > high:
            raise RegionsFileError(f"{where}: {key}: must be at most {high:g}")
    if not MIN_RESOLUTION <= plan.resolution < 1:
        raise RegionsFileError(f"{where}: resolution: must be from {MIN_RESOLUTION:g} to less than 1")
    if not 1 < plan.growth <= MAX_GROWTH:
        raise RegionsFileError(f"{where}: growth: must be greater than 1 and at most {MAX_GROWTH:g}")
    for key in ("warmup_seconds", "drain_timeout", "size"):
        if getattr(plan, key) < 0:
            raise RegionsFileError(f"{where}: {key}: must not be negative")
    for key in ("stage_seconds", "warmup_seconds", "drain_timeout"):
        if getattr(plan, key) > MAX_SECONDS:
            raise RegionsFileError(f"{where}: {key}: must be at most {MAX_SECONDS} s")
    for key in ("producers", "consumers"):
        if not 1 <= getattr(plan, key) <= MAX_USERS:
            raise RegionsFileError(f"{where}: {key}: must be from 1 to {MAX_USERS}")
    if plan.start_rate > plan.max_rate:
        raise RegionsFileError(f"{where}: start_rate: above max_rate")
    if payload_frame_bytes(plan.size) > MAX_TEXT_FRAME_BYTES:
        raise RegionsFileError(f"{where}: size: a {plan.size}-byte payload is over the endpoints' 1 MiB frame limit")


def _check_slo(slo: Slo, where: str) -> None:
    if slo.p99_ms is not None and not 0 < slo.p99_ms <= MAX_SECONDS * 1000:
        raise RegionsFileError(f"{where}: p99_ms: must be greater than 0 and at most {MAX_SECONDS * 1000} ms")
    for key in ("max_lost", "max_duplicated"):
        if getattr(slo, key) < 0:
            raise RegionsFileError(f"{where}: {key}: must not be negative")
    if not 0 <= slo.min_jain <= 1:
        raise RegionsFileError(f"{where}: min_jain: must be between 0 and 1")


def _section(base: Any, raw: Any, where: str) -> Any:
    """``base`` with the keys of ``raw`` applied, each checked against the field's type."""
    if not isinstance(raw, dict):
        raise RegionsFileError(f"{where}: not a table")
    known = {f.name for f in fields(base)}
    _only_keys(raw, known, where)
    return replace(base, **{key: _typed(type(base), key, value, where) for key, value in raw.items()})


def _only_keys(table: Mapping[str, Any], known: set[str], where: str) -> None:
    for key in table:
        if key not in known:
            raise RegionsFileError(f"{where}: unknown key {key!r}")


def _typed(cls: type, key: str, value: Any, where: str) -> Any:
    default = {f.name: f.default for f in fields(cls)}[key]
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float) or default is None:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        if isinstance(default, bool):
            expected = "true or false"
        elif default is None or isinstance(default, int | float):
            expected = "a finite number"
        else:
            expected = "a string"
        raise RegionsFileError(f"{where}: {key}: must be {expected}, not {value!r}")
    return value
