"""Write a file so that a reader sees the old content or the new, never half of either."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any


def write_text_atomically(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``.

    The temporary name is unique per process and thread, so concurrent writers of the same file
    (parallel capacity searches, say) never trip over each other's half-written copy.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_json_atomically(path: Path, document: dict[str, Any]) -> Path:
    """``document`` as indented JSON (no NaN or infinity: every reader can parse it), written atomically."""
    return write_text_atomically(path, json.dumps(document, indent=1, allow_nan=False) + "\n")
