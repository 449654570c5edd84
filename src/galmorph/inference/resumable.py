"""Jobs over large catalogs, done in chunks that survive an interruption.

``galmorph predict`` and ``galmorph embed`` work through a catalog ``chunk_size``
rows at a time, so memory holds one chunk of results whatever the catalog's
length. With ``--resume`` each finished chunk is also kept as a *part* in a
folder beside the output (``OUT.parts/``, see :func:`parts_dir_for`), so a job
that is killed can be run again and computes only the chunks that are missing:

* a part is a parquet file ``rows-START-STOP.parquet`` (catalog row numbers,
  10 digits, ``STOP`` excluded), written atomically, so it is either complete or
  absent;
* its metadata holds a record of what made it: the job (e.g. the model's
  checksum), ``start``, ``stop`` and the SHA-256 of the rows' ids, one per line.
  A part is reused only when its record matches, so a changed model or catalog
  recomputes it instead of mixing results; rows are never lost or repeated.

:class:`PartStore` keeps the parts; :func:`chunk_bounds` cuts a catalog into
chunks; :func:`remove_leftovers` clears what a killed run may leave beside an
output (temporary files and folders whose names start with ``.OUT.``).

Example:
    >>> chunk_bounds(5, 2)
    [(0, 2), (2, 4), (4, 5)]
"""

from __future__ import annotations

import glob
import hashlib
import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from galmorph.files import user_path
from galmorph.inference.outputs import read_metadata, write_table


def chunk_bounds(n_rows: int, chunk_size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` row ranges of ``chunk_size`` rows (the last may be shorter)."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    return [(start, min(start + chunk_size, n_rows)) for start in range(0, n_rows, chunk_size)]


def parts_dir_for(output: str | Path) -> Path:
    """The resumable-parts folder of an output file: ``OUT.parquet.parts/``."""
    output = user_path(output)
    return output.with_name(output.name + ".parts")


def ids_digest(ids: Iterable[object]) -> str:
    """SHA-256 (hex) of ids as text, one per line, in order."""
    return hashlib.sha256("\n".join(str(i) for i in ids).encode()).hexdigest()


def remove_leftovers(output: str | Path) -> list[Path]:
    """Delete what an interrupted run writing ``output`` left beside it; return what went.

    That is the hidden temporary files and folders named ``.NAME.*.tmp`` and
    ``.NAME.*.parts`` (``NAME`` being the output's file name) made by atomic
    writes. Another run writing the same output at the same time would lose its
    temporary file, so run one job per output file.
    """
    output = user_path(output)
    stem = glob.escape(f".{output.name}.")
    removed = []
    for suffix in ("*.tmp", "*.parts"):
        for path in output.parent.glob(stem + suffix):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


class PartStore:
    """Finished chunks of one job, as parquet parts in a folder (see the module docs).

    Args:
        folder: where the parts go (created when missing).
        job: what the results depend on besides the rows (e.g. the model's
            checksum), as text; stored in every part and compared on reuse.
        key: parquet metadata key of the record.
    """

    def __init__(self, folder: str | Path, job: Mapping[str, object], key: str) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.job = {str(k): v for k, v in job.items()}
        self.key = key

    def path(self, start: int, stop: int) -> Path:
        return self.folder / f"rows-{start:010d}-{stop:010d}.parquet"

    def record(self, start: int, stop: int, ids: Iterable[object]) -> str:
        """The record a part of these rows carries: the job, the rows and their ids' digest."""
        return json.dumps(
            {**self.job, "start": start, "stop": stop, "ids_sha256": ids_digest(ids)},
            sort_keys=True,
        )

    def has(self, start: int, stop: int, ids: Iterable[object]) -> bool:
        """Whether a reusable part of these rows is there (made by this job, of these ids)."""
        part = self.path(start, stop)
        if not part.is_file():
            return False
        try:
            stored = read_metadata(part).get(self.key)
        except Exception:  # not a readable parquet file: recompute it
            return False
        return stored == self.record(start, stop, ids)

    def write(self, frame: pd.DataFrame, start: int, stop: int, ids: Iterable[object]) -> Path:
        """Keep a finished chunk (atomically), tagged with its record."""
        return write_table(frame, self.path(start, stop), {self.key: self.record(start, stop, ids)})

    def read(self, start: int, stop: int, columns: list[str] | None = None) -> pd.DataFrame:
        """The kept chunk of rows ``start`` to ``stop`` (only ``columns``, when given)."""
        return pd.read_parquet(self.path(start, stop), columns=columns)

    def remove(self) -> None:
        """Delete the folder and every part in it."""
        shutil.rmtree(self.folder, ignore_errors=True)
