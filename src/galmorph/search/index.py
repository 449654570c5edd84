"""Distance metrics and the indexes that find candidate neighbours of query vectors.

Features are compared in one of :data:`METRICS`:

* ``cosine``: ``1 - cos(angle)`` between feature vectors (0 to 2);
* ``euclidean``: straight-line distance;
* ``manhattan``: sum of absolute differences (exact search only).

Up to :data:`EXACT_MAX_ROWS` galaxies, search is exact (faiss brute force). Above
it, a faiss approximate index (:data:`APPROXIMATE_KINDS`: IVF-Flat by default, or
HNSW) is built, its search effort (IVF ``nprobe``, HNSW ``efSearch``) calibrated
to reach :data:`TARGET_RECALL` recall@10 against exact search for galaxies held
out of the index until then (unseen queries).
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any, Protocol

import numpy as np

from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.search.defaults import EXACT_MAX_ROWS, INDEX_KINDS, METRICS

APPROXIMATE_KINDS = ("ivf", "hnsw")
#: Recall@10 (against exact search) that approximate indexes are calibrated to.
TARGET_RECALL = 0.97
#: Indexed vectors held back as calibration queries (at most a tenth of them).
CALIBRATION_QUERIES = 500
#: IVF k-means is trained on up to this many vectors per list.
TRAIN_PER_LIST = 64
#: HNSW graph degree and build effort.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 40
#: Vectors copied and added to a faiss index at a time.
_ADD_BLOCK = 1_000_000


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise GalmorphError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")


def search_vectors(features: np.ndarray, metric: str) -> np.ndarray:
    """Features as the index stores them: ``float32``, unit length for ``cosine``.

    Cosine ranking then equals Euclidean ranking (``|a - b|² = 2 - 2 cos``).
    """
    _check_metric(metric)
    vectors = np.ascontiguousarray(features, dtype=np.float32)
    if metric == "cosine":
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = np.ascontiguousarray(vectors / np.maximum(norms, np.finfo(np.float32).tiny))
    return vectors


def exact_distances(query: np.ndarray, vectors: np.ndarray, metric: str) -> np.ndarray:
    """Distances ``(m,)`` in float64 from one search-space ``query`` ``(d,)`` to ``(m, d)`` rows."""
    diff = vectors.astype(np.float64) - query.astype(np.float64)
    if metric == "manhattan":
        return np.abs(diff).sum(axis=1)
    squared = (diff**2).sum(axis=1)
    return squared / 2 if metric == "cosine" else np.sqrt(squared)


class Index(Protocol):
    """Finds candidate neighbours of search-space query vectors."""

    kind: str
    params: dict[str, Any]

    def search(self, queries: np.ndarray, n: int) -> np.ndarray:
        """Rows ``(q, n)`` of the ``n`` nearest vectors per query, nearest first; -1 pads."""
        ...


class ExactIndex:
    """Brute-force search (faiss ``knn``): exact, no build, any metric."""

    kind = "exact"

    def __init__(self, vectors: np.ndarray, metric: str) -> None:
        import faiss

        self.vectors = vectors
        self.params: dict[str, Any] = {}
        self._metric = faiss.METRIC_L1 if metric == "manhattan" else faiss.METRIC_L2

    def search(self, queries: np.ndarray, n: int) -> np.ndarray:
        """Rows ``(q, min(n, rows))`` of the ``n`` nearest vectors to each query ``(q, d)``."""
        import faiss

        n = min(n, len(self.vectors))
        _, rows = faiss.knn(queries, self.vectors, n, metric=self._metric)
        return rows


class FaissIndex:
    """An approximate faiss index (IVF-Flat, or HNSW-Flat inside an id map) of L2 vectors.

    ``params`` holds its settings; ``nprobe`` (IVF) or ``ef_search`` (HNSW) is the
    search effort, see :meth:`set_effort`. Labels are rows of the indexed vectors.
    """

    def __init__(self, index: Any, kind: str, params: dict[str, Any]) -> None:
        import faiss

        self.index = index
        self.kind = kind
        self.params = dict(params)
        self._effort_key = "nprobe" if kind == "ivf" else "ef_search"
        self._hnsw = faiss.downcast_index(index.index).hnsw if kind == "hnsw" else None
        self.set_effort(self.params[self._effort_key])

    @property
    def effort(self) -> int:
        """IVF lists probed (``nprobe``) or HNSW candidate list size (``efSearch``)."""
        return int(self.params[self._effort_key])

    def set_effort(self, value: int) -> None:
        """Set the search effort (see :attr:`effort`)."""
        self.params[self._effort_key] = int(value)
        if self.kind == "ivf":
            self.index.nprobe = int(value)

    def search(self, queries: np.ndarray, n: int) -> np.ndarray:
        """Rows ``(q, min(n, rows))`` of about the ``n`` nearest vectors to each query
        ``(q, d)``, nearest first; -1 where the index found fewer.

        IVF probes more lists (up to all) for the queries whose ``nprobe`` lists hold
        fewer than ``n`` vectors, so a large ``n`` is not cut to what those lists hold.
        """
        n = min(n, self.index.ntotal)
        if self._hnsw is not None:  # HNSW returns at most efSearch results
            self._hnsw.efSearch = max(self.effort, n)
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        _, rows = self.index.search(queries, n)
        probes = self.effort
        short = (rows < 0).any(axis=1)
        while self._hnsw is None and short.any() and probes < self.index.nlist:
            probes = min(2 * probes, self.index.nlist)
            self.index.nprobe = probes
            try:
                _, rows[short] = self.index.search(np.ascontiguousarray(queries[short]), n)
            finally:
                self.index.nprobe = self.effort
            short = (rows < 0).any(axis=1)
        return rows


def ivf_lists(n: int) -> int:
    """IVF list count: the power of two nearest ``sqrt(n)``, with ≥ 39 vectors per list."""
    lists = 2 ** max(0, round(math.log2(max(n, 1)) / 2))
    while lists > 1 and lists * 39 > n:
        lists //= 2
    return lists


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of each truth row found in the same row of ``found``."""
    hits = [len(set(f[f >= 0]) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits))


