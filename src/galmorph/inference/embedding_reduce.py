"""One PCA fitted over every galaxy of an embeddings file or folder: ``galmorph reduce``.

``galmorph embed`` fits its PCA (``--pca``) only over a single catalog file: each
partition of a partitioned catalog is embedded on its own, and a PCA per partition
would put them in different spaces. :func:`reduce_embeddings` fits one
:class:`~galmorph.inference.pca.PCAProjection` over all the galaxies of what ``embed``
wrote, a partition at a time, then writes each file again with its features projected:
a folder the same shape as the source (or one file), which ``similar``, ``serve`` and
``anomaly`` take as they take ``embed``'s. Memory holds one partition's features; the
new folder appears whole, or not at all.

Example:
    >>> info = reduce_embeddings("emb/", "emb40/", 40)  # doctest: +SKIP
    >>> info.n_features, info.feature_dim  # doctest: +SKIP
    (40, 1280)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from galmorph.exceptions import GalmorphError
from galmorph.files import atomic_folder, user_path
from galmorph.inference.embedding_folder import (
    PartitionedEmbeddings,
    check_new_folder,
    open_embeddings,
)
from galmorph.inference.embeddings import (
    GALAXY_COLUMNS,
    METADATA_KEY,
    EmbeddingInfo,
    Embeddings,
    feature_columns,
)
from galmorph.inference.outputs import read_metadata, write_table
from galmorph.inference.pca import PCAProjection, fit_pca


def reduce_embeddings(source: str | Path, output: str | Path, n_components: int
                      ) -> EmbeddingInfo:
    """Project the raw features of an embeddings file or folder on their first
    ``n_components`` principal components, fitted over all its galaxies.

    Args:
        source: a ``.parquet`` file or a folder that ``galmorph embed`` wrote, without PCA.
        output: a new ``.parquet`` file for a file; a new folder for a folder.
        n_components: components kept (1 to the features or galaxies, the fewer).

    Returns:
        What the written features are (``pca`` set, ``n_features`` the components).

    Raises:
        GalmorphError: naming the source when its features are PCA components already
            or ``n_components`` is out of range, or the output when it exists or lies
            inside the source.
    """
    emb = open_embeddings(source)
    info = emb.info
    if info.pca is not None:
        raise GalmorphError(f"{source} holds {info.n_features} PCA components already: reduce "
                            "the raw features (galmorph embed without --pca)")
    most = min(info.n_features, len(emb))
    if not 1 <= n_components <= most:
        raise GalmorphError(f"--pca must be between 1 and {most} (the fewer of {source}'s "
                            f"{info.n_features} features and {len(emb)} galaxies), got "
                            f"{n_components}")
    target = _new_output(user_path(output), emb)
    if isinstance(emb, Embeddings):
        projection = fit_pca([emb.features], n_components)
        reduced = dataclasses.replace(info, pca=projection, n_features=n_components)
        _write(Path(str(emb.path)), emb.features, projection, reduced, target)
        return reduced
    projection = fit_pca((block for _, block in emb.blocks()), n_components)
    reduced = dataclasses.replace(info, pca=projection, n_features=n_components)
    _write_folder(emb, projection, reduced, target)
    return reduced


def _new_output(output: Path, emb: Embeddings | PartitionedEmbeddings) -> Path:
    """``output``, checked to be new, of the source's kind, and outside the source."""
    if isinstance(emb, PartitionedEmbeddings):
        check_new_folder(output, emb)
        return output
    if output.exists():
        raise GalmorphError(f"{output} exists: give a new file")
    if output.suffix.lower() != ".parquet":
        raise GalmorphError(f"embeddings are written as parquet: name the output "
                            f".parquet, not {output.name}")
    return output


def _write(source: Path, features: np.ndarray, projection: PCAProjection,
           info: EmbeddingInfo, output: Path) -> None:
    """``source``'s galaxy columns and its ``features`` projected, with its metadata and
    ``info``, to ``output`` (atomically)."""
    import pyarrow.parquet as pq

    names = [c for c in pq.read_schema(source).names if c in GALAXY_COLUMNS]
    table = pd.read_parquet(source, columns=names)
    projected = pd.DataFrame(projection.transform(features),
                             columns=feature_columns(info.n_features))
    metadata = {**read_metadata(source), METADATA_KEY: info.to_json()}
    write_table(pd.concat([table, projected], axis=1), output, metadata)


def _write_folder(emb: PartitionedEmbeddings, projection: PCAProjection, info: EmbeddingInfo,
                  output: Path) -> None:
    """Each partition projected to the same place in ``output``, written whole or not at
    all (:func:`~galmorph.files.atomic_folder`)."""
    with atomic_folder(output) as folder:
        for (_, block), partition in zip(emb.blocks(), emb.partitions, strict=True):
            _write(partition.path, block, projection, info, folder / partition.relative)
