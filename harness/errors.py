"""Errors that end a command with one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations


class HarnessError(Exception):
    """Bad input or an unusable environment; ``str(error)`` is the one line the user sees."""

    exit_code = 2
