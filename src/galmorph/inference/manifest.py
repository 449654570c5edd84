"""The manifest of a partitioned output: which partitions are complete, and from what.

``OUT_DIR/_manifest.json`` is rewritten atomically (:func:`galmorph.files.atomic_target`)
each time partitions complete, so it always lists finished outputs only. It holds
the *job* (what the results depend on besides the rows: the kind of output, the
model's SHA-256 and options such as ``views``) and, per partition (its path
relative to the root), the input's row count, the SHA-256 of its ids
(:func:`galmorph.inference.resumable.ids_digest`), the model's SHA-256, the
rows written, the catalog's root folder and the rows left out as unreadable::

    {"version": 1, "job": {"kind": "predict", "model_sha256": "...", "views": 1, ...},
     "partitions": {"Norder=0/Dir=0/Npix=4.parquet":
                    {"rows": 812, "ids_sha256": "...", "model_sha256": "...",
                     "rows_written": 812, "source_root": "/data/hats_cat/dataset",
                     "rows_unreadable": 0}}}

A partition is complete (:meth:`Manifest.is_complete`) when its entry matches the
input as it is now and its output file is there; a manifest of another job
counts nothing as complete, and is replaced as partitions complete again.

:func:`read_output_folder` reads the complete partitions of such a folder as one table,
:func:`read_output` a table file or such a folder.

Example:
    >>> manifest = Manifest("out", {"kind": "predict", "model_sha256": "ab12"})  # doctest: +SKIP
    >>> manifest.is_complete("Npix=4.parquet", 812, "9f86...", "ab12")  # doctest: +SKIP
    False
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from galmorph.exceptions import GalmorphError
from galmorph.files import atomic_target

#: File name of the manifest in the output folder.
MANIFEST_NAME = "_manifest.json"
#: Version of the manifest's layout.
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class PartitionRecord:
    """A completed partition: its input (rows, ids' SHA-256), model and rows written, the
    root folder of the catalog it was read from (``""`` where not recorded) and the rows
    left out because their image could not be read (``skip_unreadable_images``)."""

    rows: int
    ids_sha256: str
    model_sha256: str
    rows_written: int
    source_root: str = ""
    rows_unreadable: int = 0


def _job(job: Mapping[str, object]) -> dict[str, Any]:
    """The job as it reads back from JSON (tuples become lists, keys text)."""
    return json.loads(json.dumps(dict(job), sort_keys=True))


def read_manifest(path: Path, advice: str = "") -> dict[str, Any]:
    """The ``job`` (dict) and ``partitions`` (:class:`PartitionRecord` by relative path) of
    the manifest file at ``path``.

    Raises:
        GalmorphError: naming the file when it is not a manifest, followed by ``advice``.
    """
    try:
        data = json.loads(path.read_text())
        if data.get("version") != MANIFEST_VERSION:
            raise ValueError(f"version {data.get('version')!r}, not {MANIFEST_VERSION}")
        if not isinstance(data["job"], dict) or "kind" not in data["job"]:
            raise ValueError("its job names no kind of output")
        records = {str(name): PartitionRecord(**entry)
                   for name, entry in data["partitions"].items()}
        return {"job": data["job"], "partitions": records}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
        raise GalmorphError(f"{path} is not a galmorph manifest ({err}){advice}") from None


def read_output_folder(folder: str | Path, kind: str) -> pd.DataFrame:
    """The rows of every partition that the manifest of ``folder`` (a partitioned output of
    ``galmorph {kind}``) lists as complete, in one table (their order, by path).

    Files of the folder that the manifest does not list (outputs of another job) are not
    read.

    Raises:
        GalmorphError: naming the folder when it has no manifest, holds another kind of
            output, or lists no complete partition; CatalogError for a listed file that
            is missing or unreadable.
    """
    from galmorph.data.table_files import read_table

    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise GalmorphError(f"{folder} is a folder without {MANIFEST_NAME}: give a table file, "
                            f"or the folder of a partitioned galmorph {kind} run")
    stored = read_manifest(path)
    if stored["job"]["kind"] != kind:
        raise GalmorphError(f"{folder} holds the output of galmorph {stored['job']['kind']}, "
                            f"not of galmorph {kind}")
    if not stored["partitions"]:
        raise GalmorphError(f"{folder}: its {MANIFEST_NAME} lists no complete partition yet")
    return pd.concat([read_table(folder / name) for name in sorted(stored["partitions"])],
                     ignore_index=True)


def read_output(path: str | Path, kind: str) -> pd.DataFrame:
    """The table file at ``path``, or for a folder the partitioned output of ``galmorph
    {kind}`` there (:func:`read_output_folder`).

    Raises:
        GalmorphError: as :func:`read_output_folder`; CatalogError naming a file that is
            missing or unreadable.
    """
    from galmorph.data.table_files import read_table

    return read_output_folder(path, kind) if Path(path).is_dir() else read_table(path)


class Manifest:
    """The manifest of ``out_dir`` for ``job``: read at start, saved by :meth:`save`.

    Raises:
        GalmorphError: naming the file when it exists but is not a manifest, or is
            the manifest of another kind of output (``predict`` for ``embed``), whose
            files this job would replace.
    """

    def __init__(self, out_dir: str | Path, job: Mapping[str, object]) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / MANIFEST_NAME
        self.job = _job(job)
        self.records: dict[str, PartitionRecord] = {}
        if self.path.is_file():
            stored = self._read()
            kind, other = self.job.get("kind"), stored["job"]["kind"]
            if kind != other:
                raise GalmorphError(
                    f"{self.out_dir} holds the output of galmorph {other} ({self.path}); "
                    f"galmorph {kind} would overwrite its files: give another output folder")
            if stored["job"] == self.job:
                self.records = stored["partitions"]

    def _read(self) -> dict[str, Any]:
        return read_manifest(self.path, "; delete it to compute every partition again")

    def is_complete(self, relative: str, rows: int, ids_sha256: str, model_sha256: str) -> bool:
        """Whether ``relative`` is done: recorded for this input and model, its output there."""
        record = self.records.get(relative)
        return (
            record is not None
            and (record.rows, record.ids_sha256, record.model_sha256)
            == (rows, ids_sha256, model_sha256)
            and (self.out_dir / relative).is_file()
        )

    def record(self, relative: str, record: PartitionRecord) -> None:
        """Note a completed partition (:meth:`save` writes it)."""
        self.records[relative] = record

    def forget(self, relative: str) -> None:
        """Drop a partition's entry, e.g. one whose input changed (:meth:`save` writes it)."""
        self.records.pop(relative, None)

    def drop_gone(self, root: str | Path, current: set[str]) -> list[str]:
        """Forget, and delete the outputs of, partitions read from the catalog at ``root``
        whose input file is no longer there (a re-partitioned catalog), leaving those of
        ``current`` and those from other roots (a catalog done in pieces); :meth:`save`
        writes the manifest.

        Returns:
            The partitions dropped (paths under the root), sorted.
        """
        root = Path(root)
        gone = sorted(
            name for name, record in self.records.items()
            if name not in current and record.source_root == str(root)
            and not (root / name).exists()
        )
        for name in gone:
            output = self.out_dir / name
            output.unlink(missing_ok=True)
            for folder in output.parents:
                if folder == self.out_dir or any(folder.iterdir()):
                    break
                folder.rmdir()
            self.forget(name)
        return gone

    def save(self) -> Path:
        """Write the manifest atomically."""
        data = {
            "version": MANIFEST_VERSION,
            "job": self.job,
            "partitions": {name: asdict(self.records[name]) for name in sorted(self.records)},
        }
        with atomic_target(self.path) as tmp:
            tmp.write_text(json.dumps(data, indent=1) + "\n")
        return self.path
