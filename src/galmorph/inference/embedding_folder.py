"""Partitioned embeddings: the folder ``galmorph embed`` writes for a partitioned catalog.

The folder mirrors the catalog: one embeddings file per partition (the columns and
metadata of a single file, see :mod:`galmorph.inference.embeddings`) at the
partition's relative path, and ``_manifest.json`` (:mod:`galmorph.inference.manifest`)
listing the complete ones. :func:`open_embeddings` reads a file as
:class:`~galmorph.inference.embeddings.Embeddings` and a folder as
:class:`PartitionedEmbeddings`: its galaxies' ids, positions and image paths at
once (rows ``0..n-1`` in partition order, sorted by path), its features a
partition at a time (:meth:`PartitionedEmbeddings.blocks`), so memory holds one
partition's features; :func:`read_all_embeddings` reads either into one
:class:`~galmorph.inference.embeddings.Embeddings`.

Which files are partitions: with a manifest, those it lists as complete (other
parquet files there, e.g. of an interrupted run, are left out with a warning);
without one, every parquet file at any depth (names starting with ``.`` or ``_``
aside). All must come from one run: the same model, encoder, feature count,
stages, orientations, image settings and PCA, and the same optional columns.

Example:
    >>> emb = open_embeddings("emb/")  # doctest: +SKIP
    >>> len(emb), [block.shape for _, block in emb.blocks()]  # doctest: +SKIP
    (12000, [(4000, 64), (8000, 64)])
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from galmorph.exceptions import CatalogError, GalmorphError, GalmorphWarning
from galmorph.inference.embeddings import (
    GALAXY_COLUMNS,
    EmbeddingInfo,
    Embeddings,
    feature_columns,
    feature_matrix,
    galaxy_columns,
    read_embedding_info,
    read_embeddings,
)
from galmorph.inference.galaxy_rows import GalaxyRows
from galmorph.inference.manifest import MANIFEST_NAME, Manifest
from galmorph.inference.partitions import Partition, find_partitions


@dataclass
class PartitionedEmbeddings(GalaxyRows):
    """A folder of embeddings files: ids, positions and image paths in memory, features on disk.

    Attributes:
        ids: ``(n,)`` galaxy ids, the partitions' rows one after another.
        info: how the features were made (the same for every partition).
        partitions: the files, in row order.
        offsets: ``(len(partitions) + 1,)`` first row of each partition, then ``n``.
        ra, dec: ``(n,)`` degrees, or None when the partitions have no coordinates.
        file_loc: ``(n,)`` image paths, or None.
        path: the folder.
    """

    ids: np.ndarray
    info: EmbeddingInfo
    partitions: tuple[Partition, ...]
    offsets: np.ndarray
    ra: np.ndarray | None = None
    dec: np.ndarray | None = None
    file_loc: np.ndarray | None = None
    path: Path | None = None

    def blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        """``(first row, float32 (rows, n_features))`` of each partition, in row order.

        Raises:
            GalmorphError: naming a file that cannot be read or changed since it was opened.
        """
        for i in range(len(self.partitions)):
            yield int(self.offsets[i]), self._features(i)

    def _features(self, i: int) -> np.ndarray:
        """The features of partition ``i`` (its parquet table freed on return)."""
        import pyarrow.parquet as pq

        partition = self.partitions[i]
        try:
            table = pq.read_table(partition.path,
                                  columns=feature_columns(self.info.n_features))
        except Exception as err:  # pyarrow raises several types for a bad file or column
            raise GalmorphError(
                f"cannot read the features of {partition.path}: {err}") from None
        expected = int(self.offsets[i + 1] - self.offsets[i])
        if table.num_rows != expected:
            raise GalmorphError(f"{partition.path} has {table.num_rows} rows, not {expected} "
                                f"as when {self.path} was opened: open it again")
        return feature_matrix(table, self.info.n_features, partition.path)

    def read_features(self) -> np.ndarray:
        """Every galaxy's features, ``float32 (n, n_features)``, in memory at once."""
        features = np.empty((len(self), self.info.n_features), dtype=np.float32)
        for start, block in self.blocks():
            features[start:start + len(block)] = block
        return features

    def fingerprint(self) -> list[list[Any]]:
        """``[relative path, rows, size, mtime_ns]`` of each partition: changes with any file."""
        found = []
        for i, partition in enumerate(self.partitions):
            stat = partition.path.stat()
            found.append([partition.relative, int(self.offsets[i + 1] - self.offsets[i]),
                          stat.st_size, stat.st_mtime_ns])
        return found


