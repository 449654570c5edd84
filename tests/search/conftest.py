"""Fixtures shared by the search tests: embeddings of synthetic feature vectors.

- ``make_embeddings(features, ra=None, dec=None, path=None)``: :class:`Embeddings` in
  memory, ids ``G0``, ``G1``, ...
- ``write_partitions(features, folder, sizes, ra=None, dec=None)``: the same as a
  partitioned catalog's folder of embeddings files (``Npix=I.parquet`` of ``sizes`` rows,
  with ``_manifest.json``), as ``galmorph embed`` writes it; returns the folder.
- ``random_features``: ``(400, 8)`` normal features of decreasing scale.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from galmorph.inference.embeddings import METADATA_KEY, EmbeddingInfo, Embeddings
from galmorph.inference.manifest import Manifest, PartitionRecord


def _make_embeddings(features: np.ndarray, ra: np.ndarray | None = None,
                     dec: np.ndarray | None = None, path: Path | None = None) -> Embeddings:
    n, d = features.shape
    info = EmbeddingInfo(model={"spec": "-", "path": "-", "name": "-", "sha256": "-"},
                         encoder="-", feature_dim=d, image={}, n_features=d)
    return Embeddings(ids=np.array([f"G{i}" for i in range(n)], dtype=object),
                      features=features.astype(np.float32), info=info, ra=ra, dec=dec, path=path)


@pytest.fixture
def make_embeddings() -> Callable[..., Embeddings]:
    """Builds :class:`Embeddings` of ``features`` (ids ``G0``, ``G1``, ...), ra/dec and path."""
    return _make_embeddings


def _write_partitions(features: np.ndarray, folder: Path, sizes: list[int],
                      ra: np.ndarray | None = None, dec: np.ndarray | None = None) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    emb = _make_embeddings(features, ra, dec)
    metadata = {METADATA_KEY: emb.info.to_json()}
    manifest = Manifest(folder, {"kind": "embed", "model_sha256": "-"})
    starts = np.cumsum([0, *sizes])
    assert starts[-1] == len(features)
    for i, (start, stop) in enumerate(zip(starts[:-1], starts[1:], strict=True)):
        columns = {"id_str": emb.ids[start:stop].tolist()}
        if ra is not None and dec is not None:
            columns |= {"ra": ra[start:stop], "dec": dec[start:stop]}
        columns |= {f"feat_{j}": emb.features[start:stop, j] for j in range(features.shape[1])}
        relative = f"Norder=1/Dir=0/Npix={i}.parquet"
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(columns).replace_schema_metadata(metadata), folder / relative)
        manifest.record(relative, PartitionRecord(int(stop - start), "-", "-", int(stop - start)))
    manifest.save()
    return folder


@pytest.fixture
def write_partitions() -> Callable[..., Path]:
    """Writes features as a folder of embeddings partitions (see the module docs)."""
    return _write_partitions


@pytest.fixture(scope="module")
def random_features() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(400, 8)) * np.linspace(3, 0.5, 8)
