"""Where each fetched cutout came from: ``OUT/sources.csv``, a row per image file.

A run of :func:`galmorph.data.cutouts.download_cutouts` keeps an image from an earlier
run only when it came from the URL this run would fetch: a galaxy whose position
changed in the catalog, or another galaxy whose id gives the same file name, gets its
own image again. Rows are appended as images are written (from several threads), so
a run stopped at any point leaves a log of every whole image; a row cut short by the
stop is ignored.

Example:
    >>> log = SourceLog(Path("cutouts/sources.csv"))  # doctest: +SKIP
    >>> log.matches("images/J1.jpg", "https://...")  # doctest: +SKIP
    True
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterable
from pathlib import Path

from galmorph.files import atomic_target

#: The log's columns.
HEADER = ("file", "url")


class SourceLog:
    """The URL of each image file in an output folder (relative paths), kept in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.sources = self._read()

    def _read(self) -> dict[str, str]:
        """Each file's last URL. Lines are read one at a time: a damaged line (cut short
        by a stop, or edited) costs its own image at most, fetched again."""
        if not self.path.is_file():
            return {}
        sources = {}
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = next(csv.reader([line]), [])
            except csv.Error:  # a NUL byte
                continue
            if len(row) == len(HEADER) and tuple(row) != HEADER:
                sources[row[0]] = row[1]
        return sources

    def matches(self, file: str, url: str) -> bool:
        """Whether ``file`` was last written from ``url``."""
        return self.sources.get(file) == url

    def record(self, file: str, url: str) -> None:
        """Note that ``file`` now holds the image at ``url`` (safe from several threads)."""
        with self._lock:
            with open(self.path, "a+b") as handle:
                handle.seek(0, io.SEEK_END)
                if handle.tell() == 0:
                    start = _row(HEADER)
                else:  # a row cut short by a stop: end it, so that the new one is whole
                    handle.seek(-1, io.SEEK_END)
                    start = b"" if handle.read(1) == b"\n" else b"\n"
                handle.write(start + _row((file, url)))
            self.sources[file] = url

    def compact(self, files: Iterable[str]) -> None:
        """Rewrite the log with one row for each of ``files`` it knows, in that order."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows((file, self.sources[file]) for file in files if file in self.sources)
        with self._lock, atomic_target(self.path) as tmp:
            tmp.write_text(buffer.getvalue(), encoding="utf-8")


def _row(values: tuple[str, ...]) -> bytes:
    """One CSV line of ``values``, UTF-8."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue().encode("utf-8")