def check_new_folder(output: Path, source: PartitionedEmbeddings) -> None:
    """Refuse (GalmorphError) an ``output`` folder made from ``source`` that exists, or lies
    inside ``source``, whose files it would be read as."""
    if output.exists():
        raise GalmorphError(f"{output} exists: give a new folder")
    if Path(os.path.abspath(output)).is_relative_to(os.path.abspath(str(source.path))):
        raise GalmorphError(f"{output} is inside {source.path}, whose files it would be read "
                            "as: give a folder beside it")


def open_embeddings(path: str | Path) -> Embeddings | PartitionedEmbeddings:
    """An embeddings file in memory, or a folder of them (see the module docs).

    Raises:
        GalmorphError: for a missing or unreadable file, or a folder that is not a
            consistent set of embeddings files.
    """
    if Path(path).is_dir():
        return read_embedding_folder(path)
    return read_embeddings(path)


def read_all_embeddings(path: str | Path) -> Embeddings:
    """An embeddings file, or every galaxy of a folder of them with all their features in
    memory at once (for what needs them all, e.g. an anomaly session).

    Raises:
        GalmorphError: as :func:`open_embeddings`.
    """
    opened = open_embeddings(path)
    if isinstance(opened, Embeddings):
        return opened
    return Embeddings(ids=opened.ids, features=opened.read_features(), info=opened.info,
                      ra=opened.ra, dec=opened.dec, file_loc=opened.file_loc, path=opened.path)


