"""Writing files so that a failed or killed run never leaves a half-written one.

Example:
    >>> with atomic_target(Path("out.json")) as tmp:  # doctest: +SKIP
    ...     tmp.write_text("{}")
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_target(path: str | Path) -> Iterator[Path]:
    """A temporary file beside ``path`` (``.NAME.*.tmp``) that replaces it once the block
    succeeds.

    Missing folders are created. The file is made readable by all (0644) and
    flushed to disk before the rename; on any error, Ctrl-C included, it is
    deleted and ``path`` left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp makes it private (0600)
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
