"""Errors that end a command with one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

#: Longest error line shown; a longer message (an exception quoting a whole file, say) is cut.
MAX_LINE_CHARS = 500


class HarnessError(Exception):
    """Bad input or an unusable environment; ``str(error)`` is the one line the user sees."""

    exit_code = 2


def one_line(error: BaseException) -> str:
    """An error as one line for a user: what failed and on which file, with no traceback.

    OSError names its file and the system's reason; MemoryError says what it means; anything else
    is its message, newlines folded, cut to :data:`MAX_LINE_CHARS`.
    """
    if isinstance(error, MemoryError):
        text = "out of memory" + (f" ({error})" if str(error) else "")
    elif isinstance(error, OSError) and error.strerror:
        names = [str(name) for name in (error.filename, error.filename2) if name is not None]
        text = f"{' -> '.join(names)}: {error.strerror}" if names else error.strerror
    else:
        text = str(error) or type(error).__name__
        if not isinstance(error, HarnessError):
            text = f"{text} ({type(error).__name__})"
    text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    return text if len(text) <= MAX_LINE_CHARS else text[: MAX_LINE_CHARS - 3] + "..."
