"""Approximate indexes saved beside their embeddings and reused while they are unchanged.

An approximate index (see :mod:`galmorph.search.index`) of an embeddings file is
saved next to it as ``EMB.parquet.<kind>-<metric>.faiss`` with a JSON sidecar
(``.json``: build settings, calibration and a fingerprint of the embeddings
file). A later search reuses it while the fingerprint (file size, modification
time, rows, columns) still matches. The index of a folder of embeddings files
(:mod:`galmorph.search.partitioned`) is saved inside it, as
``_index.<kind>-<metric>.faiss``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from galmorph.exceptions import GalmorphWarning
from galmorph.files import atomic_target, write_json
from galmorph.search.index import (
    ExactIndex,
    FaissIndex,
    Index,
    build_index,
    resolve_index_kind,
)

INDEX_FORMAT_VERSION = 1


def index_files(embeddings_path: str | Path, kind: str, metric: str) -> tuple[Path, Path]:
    """Where an index of embeddings is kept: ``EMB.<kind>-<metric>.faiss`` and ``.json``
    beside a file, ``FOLDER/_index.<kind>-<metric>.faiss`` and ``.json`` in a folder."""
    path = Path(embeddings_path)
    stem = (path / f"_index.{kind}-{metric}" if path.is_dir()
            else path.with_name(f"{path.name}.{kind}-{metric}"))
    return stem.with_name(stem.name + ".faiss"), stem.with_name(stem.name + ".json")


def _fingerprint(path: Path, vectors: np.ndarray, kind: str, metric: str) -> dict[str, Any]:
    stat = path.stat()
    return {
        "format_version": INDEX_FORMAT_VERSION, "embeddings": path.name, "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns, "rows": int(vectors.shape[0]),
        "columns": int(vectors.shape[1]), "kind": kind, "metric": metric,
    }


def _index_stamp(index_path: Path) -> dict[str, int]:
    """Size and modification time of a saved index file: its JSON sidecar records them,
    so an index left beside the JSON of another (a save stopped between the two files)
    is not used with that JSON's settings."""
    stat = index_path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _save_index(index: FaissIndex, files: tuple[Path, Path], fingerprint: dict[str, Any]) -> None:
    import faiss

    index_path, json_path = files
    with atomic_target(index_path) as tmp:
        faiss.write_index(index.index, str(tmp))
    write_json({"fingerprint": fingerprint, "index_file": _index_stamp(index_path),
                "params": index.params}, json_path)


def cached_index(
    files: tuple[Path, Path], fingerprint: dict[str, Any], kind: str,
    build: Callable[[], FaissIndex], *, rebuild: bool = False,
    notify: Callable[[str], None] | None = None, n_rows: int = 0,
) -> FaissIndex:
    """The index saved in ``files`` when its fingerprint matches, else ``build()``'s, saved.

    ``notify`` is called with a message (naming ``n_rows`` galaxies) before a build;
    an index that cannot be saved is kept in memory only, with a warning.
    """
    import faiss

    if not rebuild and all(f.is_file() for f in files):
        try:
            stored = json.loads(files[1].read_text())
            if (stored.get("fingerprint") == fingerprint
                    and stored.get("index_file") == _index_stamp(files[0])):
                return FaissIndex(faiss.read_index(str(files[0])), kind, stored["params"])
        except (OSError, ValueError, KeyError, RuntimeError):
            pass  # unreadable or partial: build a new one below
    if notify is not None:
        notify(f"building the {kind} index of {n_rows:,} galaxies (saved to "
               f"{files[0]} for later searches)")
    index = build()
    try:
        _save_index(index, files, fingerprint)
    except OSError as err:
        warnings.warn(f"could not save the {kind} index to {files[0]} ({err}); it will be "
                      "built again next time", GalmorphWarning, stacklevel=3)
    return index


def load_or_build_index(
    vectors: np.ndarray, metric: str, kind: str, source: Path | None = None,
    *, rebuild: bool = False, notify: Callable[[str], None] | None = None,
) -> Index:
    """The index of ``kind`` (after :func:`.resolve_index_kind`) over search-space vectors.

    An approximate index of an embeddings file ``source`` is read from
    :func:`index_files` when its fingerprint matches the file, else built and
    saved there (with a warning, and kept in memory only, if the folder is not
    writable). ``rebuild`` forces a new build; ``notify`` is called with a message
    before one starts (it can take minutes for millions of galaxies).
    """
    kind = resolve_index_kind(kind, len(vectors), metric)
    if kind == "exact":
        return ExactIndex(vectors, metric)
    if source is None:
        return build_index(vectors, metric, kind)

    def build() -> FaissIndex:
        index = build_index(vectors, metric, kind)
        assert isinstance(index, FaissIndex)
        return index

    return cached_index(index_files(source, kind, metric),
                        _fingerprint(source, vectors, kind, metric), kind, build,
                        rebuild=rebuild, notify=notify, n_rows=len(vectors))
