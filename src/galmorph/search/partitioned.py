"""Search over a folder of embeddings files in bounded memory: IVF built a partition at a time.

A partitioned catalog's embeddings
(:class:`~galmorph.inference.embedding_folder.PartitionedEmbeddings`) are searched
exactly, with every feature loaded, up to :data:`~galmorph.search.defaults.EXACT_MAX_ROWS`
galaxies (or with ``index="exact"``). Otherwise an IVF-Flat index with
:func:`~galmorph.search.index.ivf_lists` lists is built in two passes over the
partitions, each holding one partition's features:

1. a random sample of rows: :data:`~galmorph.search.index.TRAIN_PER_LIST` vectors per
   list to train the k-means, and up to :data:`~galmorph.search.index.CALIBRATION_QUERIES`
   (at most a tenth) calibration queries;
2. each partition's vectors added in turn (labels: their rows), while the exact
   nearest neighbours of the queries among them are kept.

The search effort (``nprobe``) is then calibrated to
:data:`~galmorph.search.index.TARGET_RECALL` recall@10 for these queries, each one's own
row left out (they are in the index, as the galaxies searched by id are). IVF-Flat
stores the vectors; a direct map lets :class:`StoredVectors` read the candidates'
vectors back by row for exact distances, so memory holds the index, the ids and
positions, and one partition, never a second copy of the features. The index is saved
in the folder (:func:`galmorph.search.index_store.index_files`) and reused while its
partition files are unchanged.

Example:
    >>> from galmorph.inference.embedding_folder import open_embeddings
    >>> emb = open_embeddings("emb/")  # doctest: +SKIP
    >>> vectors, index = open_partitioned_index(emb, "cosine", "ivf")  # doctest: +SKIP
    >>> index.params["nlist"], vectors[[0, 5]].shape  # doctest: +SKIP
    (1024, (2, 64))
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

import galmorph.search.index as search_index
from galmorph.exceptions import GalmorphError
from galmorph.inference.embedding_folder import PartitionedEmbeddings
from galmorph.search.index import (
    CALIBRATION_QUERIES,
    TARGET_RECALL,
    ExactIndex,
    FaissIndex,
    Index,
    calibrate,
    ivf_lists,
    resolve_index_kind,
    search_vectors,
)
from galmorph.search.index_store import INDEX_FORMAT_VERSION, cached_index, index_files

#: Neighbours per calibration query (recall@10).
CALIBRATION_K = 10


class StoredVectors:
    """The search-space vectors an IVF index with a direct map holds, read back by row."""

    def __init__(self, index: FaissIndex) -> None:
        self._index = index.index

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def __getitem__(self, rows: int | np.ndarray) -> np.ndarray:
        """``(d,)`` for one row, ``(m, d)`` float32 for an array of rows."""
        picked = np.asarray(rows, dtype=np.int64)
        if picked.size == 0:
            return np.empty((0, self._index.d), dtype=np.float32)
        vectors = self._index.reconstruct_batch(np.ascontiguousarray(picked.ravel()))
        return vectors[0] if picked.ndim == 0 else vectors


def partitioned_kind(kind: str, embeddings: PartitionedEmbeddings, metric: str) -> str:
    """The index kind for a folder: ``exact`` or ``ivf`` (``auto`` as for a file).

    Raises:
        GalmorphError: for ``hnsw``, for ``auto`` with ``manhattan`` above the exact
            limit (it would load every feature), and as :func:`.resolve_index_kind`.
    """
    n = len(embeddings)
    if kind == "hnsw":
        raise GalmorphError(
            f"{embeddings.path} is a folder of partitions, searched exactly or with an IVF "
            "index built a partition at a time: use index='ivf' (--index ivf) or auto, not hnsw")
    if kind == "auto" and metric == "manhattan" and n > search_index.EXACT_MAX_ROWS:
        raise GalmorphError(
            f"manhattan distances are searched exactly, which would hold the features of all "
            f"{n:,} galaxies of {embeddings.path} in memory: use metric='cosine' or 'euclidean' "
            "(--metric; an IVF index built a partition at a time), or index='exact' (--index "
            "exact) to load them anyway")
    kind = resolve_index_kind(kind, n, metric)
    if kind == "ivf" and n < 2:
        raise GalmorphError(f"an IVF index needs at least 2 galaxies and {embeddings.path} has "
                            f"{n}: use index='exact' (--index exact)")
    return kind


def _sample(embeddings: PartitionedEmbeddings, metric: str,
            picks: list[np.ndarray]) -> list[np.ndarray]:
    """Search-space vectors ``(len(rows), d)`` of each sorted array of rows in ``picks``,
    read in one pass over the partitions."""
    dim = embeddings.info.n_features
    found = [np.empty((len(rows), dim), dtype=np.float32) for rows in picks]
    for first, block in embeddings.blocks():
        for rows, target in zip(picks, found, strict=True):
            low, high = np.searchsorted(rows, [first, first + len(block)])
            if high > low:
                target[low:high] = search_vectors(block[rows[low:high] - first], metric)
        del block  # before the next partition is read
    return found


def _keep_nearest(best: tuple[np.ndarray, np.ndarray], queries: np.ndarray,
                  vectors: np.ndarray, first: int) -> tuple[np.ndarray, np.ndarray]:
    """``best`` (squared L2 distances and rows, ``(q, m)``, nearest first) updated with the
    nearest of ``vectors``, whose rows start at ``first``."""
    import faiss

    distances, rows = faiss.knn(queries, vectors, min(best[0].shape[1], len(vectors)))
    merged_d = np.hstack([best[0], distances])
    merged_r = np.hstack([best[1], np.where(rows >= 0, rows + first, -1)])
    order = np.argsort(merged_d, axis=1, kind="stable")[:, :best[0].shape[1]]
    return (np.take_along_axis(merged_d, order, axis=1),
            np.take_along_axis(merged_r, order, axis=1))


def build_partitioned_index(
    embeddings: PartitionedEmbeddings, metric: str, *, target_recall: float = TARGET_RECALL,
    seed: int = 0,
) -> FaissIndex:
    """An IVF-Flat index of a folder's search-space vectors, built a partition at a time.

    See the module docs. ``params`` records the lists, the calibrated ``nprobe`` and
    recall, the vectors the k-means was trained on, the partitions and the build time
    in seconds.
    """
    import faiss

    start = time.perf_counter()
    n, dim = len(embeddings), embeddings.info.n_features
    rng = np.random.default_rng(seed)
    lists = ivf_lists(n)
    train_rows = np.sort(rng.choice(n, size=min(n, search_index.TRAIN_PER_LIST * lists),
                                    replace=False))
    own = np.sort(rng.choice(n, size=max(1, min(CALIBRATION_QUERIES, n // 10)), replace=False))
    train, queries = _sample(embeddings, metric, [train_rows, own])
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, lists)
    index.cp.min_points_per_centroid = 1  # few galaxies: no k-means warning (as build_index)
    index.train(train)
    del train
    index.set_direct_map_type(faiss.DirectMap.Array)  # vectors read back by row
    k = min(CALIBRATION_K, n - 1)
    nearest = (np.full((len(own), k + 1), np.inf, dtype=np.float32),
               np.full((len(own), k + 1), -1, dtype=np.int64))
    for first, block in embeddings.blocks():
        vectors = search_vectors(block, metric)
        del block
        if len(vectors):
            index.add(vectors)  # labels: rows, as the partitions come in row order
            nearest = _keep_nearest(nearest, queries, vectors, first)
        del vectors  # before the next partition is read
    built = FaissIndex(index, "ivf", {"nlist": lists, "nprobe": 1})
    truth = np.stack([rows[rows != r][:k] for rows, r in zip(nearest[1], own, strict=True)])
    _, recall = calibrate(built, queries, truth, target=target_recall, own=own)
    built.params.update(
        calibration_recall_at_10=round(recall, 4), target_recall=target_recall,
        train_vectors=len(train_rows), partitions=len(embeddings.partitions),
        build_seconds=round(time.perf_counter() - start, 2),
    )
    return built


def open_partitioned_index(
    embeddings: PartitionedEmbeddings, metric: str, kind: str = "auto", *,
    rebuild: bool = False, notify: Callable[[str], None] | None = None,
) -> tuple[np.ndarray | StoredVectors, Index]:
    """The search-space vectors of a folder (by row) and the index that searches them.

    Exact: every vector in memory. IVF: the index saved in the folder when its
    fingerprint (the partition files' paths, rows, sizes and modification times)
    matches, else built (see the module docs; ``notify`` is called first) and saved;
    the vectors are read back from it.

    Raises:
        GalmorphError: as :func:`partitioned_kind`, or for unreadable partitions.
    """
    kind = partitioned_kind(kind, embeddings, metric)
    if kind == "exact":
        vectors = search_vectors(embeddings.read_features(), metric)
        return vectors, ExactIndex(vectors, metric)
    assert embeddings.path is not None
    fingerprint: dict[str, Any] = {
        "format_version": INDEX_FORMAT_VERSION, "embeddings": embeddings.path.name,
        "partitions": embeddings.fingerprint(), "columns": embeddings.info.n_features,
        "kind": kind, "metric": metric,
    }
    index = cached_index(index_files(embeddings.path, kind, metric), fingerprint, kind,
                         lambda: build_partitioned_index(embeddings, metric),
                         rebuild=rebuild, notify=notify, n_rows=len(embeddings))
    return StoredVectors(index), index
