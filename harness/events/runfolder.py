"""The run folder: ``reports/<run-id>/`` with ``run.json`` and ``events/*.csv``.

``run.json`` is rewritten atomically (temporary file, then rename) so a reader never sees half of
it. Secrets never reach it: settings pass through :func:`redact` first.
"""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from harness.atomic import write_text_atomically
from harness.errors import HarnessError
from harness.events.schema import EVENTS_DIR, RUN_JSON, SCHEMA_VERSION

#: Substrings of setting names whose values are secret.
SECRET_NAME_PARTS = ("api_key", "apikey", "password", "passwd", "token", "secret", "jwt", "otp", "credential")
REDACTED = "***"
#: A run id is a plain folder name: it can never reach outside the reports folder or hide as a dot-file.
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
RUN_ID_MAX_CHARS = 128


class RunFolderError(HarnessError):
    """A run folder that cannot be claimed: a bad run id, an unusable reports folder, a folder in use."""


def run_id_problem(run_id: str) -> str | None:
    """What makes ``run_id`` unfit as a run folder's name, or None when it is a plain name."""
    if len(run_id) > RUN_ID_MAX_CHARS:
        return f"longer than {RUN_ID_MAX_CHARS} characters"
    if not RUN_ID_PATTERN.fullmatch(run_id) or ".." in run_id:
        return "must be a plain name: letters, digits, '.', '_' and '-', not starting with '.' or '-', no '..'"
    return None


def check_run_location(reports_dir: Path, run_id: str) -> None:
    """Refuse, before any load, a reports folder that cannot be created or written and a run folder in use.

    This is an early check for a clear message; :meth:`RunFolder.create` claims the folder atomically,
    so two runs started at once with one run id still cannot share it.
    """
    shown = str(reports_dir)
    _refuse_non_folder(reports_dir)
    # Nothing is created before the run claims its folder: the folder (or its nearest existing
    # parent) must take a new entry, tried for real, as permissions alone do not tell (root, /proc).
    nearest = next(
        folder for folder in (reports_dir.absolute(), *reports_dir.absolute().parents) if os.path.lexists(folder)
    )
    if not nearest.is_dir():
        raise RunFolderError(f"--reports-dir {shown!r}: cannot create it ({nearest} is not a folder)")
    _check_name_lengths(reports_dir.absolute() / (run_id or "x" * 32), nearest, shown)
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".streamharness-probe-", dir=nearest))
    except OSError as exc:
        what = "not writable" if nearest == reports_dir.absolute() else "cannot create it"
        raise RunFolderError(f"--reports-dir {shown!r}: {what} ({nearest}: {exc.strerror or exc})") from None
    if run_id and os.path.lexists(reports_dir / run_id):
        raise RunFolderError(_in_use(reports_dir / run_id))


#: Room for the longest path inside a run folder (``events/w<n>-<pid>.csv``, a plot, a temporary file).
_DEEPEST_ENTRY_BYTES = 64


def _check_name_lengths(run_dir: Path, nearest: Path, shown: str) -> None:
    """A name past the file system's limits: the probe write in ``nearest`` passes, the run's mkdir would not."""
    try:
        name_max, path_max = os.pathconf(nearest, "PC_NAME_MAX"), os.pathconf(nearest, "PC_PATH_MAX")
    except (OSError, ValueError):  # a file system that does not say: the run's own mkdir will tell
        return
    longest = max(run_dir.parts, key=lambda part: len(os.fsencode(part)))
    if len(os.fsencode(longest)) > name_max:
        raise RunFolderError(f"--reports-dir cannot be created: a name in it is over {name_max} bytes ({shown!r})")
    if len(os.fsencode(str(run_dir))) + _DEEPEST_ENTRY_BYTES >= path_max:
        raise RunFolderError(
            f"--reports-dir cannot be created: its run folders' paths reach {path_max} bytes ({shown!r})"
        )


def _usable_reports_dir(reports_dir: Path) -> None:
    """The reports folder exists (created if missing) and this process may write in it."""
    _refuse_non_folder(reports_dir)
    try:
        reports_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(f"--reports-dir {str(reports_dir)!r}: cannot create it ({exc.strerror or exc})") from None
    if not os.access(reports_dir, os.W_OK | os.X_OK):
        raise RunFolderError(f"--reports-dir {str(reports_dir)!r}: not writable")


def _refuse_non_folder(reports_dir: Path) -> None:
    """RunFolderError when something that is not a folder (a file, a dangling link) stands at ``reports_dir``."""
    if os.path.lexists(reports_dir) and not reports_dir.is_dir():
        raise RunFolderError(f"--reports-dir {str(reports_dir)!r} is not a folder")


def _in_use(path: Path) -> str:
    return (
        f"run folder {str(path)!r} exists already; a run is never appended to another "
        "(choose another --run-id, or none for a fresh one)"
    )


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
        """Claim a new run folder: created here and now, or RunFolderError if it exists (never reused).

        The folder is made with one mkdir that fails when it exists, so of two runs with one id
        started at once exactly one gets it.
        """
        problem = run_id_problem(run_id)
        if problem:
            raise RunFolderError(f"--run-id {run_id!r}: {problem}")
        _usable_reports_dir(reports_dir)
        folder = cls(reports_dir / run_id)
        try:
            folder.path.mkdir()
        except FileExistsError:
            raise RunFolderError(_in_use(folder.path)) from None
        except OSError as exc:
            raise RunFolderError(f"{folder.path}: cannot create the run folder ({exc.strerror or exc})") from None
        folder.events_dir.mkdir()
        return folder

    @classmethod
    def join(cls, reports_dir: Path, run_id: str) -> RunFolder:
        """A run folder another process of the same run claimed (a local worker keeping its events on disk)."""
        folder = cls(reports_dir / run_id)
        folder.events_dir.mkdir(parents=True, exist_ok=True)
        return folder

    def release_if_unused(self) -> None:
        """Remove the folder if nothing was written into it: a run claimed but never started."""
        for path in (self.events_dir, self.path):
            try:
                path.rmdir()
            except OSError:
                return

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