def _listed(root: Path) -> set[str] | None:
    """The partitions the folder's manifest lists as complete; None without a manifest.

    Raises:
        GalmorphError: when the manifest is unreadable or is not of embeddings.
    """
    path = root / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        job = json.loads(path.read_text())["job"]
        kind = job["kind"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise GalmorphError(f"{path} is not a galmorph manifest ({err!r})") from None
    if kind != "embed":
        raise GalmorphError(f"{root} holds the output of galmorph {kind} ({path}), not "
                            "embeddings: give the folder galmorph embed wrote")
    return set(Manifest(root, job).records)


def _complete(root: Path) -> list[Partition]:
    """The folder's partitions to read (see the module docs); warns of those left out."""
    try:
        found = find_partitions(root)
    except CatalogError:
        raise GalmorphError(f"{root} holds no embeddings: no parquet files in it or its "
                            "subfolders; make them with galmorph embed CATALOG_FOLDER -o "
                            f"{root}") from None
    listed = _listed(root)
    if listed is None:
        return found
    kept = [p for p in found if p.relative in listed]
    others = [p.relative for p in found if p.relative not in listed]
    missing = sorted(listed - {p.relative for p in found})
    for names, what in ((others, "not listed as complete in"), (missing, "missing, listed in")):
        if names:
            warnings.warn(f"{len(names)} partition file(s) of {root} {what} {MANIFEST_NAME} "
                          f"(e.g. {names[0]}) are left out; run galmorph embed again to "
                          "complete them", GalmorphWarning, stacklevel=3)
    if not kept:
        raise GalmorphError(f"{root}/{MANIFEST_NAME} lists no complete partition: run "
                            "galmorph embed again to complete them")
    return kept


def _making(info: EmbeddingInfo) -> dict[str, Any]:
    """What must be the same in every partition of a folder."""
    return {"model": info.model.get("sha256"), "encoder": info.encoder,
            "n_features": info.n_features, "feature_dim": info.feature_dim,
            "views": info.views, "stages": list(info.stages), "image": info.image,
            "pca": None if info.pca is None else info.pca.to_dict()}


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_same(first: Partition, making: dict[str, Any], columns: set[str],
                other: Partition, info: EmbeddingInfo, names: set[str]) -> None:
    """Raises GalmorphError naming both files when ``other`` differs from ``first``."""
    theirs = _making(info)
    for key, value in making.items():
        if theirs[key] != value:
            raise GalmorphError(
                f"{first.path} and {other.path} differ in {key} ({_short(value)} vs "
                f"{_short(theirs[key])}): the partitions of one folder must come from one "
                "galmorph embed run; remove or embed again the odd ones")
    if names != columns:
        odd = ", ".join(sorted(names ^ columns))
        only = "; ".join(f"only {part.relative} has {', '.join(sorted(extra))}"
                         for part, extra in ((first, columns - names), (other, names - columns))
                         if extra)
        raise GalmorphError(
            f"{first.path} and {other.path} differ in their columns ({odd}): {only}; every "
            "partition needs the same optional columns (ra and dec, file_loc): add them to "
            "the catalog partitions without, or drop them from the others, and embed again")


def _check_unique_ids(ids: np.ndarray, offsets: np.ndarray, partitions: Sequence[Any]) -> None:
    """Each partition's ids are unique already; a galaxy in two partitions is an error
    naming the id and both files."""
    import pandas as pd

    repeated = np.flatnonzero(pd.Index(ids).duplicated(keep=False))
    if not len(repeated):
        return
    where = np.searchsorted(offsets, repeated, side="right") - 1  # partition of each row
    files: dict[str, list[str]] = {}
    for row, part in zip(repeated, where, strict=True):
        files.setdefault(str(ids[row]), []).append(partitions[part].relative)
    shown = "; ".join(f"{ident} (in {' and '.join(names)})"
                      for ident, names in list(files.items())[:5])
    more = f"; and {len(files) - 5} more" if len(files) > 5 else ""
    raise GalmorphError(f"id_str must be unique across the folder's partitions; {len(files)} "
                        f"repeated: {shown}{more}")


def read_embedding_folder(folder: str | Path) -> PartitionedEmbeddings:
    """Open a folder of embeddings files: its per-galaxy columns now, features on demand.

    Raises:
        GalmorphError: naming the file, for a folder without embeddings, a file that is
            not an embeddings file or lacks feature columns, or files that differ in how
            they were made (see the module docs).
    """
    import pyarrow.parquet as pq

    root = Path(folder)
    partitions = _complete(root)
    parts: list[dict[str, np.ndarray | None]] = []
    making: dict[str, Any] = {}
    columns: set[str] = set()
    info: EmbeddingInfo | None = None
    for partition in partitions:
        this, _ = read_embedding_info(partition.path)
        try:
            names = set(pq.read_schema(partition.path).names)
        except Exception as err:  # pyarrow raises several types for a damaged file
            raise GalmorphError(f"cannot read {partition.path} as parquet: {err}") from None
        missing = [c for c in feature_columns(this.n_features) if c not in names]
        if missing:
            raise GalmorphError(f"{partition.path} lacks columns {', '.join(missing[:5])}")
        names &= set(GALAXY_COLUMNS)
        if info is None:
            info, making, columns = this, _making(this), names
        else:
            _check_same(partitions[0], making, columns, partition, this, names)
        table = pq.read_table(partition.path, columns=sorted(names))
        parts.append(galaxy_columns(table, partition.path))
    assert info is not None  # _complete returns at least one partition

    def joined(name: str) -> np.ndarray | None:
        return None if parts[0][name] is None else np.concatenate([p[name] for p in parts])

    ids = [p["ids"] for p in parts if p["ids"] is not None]
    offsets = np.concatenate([[0], np.cumsum([len(i) for i in ids])]).astype(np.int64)
    _check_unique_ids(np.concatenate(ids), offsets, partitions)
    return PartitionedEmbeddings(
        ids=np.concatenate(ids), info=info, partitions=tuple(partitions), offsets=offsets,
        ra=joined("ra"), dec=joined("dec"), file_loc=joined("file_loc"), path=root,
    )