def calibrate(
    index: FaissIndex, queries: np.ndarray, truth: np.ndarray, *, target: float = TARGET_RECALL,
    own: np.ndarray | None = None,
) -> tuple[int, float]:
    """Smallest search effort whose recall against ``truth`` reaches ``target``.

    Efforts are tried by doubling (up to IVF's list count, or 4096 for HNSW), then
    bisected. The index is left at the chosen effort.

    Args:
        index: the index to tune.
        queries: ``(q, d)`` search-space vectors that are not in the index, or, with
            ``own``, that are.
        truth: ``(q, k)`` rows of their exact nearest neighbours in the index (without
            their own rows).
        own: ``(q,)`` each query's own row in the index, left out of what is found
            (as a search by id leaves the galaxy out).

    Returns:
        The effort (IVF ``nprobe`` / HNSW ``efSearch``) and its recall@k.
    """
    k = truth.shape[1]
    if index.kind == "ivf":
        low, effort, ceiling = 0, 1, index.index.nlist
    else:
        low, effort, ceiling = k - 1, k, max(4096, 8 * k)
    measured: dict[int, float] = {}

    def recall_at(value: int) -> float:
        if value not in measured:
            index.set_effort(value)
            if own is None:
                found = index.search(queries, k)
            else:
                found = np.stack([f[f != r][:k] for f, r in zip(
                    index.search(queries, k + 1), own, strict=True)])
            measured[value] = _recall(found, truth)
        return measured[value]

    while recall_at(effort) < target and effort < ceiling:
        low, effort = effort, min(2 * effort, ceiling)
    while effort - low > 1:
        middle = (low + effort) // 2
        if recall_at(middle) >= target:
            effort = middle
        else:
            low = middle
    index.set_effort(effort)
    return effort, measured[effort]


def _add_rows(index: Any, vectors: np.ndarray, rows: np.ndarray) -> None:
    """Add ``vectors[rows]`` labelled by row, a block at a time (bounded copies)."""
    for start in range(0, len(rows), _ADD_BLOCK):
        block = rows[start : start + _ADD_BLOCK]
        index.add_with_ids(np.ascontiguousarray(vectors[block]), block.astype(np.int64))


