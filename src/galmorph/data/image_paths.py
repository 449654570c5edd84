"""A catalog's ``file_loc`` as absolute image paths, as written on any machine.

:func:`resolve_image_paths` makes each path absolute: ``~`` is the home folder, a
relative path starts at the catalog's folder, a ``file://`` address is the file it names.
Catalogs written on Windows use ``\\`` between folders (``images\\J0902.jpg``); where
such a path names no file here and the same path with ``/`` does, the ``/`` path is taken
(:attr:`ResolvedPaths.windows`; when neither exists, the ``/`` path is the one reported
missing). Web addresses (``https://...``) and, off Windows, Windows drive paths
(``C:\\...``) are marked (:attr:`ResolvedPaths.urls`, :attr:`ResolvedPaths.drives`):
galmorph reads image files on this computer's disks and downloads nothing.

Example:
    >>> import pandas as pd
    >>> resolved = resolve_image_paths(pd.Series(["a.jpg", "https://x.org/b.jpg"]), "/data")
    >>> resolved.paths[0], resolved.urls.tolist()
    ('/data/a.jpg', [False, True])
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import numpy as np
import pandas as pd

#: A web address: a scheme such as ``http://``, ``https://``, ``s3://`` (``file://`` with
#: no host is a path on this computer).
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")
#: A Windows path that names a drive or a network share: ``C:\\...``, ``\\\\server\\...``.
WINDOWS_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")
#: A FITS path with CFITSIO's extension syntax: ``a.fits[1]``, ``a.fits.fz[SCI,2]``.
FITS_EXTENSION = re.compile(r"^(.+)\[[^\[\]]+\]$")


@dataclass(frozen=True)
class ResolvedPaths:
    """Absolute paths (``""`` for a blank), and per row what was noticed.

    Attributes:
        paths: one absolute path per row.
        windows: rows whose ``\\`` separators were read as ``/``.
        urls: rows that hold a web address (left as written).
        drives: rows that hold a Windows drive or share path (``C:\\...``: left as
            written, a file of another computer) where this is not Windows.
    """

    paths: list[str]
    windows: np.ndarray
    urls: np.ndarray
    drives: np.ndarray


def resolve_image_paths(file_loc: pd.Series, root: str | Path) -> ResolvedPaths:
    """``file_loc`` (text; NaN or blank for none) as absolute paths from ``root``."""
    base = os.path.abspath(root)
    texts = [_local("" if pd.isna(loc) else str(loc).strip()) for loc in file_loc]
    urls = np.array([bool(URL.match(text)) for text in texts], dtype=bool)
    drives = np.array([_is_windows_absolute(text) for text in texts], dtype=bool)
    windows = np.zeros(len(texts), dtype=bool)
    paths = []
    for i, text in enumerate(texts):
        if not text or urls[i] or drives[i]:
            paths.append(text)
            continue
        path = _absolute(base, text)
        if "\\" in text and os.sep == "/" and not os.path.exists(path):
            # the "/" form: the file, or when neither exists the path to look for
            path = _absolute(base, text.replace("\\", "/"))
            windows[i] = os.path.exists(path)
        paths.append(path)
    return ResolvedPaths(paths, windows, urls, drives)


def working_folder_hint(paths: Iterable[str], root: str | Path) -> str:
    """For missing images ``paths`` (made absolute from ``root``) that are there from the
    working folder instead, as a script's relative paths are: a hint; else ``""``."""
    here, base = os.getcwd(), os.path.abspath(root)
    there = [os.path.join(here, os.path.relpath(path, base)) for path in paths]
    if here == base or not any(map(os.path.isfile, there)):
        return ""
    return (f" (they are there from the working folder {here}: write paths relative to the "
            "catalog's folder, or absolute)")


def extension_hint(paths: Iterable[str]) -> str:
    """For missing images ``paths`` written in CFITSIO's extension syntax (``a.fits[1]``,
    ``a.fits[SCI]``) whose file exists: a hint; else ``""``."""
    named = [path for path in paths if (match := FITS_EXTENSION.match(path))
             and os.path.isfile(match.group(1))]
    if not named:
        return ""
    return (f" ({named[0]} names an HDU with CFITSIO's [...] syntax, which galmorph does not "
            "read: it reads a FITS file's first image HDU, so give the file's path and "
            "write the HDU you want to a file of its own)")


def _local(text: str) -> str:
    """A ``file://`` address as the path it names on this computer; other text as it is."""
    if text[:7].lower() != "file://":
        return text
    address = urlsplit(text)
    return text if address.netloc not in ("", "localhost") else url2pathname(address.path)


def _is_windows_absolute(path: str) -> bool:
    """Whether ``path`` names a Windows drive or share where this is not Windows."""
    return os.sep == "/" and bool(WINDOWS_ABSOLUTE.match(path))


def _absolute(base: str, path: str) -> str:
    return os.path.abspath(os.path.join(base, _home_expanded(path)))


def _home_expanded(path: str) -> str:
    """``path`` with a leading ``~`` or ``~user`` made the home folder; as it is when that
    cannot be done (a NUL byte in it: the file is then reported missing)."""
    try:
        return os.path.expanduser(path)
    except ValueError:
        return path
