"""The run folder: ``reports/<run-id>/`` with ``run.json`` and ``events/*.csv``.

``run.json`` is rewritten atomically (temporary file, then rename) so a reader never sees half of
it. Secrets never reach it: settings pass through :func:`redact` first.
"""

from __future__ import annotations

import json
import platform
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from harness.atomic import write_text_atomically
from harness.events.schema import EVENTS_DIR, RUN_JSON, SCHEMA_VERSION

#: Substrings of setting names whose values are secret.
SECRET_NAME_PARTS = ("api_key", "apikey", "password", "passwd", "token", "secret", "jwt", "otp", "credential")
REDACTED = "***"


def is_secret_name(name: str) -> bool:
    lowered = name.lower().replace("-", "_")
    return any(part in lowered for part in SECRET_NAME_PARTS)


def redact_url(url: str) -> str:
    """Hide a password in the userinfo and secret query parameters of a URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":" + REDACTED
        netloc = f"{userinfo}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED if is_secret_name(k) and v else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``settings`` with secret values replaced and URLs cleaned, recursively."""
    clean: dict[str, Any] = {}
    for name, value in settings.items():
        if is_secret_name(name) and value not in (None, "", False):
            clean[name] = REDACTED
        elif isinstance(value, Mapping):
            clean[name] = redact(value)
        elif isinstance(value, str) and "://" in value:
            clean[name] = redact_url(value)
        else:
            clean[name] = value
    return clean


def new_run_id(now: float | None = None) -> str:
    """A sortable, unique run id: ``YYYYmmdd-HHMMSS-<4 hex>`` in UTC."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"{stamp}-{secrets.token_hex(2)}"


def versions() -> dict[str, str]:
    """Versions of what produced a run, for the run record."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for dist in ("streamharness", "locust", "websocket-client", "aiohttp"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return found


class RunFolder:
    """One run's output folder."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, reports_dir: Path, run_id: str) -> RunFolder:
        folder = cls(reports_dir / run_id)
        (folder.path / EVENTS_DIR).mkdir(parents=True, exist_ok=True)
        return folder

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def events_dir(self) -> Path:
        return self.path / EVENTS_DIR

    def events_file(self, process_name: str) -> Path:
        return self.events_dir / f"{process_name}.csv"

    @property
    def manifest_path(self) -> Path:
        return self.path / RUN_JSON

    def read_manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {}
        loaded = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        return loaded if isinstance(loaded, dict) else {}

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Write ``run.json`` atomically; ``settings`` inside it is redacted here, whatever the caller did."""
        record = dict(manifest)
        record.setdefault("run_id", self.run_id)
        record.setdefault("schema_version", SCHEMA_VERSION)
        if "settings" in record and isinstance(record["settings"], Mapping):
            record["settings"] = redact(record["settings"])
        write_text_atomically(self.manifest_path, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
