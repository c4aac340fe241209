"""Reading a small file a user named (thresholds, regions, a profile): a regular file of bounded size.

``Path.read_text`` on a FIFO blocks until a writer comes, and on ``/dev/zero`` never ends; a
"file" of a gigabyte is no thresholds file either. Both are refused as an OSError naming the file,
which every loader already turns into its one line.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

#: Far past any settings file a person writes; small enough to read without thinking about memory.
MAX_BYTES = 16 << 20


def read_small_text(path: Path, limit: int = MAX_BYTES) -> str:
    """The file's text as UTF-8; OSError when it is not a regular file or is over ``limit`` bytes.

    Opened without blocking, so a FIFO is seen for what it is before anything waits on it.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit >> 20} MiB, not a settings file", str(path))
    return data.decode("utf-8")
