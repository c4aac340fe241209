"""Write a file so that a reader sees the old content or the new, never half of either."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def write_text_atomically(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``.

    The temporary name is unique per process and thread, so concurrent writers of the same file
    (parallel capacity searches, say) never trip over each other's half-written copy.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