def build_index(
    vectors: np.ndarray, metric: str, kind: str, *, target_recall: float = TARGET_RECALL,
    seed: int = 0,
) -> Index:
    """Build an index over search-space vectors (see :func:`search_vectors`).

    ``kind`` as :func:`resolve_index_kind`. ``ivf``: IVF-Flat with :func:`ivf_lists`
    lists, k-means trained on up to :data:`TRAIN_PER_LIST` vectors per list; ``hnsw``:
    HNSW-Flat with :data:`HNSW_M` links. Up to :data:`CALIBRATION_QUERIES` random vectors (at most
    a tenth) are held back while the rest are added, serve as unseen queries to
    :func:`calibrate` the search effort to ``target_recall`` recall@10, and are
    added last. ``params`` records the settings, the calibrated recall and the
    build time in seconds.

    Example:
        >>> vectors = search_vectors(np.random.default_rng(0).normal(size=(5000, 8)), "cosine")
        >>> build_index(vectors, "cosine", "ivf").params["nlist"]
        64

    Raises:
        GalmorphError: for an unknown kind, or ``manhattan`` with an approximate kind.
    """
    import faiss

    kind = resolve_index_kind(kind, len(vectors), metric)
    if kind == "exact":
        return ExactIndex(vectors, metric)
    start = time.perf_counter()
    n, dim = vectors.shape
    rng = np.random.default_rng(seed)
    held = np.zeros(n, dtype=bool)
    held[rng.choice(n, size=max(1, min(CALIBRATION_QUERIES, n // 10)), replace=False)] = True
    if kind == "ivf":
        lists = ivf_lists(n)
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, lists)
        # ivf_lists gives each list >= 39 vectors except one list of fewer galaxies,
        # where faiss's k-means would print a warning about too few training points
        index.cp.min_points_per_centroid = 1
        index.train(vectors[np.sort(rng.choice(n, size=min(n, TRAIN_PER_LIST * lists),
                                               replace=False))])
        params: dict[str, Any] = {"nlist": lists, "nprobe": 1}
    else:
        graph = faiss.IndexHNSWFlat(dim, HNSW_M)
        graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index = faiss.IndexIDMap(graph)  # labels: rows, as the vectors are added out of order
        params = {"M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "ef_search": 16}
    _add_rows(index, vectors, np.flatnonzero(~held))
    built = FaissIndex(index, kind, params)
    queries = vectors[held]
    k = 10
    exact = ExactIndex(vectors, metric).search(queries, k + int(held.sum()))
    truth = np.stack([r[~held[r]][:k] for r in exact])  # held-back rows are not in the index
    _, recall = calibrate(built, queries, truth, target=target_recall)
    _add_rows(index, vectors, np.flatnonzero(held))
    built.params.update(
        calibration_recall_at_10=round(recall, 4), target_recall=target_recall,
        build_seconds=round(time.perf_counter() - start, 2),
    )
    return built


def resolve_index_kind(kind: str, n_rows: int, metric: str) -> str:
    """The index kind ``auto`` stands for: exact up to :data:`EXACT_MAX_ROWS` rows
    (and always for ``manhattan``), else ``ivf``.

    Raises:
        GalmorphError: for an unknown kind, ``manhattan`` with an approximate kind, or
            an approximate kind for fewer than 2 rows.
    """
    _check_metric(metric)
    if kind not in INDEX_KINDS:
        raise GalmorphError(f"unknown index {kind!r}: use one of {', '.join(INDEX_KINDS)}")
    if kind == "auto":
        if metric == "manhattan" and n_rows > EXACT_MAX_ROWS:
            warnings.warn(
                f"manhattan distances are searched exactly (no approximate index) over "
                f"{n_rows} galaxies; use metric='cosine' or 'euclidean' (--metric) for faster "
                "search",
                GalmorphWarning, stacklevel=3,
            )
        return "exact" if n_rows <= EXACT_MAX_ROWS or metric == "manhattan" else "ivf"
    if kind in APPROXIMATE_KINDS and metric == "manhattan":
        raise GalmorphError(
            f"the manhattan metric is searched exactly only; the approximate {kind} index "
            "supports cosine and euclidean: use index='exact' (--index exact) or auto, or another "
            "metric"
        )
    if kind in APPROXIMATE_KINDS and n_rows < 2:  # nothing left to index beside its calibration
        raise GalmorphError(f"an approximate {kind} index needs at least 2 galaxies, got "
                            f"{n_rows}: use index='exact' (--index exact)")
    return kind
