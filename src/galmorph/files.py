"""Writing files so that a failed or killed run never leaves a half-written one.

:func:`atomic_target` gives a temporary path that replaces the target on success
(:func:`atomic_folder` the same for a folder); :func:`write_json` writes plain JSON (NaN
as null) through it. :func:`is_one_of` tells whether an output would replace an input.

Example:
    >>> with atomic_target(Path("out.json")) as tmp:  # doctest: +SKIP
    ...     tmp.write_text("{}")
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


def user_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`~pathlib.Path`, with ``~`` expanded as the shell and pandas
    expand it (``~/catalog.csv`` → ``/home/me/catalog.csv``)."""
    return Path(path).expanduser()


def is_one_of(path: str | Path, files: Iterable[Any]) -> bool:
    """Whether the existing file ``path`` is one of ``files`` (paths; blanks and missing
    files skipped): a figure or table about to be written there would replace it.

    Files of the same name are compared by what they are (``samefile``: another spelling
    of the path, a linked folder); only those are looked at, found with one vectorised
    pass, so that millions of files cost well under a second.
    """
    import pandas as pd

    target = Path(path)
    if not target.is_file():
        return False
    texts = pd.Series(files, dtype=object).map(os.fspath, na_action="ignore").dropna()
    named = texts[texts.str.endswith(target.name, na=False)]
    return any(os.path.basename(file) == target.name and os.path.exists(file)
               and os.path.samefile(file, target) for file in named)


@contextmanager
def atomic_target(path: str | Path) -> Iterator[Path]:
    """A temporary file beside ``path`` (``.NAME.*.tmp``) that replaces it once the block
    succeeds.

    Missing folders are created. The file is made readable by all (0644) and
    flushed to disk before the rename; on any error, Ctrl-C included, it is
    deleted and ``path`` left as it was.

    Raises:
        IsADirectoryError: when ``path`` is a folder.
        OSError: naming ``path`` (not the temporary file) when its folder cannot be
            made or written to.
    """
    path = user_path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "a folder is there, give a file name", str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:  # name the file asked for, not the temporary one
        raise OSError(err.errno, f"cannot write there: {err.strerror}", str(path)) from None
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


@contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """A temporary folder beside ``path`` (``.NAME.*.tmp``) that becomes ``path`` once the
    block succeeds; on any error, Ctrl-C included, it is deleted with what it holds."""
    path = user_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield folder
        os.replace(folder, path)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _jsonable(value: Any) -> Any:
    """Plain JSON data: NaN/inf → None, numpy scalars and arrays → Python values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(result: dict[str, Any], path: str | Path) -> Path:
    """Write ``result`` as JSON atomically (temporary file + rename); NaN becomes null.

    Readers never see a half-written file: the JSON goes to a temporary file in
    the same directory, which then replaces ``path``. Missing parent directories
    are created.

    Example:
        >>> write_json({"mean_nll": float("nan")}, "metrics.json")  # doctest: +SKIP
        PosixPath('metrics.json')
    """
    path = Path(path)
    text = json.dumps(_jsonable(result), indent=2, allow_nan=False) + "\n"
    with atomic_target(path) as tmp:
        tmp.write_text(text)
    return path
