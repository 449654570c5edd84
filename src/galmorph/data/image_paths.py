"""A catalog's ``file_loc`` as absolute image paths, as written on any machine.

:func:`resolve_image_paths` makes each path absolute: ``~`` is the home folder, a
relative path starts at the catalog's folder. Catalogs written on Windows use ``\\``
between folders (``images\\J0902.jpg``); where such a path names no file here and the
same path with ``/`` does, the ``/`` path is taken (:attr:`ResolvedPaths.windows`).
Web addresses (``https://...``) are marked (:attr:`ResolvedPaths.urls`): galmorph reads
image files on disk and downloads nothing.

Example:
    >>> import pandas as pd
    >>> resolved = resolve_image_paths(pd.Series(["a.jpg", "https://x.org/b.jpg"]), "/data")
    >>> resolved.paths[0], resolved.urls.tolist()
    ('/data/a.jpg', [False, True])
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: A web address: a scheme such as ``http://``, ``https://``, ``s3://``.
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


@dataclass(frozen=True)
class ResolvedPaths:
    """Absolute paths (``""`` for a blank), and per row what was noticed.

    Attributes:
        paths: one absolute path per row.
        windows: rows whose ``\\`` separators were read as ``/``.
        urls: rows that hold a web address (left as written).
    """

    paths: list[str]
    windows: np.ndarray
    urls: np.ndarray


def resolve_image_paths(file_loc: pd.Series, root: str | Path) -> ResolvedPaths:
    """``file_loc`` (text; NaN or blank for none) as absolute paths from ``root``."""
    base = os.path.abspath(root)
    texts = ["" if pd.isna(loc) else str(loc).strip() for loc in file_loc]
    urls = np.array([bool(URL.match(text)) for text in texts], dtype=bool)
    windows = np.zeros(len(texts), dtype=bool)
    paths = []
    for i, text in enumerate(texts):
        if not text or urls[i]:
            paths.append(text)
            continue
        path = _absolute(base, text)
        if "\\" in text and os.sep == "/" and not os.path.exists(path):
            forward = _absolute(base, text.replace("\\", "/"))
            if os.path.exists(forward):
                path, windows[i] = forward, True
        paths.append(path)
    return ResolvedPaths(paths, windows, urls)


def _absolute(base: str, path: str) -> str:
    return os.path.abspath(os.path.join(base, _home_expanded(path)))


def _home_expanded(path: str) -> str:
    """``path`` with a leading ``~`` or ``~user`` made the home folder; as it is when that
    cannot be done (a NUL byte in it: the file is then reported missing)."""
    try:
        return os.path.expanduser(path)
    except ValueError:
        return path
