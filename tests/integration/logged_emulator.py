"""An emulator process whose stderr (its log) goes to a file the test can read.

The log is written before the answer it explains goes out (a REST error, a refused handshake, a
close frame), so once the client has the answer, the line is in the file.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from harness.targets.emulator import EmulatorProcess


class LoggedEmulator(EmulatorProcess):
    """``streamharness emulator`` with stderr redirected to ``log_path`` (``sh`` execs it: same PID)."""

    def __init__(self, log_path: Path, extra_args: list[str] | None = None) -> None:
        super().__init__(extra_args)
        self.log_path = log_path
        self.command = ["sh", "-c", f'exec "$@" 2>{shlex.quote(str(log_path))}', "sh", *self.command]

    def __enter__(self) -> LoggedEmulator:
        self.start()
        return self

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_lines(self) -> list[str]:
        return self.log().splitlines()
