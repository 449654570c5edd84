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
        if not self.path.is_file():
            return {}
        text = self.path.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines(keepends=True)
        whole = [line for line in lines if line.endswith("\n")]  # the last may be cut short
        rows = list(csv.reader(whole))
        return {row[0]: row[1] for row in rows[1:] if len(row) == len(HEADER)}

    def matches(self, file: str, url: str) -> bool:
        """Whether ``file`` was last written from ``url``."""
        return self.sources.get(file) == url

    def record(self, file: str, url: str) -> None:
        """Note that ``file`` now holds the image at ``url`` (safe from several threads)."""
        with self._lock:
            new = not self.path.is_file()
            with open(self.path, "a", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                if new:
                    writer.writerow(HEADER)
                writer.writerow((file, url))
            self.sources[file] = url

    def compact(self, files: Iterable[str]) -> None:
        """Rewrite the log with one row for each of ``files`` it knows, in that order."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows((file, self.sources[file]) for file in files if file in self.sources)
        with self._lock, atomic_target(self.path) as tmp:
            tmp.write_text(buffer.getvalue(), encoding="utf-8")
