"""Similarity search over galaxy embeddings, and its evaluation with morphology tags.

Search
------
:class:`SimilaritySearch` finds the ``k`` galaxies nearest to a query (a galaxy of
the embeddings file by id or sky position, a new image, or a feature vector) in
one of :data:`METRICS`:

* ``cosine``: ``1 - cos(angle)`` between feature vectors (0 to 2);
* ``euclidean``: straight-line distance;
* ``manhattan``: sum of absolute differences (exact search only).

Results exclude the query itself and every entry within
:data:`DUPLICATE_RADIUS_ARCSEC` of its position on the sky (the same object
entered twice), and keep only the nearest of neighbours that are themselves
within that radius of each other. Reported distances are recomputed exactly
(float64) whatever index found the candidates.

Up to :data:`EXACT_MAX_ROWS` galaxies, search is exact (faiss brute force). Above
it, a faiss approximate index (:data:`APPROXIMATE_KINDS`: IVF-Flat by default, or
HNSW) is built, its search effort (IVF ``nprobe``, HNSW ``efSearch``) calibrated
to reach :data:`TARGET_RECALL` recall@10 against exact search for galaxies held
out of the index until then (unseen queries), and saved next to the embeddings
file as ``EMB.parquet.<kind>-<metric>.faiss`` with a JSON sidecar (``.json``:
build settings, calibration and a fingerprint of the embeddings file). A later
search reuses it while the fingerprint (file size, modification time, rows,
columns) still matches.

Tag-retrieval evaluation
------------------------
:func:`evaluate_similarity` uses every galaxy carrying a morphology tag as a
query and measures precision@k, the fraction of its ``k`` neighbours carrying the
same tag, averaged over queries, per tag and over tags. The same search (metric,
exclusions) runs on the embeddings and on baselines: ``random`` neighbours (the
expected precision, ``(n_tag - 1) / (n - 1)``), ``pixels`` (PCA of the images at
:data:`PIXEL_SIZE` px), ``untrained`` (an encoder of the same architecture with
random weights, seed 0) and ``votes`` (the model's own predicted vote fractions).
Each baseline averages over the same orientations of every image as the
embeddings did (their ``views``), so orientation-invariance favours none of them.

The tags (:data:`TAGS`) are fixed functions of Galaxy Zoo 2 vote counts.
``V(tNN)`` is the number of votes on a question and ``f(answer)`` the fraction of
them for an answer:

================  ========  ====================================================
tag               kind      definition
================  ========  ====================================================
smooth            trained   V(t01) ≥ 10 and f(t01 smooth) ≥ 0.8
completely-round  trained   f(t01 smooth) ≥ 0.5, V(t07) ≥ 5, f(t07 completely round) ≥ 0.5
cigar-shaped      trained   f(t01 smooth) ≥ 0.5, V(t07) ≥ 5, f(t07 cigar-shaped) ≥ 0.5
edge-on           trained   f(t01 features) ≥ 0.5, V(t02) ≥ 5, f(t02 yes) ≥ 0.8
bar               trained   f(t01 features) ≥ 0.5, f(t02 no) ≥ 0.5, V(t03) ≥ 5, f(t03 bar) ≥ 0.5
spiral            trained   f(t01 features) ≥ 0.5, f(t02 no) ≥ 0.5, V(t04) ≥ 5, f(t04 spiral) ≥ 0.8
odd               transfer  V(t06) ≥ 10 and f(t06 yes) ≥ 0.5
ring              transfer  ≥ 3 t08 votes for ring and no t08 answer with more
merger            transfer  ≥ 3 t08 votes for merger and no t08 answer with more
================  ========  ====================================================

*Trained* tags are answers of questions a ``gz2-no-odd`` model learns; *transfer*
tags come from t06/t08, which that schema leaves out of training. ``ring`` equals
the ``ring`` column of the bundled demo catalog. A catalog's own boolean (0/1)
columns can be used as further (``custom``) tags.

Examples
--------
>>> from galmorph.inference.embed import read_embeddings
>>> from galmorph.search.search import SimilaritySearch
>>> search = SimilaritySearch(read_embeddings("emb.parquet"), metric="cosine")  # doctest: +SKIP
>>> search.by_id("J090203.35+590529.9", k=5).neighbours[["id_str", "distance"]]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from rich import box
from rich.console import Console
from rich.table import Table

from galmorph.data.catalog import load_catalog
from galmorph.data.datasets import CatalogSource
from galmorph.data.images import ImageConfig, average_over_views
from galmorph.data.schemas import get_schema
from galmorph.data.splits import assign_splits
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.files import atomic_target
from galmorph.inference.embed import (
    Embeddings,
    ModelSpec,
    embed_images,
    fit_pca,
    load_embedding_model,
    read_embeddings,
    run_over_images,
)
from galmorph.inference.predict import DEFAULT_BATCH_SIZE, resolve_device
from galmorph.models.checkpoint import LoadedModel, build_model
from galmorph.models.metrics import write_json

METRICS = ("cosine", "euclidean", "manhattan")
INDEX_KINDS = ("auto", "exact", "ivf", "hnsw")
APPROXIMATE_KINDS = ("ivf", "hnsw")
#: ``auto`` searches exactly up to this many galaxies, approximately above.
EXACT_MAX_ROWS = 200_000
#: Entries closer than this on the sky (arcsec) are the same object.
DUPLICATE_RADIUS_ARCSEC = 3.0
#: A ``--ra/--dec`` query takes the nearest galaxy within this radius (arcsec).
MATCH_RADIUS_ARCSEC = 5.0
#: Recall@10 (against exact search) that approximate indexes are calibrated to.
TARGET_RECALL = 0.97
#: Indexed vectors held back as calibration queries (at most a tenth of them).
CALIBRATION_QUERIES = 500
#: HNSW graph degree and build effort.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 40
#: Side (px) of the images behind the raw-pixel baseline.
PIXEL_SIZE = 32
#: Baselines of the tag evaluation, in table order (``random`` needs no features).
BASELINES = ("random", "pixels", "untrained", "votes")
#: Column headings of the methods in the evaluation table.
METHOD_LABELS = {
    "random": "random",
    "pixels": "pixel PCA",
    "untrained": "untrained",
    "votes": "votes",
    "model": "model",
}
INDEX_FORMAT_VERSION = 1
_EXTRA_CANDIDATES = 16
#: Vectors copied and added to a faiss index at a time.
_ADD_BLOCK = 1_000_000


# ------------------------------------------------------------------- geometry
def angular_separation(
    ra1: np.ndarray | float, dec1: np.ndarray | float, ra2: np.ndarray | float,
    dec2: np.ndarray | float,
) -> np.ndarray:
    """Angle between sky positions (degrees in), in arcsec; broadcasts (haversine formula).

    Example:
        >>> round(float(angular_separation(10.0, 0.0, 10.0, 1 / 3600)), 9)
        1.0
    """
    ra1, dec1, ra2, dec2 = (np.radians(np.asarray(v, dtype=np.float64))
                            for v in (ra1, dec1, ra2, dec2))
    h = np.sin((dec2 - dec1) / 2) ** 2 + np.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))) * 3600.0


# ---------------------------------------------------------------- distances
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
        self.params[self._effort_key] = int(value)
        if self.kind == "ivf":
            self.index.nprobe = int(value)

    def search(self, queries: np.ndarray, n: int) -> np.ndarray:
        n = min(n, self.index.ntotal)
        if self._hnsw is not None:  # HNSW returns at most efSearch results
            self._hnsw.efSearch = max(self.effort, n)
        _, rows = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), n)
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
) -> tuple[int, float]:
    """Smallest search effort whose recall against ``truth`` reaches ``target``.

    Efforts are tried by doubling (up to IVF's list count, or 4096 for HNSW), then
    bisected. The index is left at the chosen effort.

    Args:
        index: the index to tune.
        queries: ``(q, d)`` search-space vectors that are not in the index.
        truth: ``(q, k)`` rows of their exact nearest neighbours in the index.

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
            measured[value] = _recall(index.search(queries, k), truth)
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
    lists, k-means trained on up to 64 vectors per list; ``hnsw``: HNSW-Flat with
    :data:`HNSW_M` links. Up to :data:`CALIBRATION_QUERIES` random vectors (at most
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
        index.train(vectors[np.sort(rng.choice(n, size=min(n, 64 * lists), replace=False))])
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


# ------------------------------------------------------------- persistence
def index_files(embeddings_path: str | Path, kind: str, metric: str) -> tuple[Path, Path]:
    """Where an index of an embeddings file is kept: ``EMB.<kind>-<metric>.faiss`` and ``.json``."""
    path = Path(embeddings_path)
    stem = path.with_name(f"{path.name}.{kind}-{metric}")
    return stem.with_name(stem.name + ".faiss"), stem.with_name(stem.name + ".json")


def _fingerprint(path: Path, vectors: np.ndarray, kind: str, metric: str) -> dict[str, Any]:
    stat = path.stat()
    return {
        "format_version": INDEX_FORMAT_VERSION, "embeddings": path.name, "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns, "rows": int(vectors.shape[0]),
        "columns": int(vectors.shape[1]), "kind": kind, "metric": metric,
    }


def _save_index(index: FaissIndex, files: tuple[Path, Path], fingerprint: dict[str, Any]) -> None:
    import faiss

    index_path, json_path = files
    with atomic_target(index_path) as tmp:
        faiss.write_index(index.index, str(tmp))
    write_json({"fingerprint": fingerprint, "params": index.params}, json_path)


def resolve_index_kind(kind: str, n_rows: int, metric: str) -> str:
    """The index kind ``auto`` stands for: exact up to :data:`EXACT_MAX_ROWS` rows
    (and always for ``manhattan``), else ``ivf``.

    Raises:
        GalmorphError: for an unknown kind, or ``manhattan`` with an approximate kind.
    """
    _check_metric(metric)
    if kind not in INDEX_KINDS:
        raise GalmorphError(f"unknown index {kind!r}: use one of {', '.join(INDEX_KINDS)}")
    if kind == "auto":
        if metric == "manhattan" and n_rows > EXACT_MAX_ROWS:
            warnings.warn(
                f"manhattan distances are searched exactly (no approximate index) over "
                f"{n_rows} galaxies; use --metric cosine or euclidean for faster search",
                GalmorphWarning, stacklevel=3,
            )
        return "exact" if n_rows <= EXACT_MAX_ROWS or metric == "manhattan" else "ivf"
    if kind in APPROXIMATE_KINDS and metric == "manhattan":
        raise GalmorphError(
            f"the manhattan metric is searched exactly only; the approximate {kind} index "
            "supports cosine and euclidean: use --index exact (or auto), or another --metric"
        )
    return kind


def load_or_build_index(
    vectors: np.ndarray, metric: str, kind: str, source: Path | None = None,
    *, rebuild: bool = False, notify: Callable[[str], None] | None = None,
) -> Index:
    """The index of ``kind`` (after :func:`resolve_index_kind`) over search-space vectors.

    An approximate index of an embeddings file ``source`` is read from
    :func:`index_files` when its fingerprint matches the file, else built and
    saved there (with a warning, and kept in memory only, if the folder is not
    writable). ``rebuild`` forces a new build; ``notify`` is called with a message
    before one starts (it can take minutes for millions of galaxies).
    """
    import faiss

    kind = resolve_index_kind(kind, len(vectors), metric)
    if kind == "exact":
        return ExactIndex(vectors, metric)
    if source is None:
        return build_index(vectors, metric, kind)
    files = index_files(source, kind, metric)
    fingerprint = _fingerprint(source, vectors, kind, metric)
    if not rebuild and all(f.is_file() for f in files):
        try:
            stored = json.loads(files[1].read_text())
            if stored.get("fingerprint") == fingerprint:
                return FaissIndex(faiss.read_index(str(files[0])), kind, stored["params"])
        except (OSError, ValueError, KeyError, RuntimeError):
            pass  # unreadable or partial: build a new one below
    if notify is not None:
        notify(f"building a {kind} index of {len(vectors):,} galaxies (saved to "
               f"{files[0]} for later searches)")
    index = build_index(vectors, metric, kind)
    assert isinstance(index, FaissIndex)
    try:
        _save_index(index, files, fingerprint)
    except OSError as err:
        warnings.warn(f"could not save the {kind} index next to {source} ({err}); it will be "
                      "built again next time", GalmorphWarning, stacklevel=2)
    return index


def select_neighbours(
    candidates: np.ndarray, k: int, *, exclude: set[int] | Sequence[int] = (),
    centre: tuple[float, float] | None = None, ra: np.ndarray | None = None,
    dec: np.ndarray | None = None, radius: float = DUPLICATE_RADIUS_ARCSEC,
) -> list[int]:
    """The first ``k`` candidate rows that are neither excluded nor duplicates on the sky.

    Args:
        candidates: rows, nearest first (-1 entries are ignored).
        exclude: rows never kept (e.g. the query's own).
        centre: ``(ra, dec)`` of the query: rows within ``radius`` of it are skipped.
        ra, dec: ``(n_rows,)`` degrees of every row; None: no sky checks.
        radius: arcsec within which two entries are the same object; of several
            candidates within it of each other only the nearest is kept.

    Example:
        >>> select_neighbours(np.array([0, 1, 2, 3]), 2, exclude={0})
        [1, 2]
    """
    skip = set(exclude)
    rows = np.asarray([r for r in candidates if r >= 0 and r not in skip], dtype=np.int64)
    if ra is None or dec is None:
        return rows[:k].tolist()
    ras, decs = ra[rows], dec[rows]
    if centre is not None:
        far = angular_separation(centre[0], centre[1], ras, decs) > radius
        rows, ras, decs = rows[far], ras[far], decs[far]
    kept: list[int] = []
    for i in range(len(rows)):
        if kept and (angular_separation(ras[i], decs[i], ras[kept], decs[kept]) <= radius).any():
            continue
        kept.append(i)
        if len(kept) == k:
            break
    return rows[kept].tolist()


# ------------------------------------------------------------------ queries
@dataclass
class SimilarityResult:
    """A query and its neighbours.

    Attributes:
        query: what was searched for: ``kind`` (``id``, ``position``, ``image`` or
            ``vector``) and, as known, ``id_str``, ``ra``, ``dec``, ``file_loc``,
            ``row`` (in the embeddings), ``separation_arcsec`` (of a position match),
            ``image``.
        neighbours: one row per neighbour, nearest first: ``rank`` (1...),
            ``id_str``, ``distance``, ``ra``, ``dec`` (when known), ``file_loc``, ``row``.
        metric, index: how they were found.
    """

    query: dict[str, Any]
    neighbours: pd.DataFrame
    metric: str
    index: str
    index_params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        records = json.loads(self.neighbours.to_json(orient="records", double_precision=15))
        return {"query": self.query, "metric": self.metric, "index": self.index,
                "index_params": self.index_params, "neighbours": records}


class SimilaritySearch:
    """Nearest-neighbour queries over an embeddings file (see the module docs).

    Args:
        embeddings: from :func:`galmorph.inference.embed.read_embeddings`.
        metric: one of :data:`METRICS`.
        index: one of :data:`INDEX_KINDS` (``auto``: exact up to
            :data:`EXACT_MAX_ROWS` galaxies, else IVF).
        duplicate_radius: arcsec within which entries are the same object.
        rebuild: build a new approximate index even if a saved one matches.
        notify: called with a message before an approximate index is built.

    Example:
        >>> search = SimilaritySearch(read_embeddings("emb.parquet"))  # doctest: +SKIP
        >>> search.by_position(135.514, 59.092, k=8).neighbours.id_str.tolist()  # doctest: +SKIP
    """

    def __init__(
        self, embeddings: Embeddings, metric: str = "cosine", index: str = "auto", *,
        duplicate_radius: float = DUPLICATE_RADIUS_ARCSEC, rebuild: bool = False,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.embeddings = embeddings
        self.metric = metric
        self.duplicate_radius = duplicate_radius
        self.vectors = search_vectors(embeddings.features, metric)
        self.index = load_or_build_index(
            self.vectors, metric, index, embeddings.path, rebuild=rebuild, notify=notify
        )

    def _select(self, rows: np.ndarray, k: int, exclude: set[int],
                centre: tuple[float, float] | None) -> list[int]:
        emb = self.embeddings
        return select_neighbours(rows, k, exclude=exclude, centre=centre, ra=emb.ra, dec=emb.dec,
                                 radius=self.duplicate_radius)

    def by_vector(
        self, vector: np.ndarray, k: int = 10, *, exclude: Sequence[int] = (),
        centre: tuple[float, float] | None = None, query: dict[str, Any] | None = None,
    ) -> SimilarityResult:
        """Neighbours of a feature vector ``(n_features,)`` in the embeddings' space.

        Args:
            exclude: rows never returned.
            centre: ``(ra, dec)`` whose same-object entries are never returned.
            query: description stored in the result.
        """
        if k < 1:
            raise GalmorphError(f"k must be at least 1, got {k}")
        query_vector = search_vectors(np.asarray(vector, dtype=np.float32)[None], self.metric)
        skip = set(exclude)
        wanted, total, found = k + len(skip) + _EXTRA_CANDIDATES, len(self.vectors), -1
        while True:
            candidates = self.index.search(query_vector, min(wanted, total))[0]
            candidates = candidates[candidates >= 0]
            distances = exact_distances(query_vector[0], self.vectors[candidates], self.metric)
            order = np.lexsort((candidates, distances))
            candidates, distances = candidates[order], distances[order]
            kept = self._select(candidates, k, skip, centre)
            if len(kept) >= k or wanted >= total or len(candidates) <= found:
                break
            found, wanted = len(candidates), wanted * 4
        position = {row: i for i, row in enumerate(candidates.tolist())}
        return SimilarityResult(
            query=query or {"kind": "vector"},
            neighbours=self._table(kept, distances[[position[r] for r in kept]]),
            metric=self.metric, index=self.index.kind, index_params=self.index.params,
        )

    def _table(self, rows: list[int], distances: np.ndarray) -> pd.DataFrame:
        emb = self.embeddings
        table: dict[str, Any] = {
            "rank": np.arange(1, len(rows) + 1), "id_str": emb.ids[rows],
            "distance": distances,
        }
        if emb.has_coordinates:
            assert emb.ra is not None and emb.dec is not None
            table["ra"], table["dec"] = emb.ra[rows], emb.dec[rows]
        if emb.file_loc is not None:
            table["file_loc"] = emb.file_loc[rows]
        table["row"] = np.asarray(rows, dtype=np.int64)
        return pd.DataFrame(table)

    def _describe(self, row: int, kind: str, **extra: Any) -> dict[str, Any]:
        emb = self.embeddings
        query: dict[str, Any] = {"kind": kind, "id_str": str(emb.ids[row]), "row": row}
        if emb.has_coordinates:
            assert emb.ra is not None and emb.dec is not None
            query["ra"], query["dec"] = float(emb.ra[row]), float(emb.dec[row])
        if emb.file_loc is not None:
            query["file_loc"] = str(emb.file_loc[row])
        return {**query, **extra}

    def _centre(self, row: int) -> tuple[float, float] | None:
        emb = self.embeddings
        if emb.ra is None or emb.dec is None:
            return None
        return float(emb.ra[row]), float(emb.dec[row])

    # ------------------------------------------------------------ queries
    def by_row(self, row: int, k: int = 10, *, kind: str = "row", **extra: Any) -> SimilarityResult:
        """Neighbours of the galaxy in row ``row``, excluding it and its same-object entries."""
        return self.by_vector(
            self.embeddings.features[row], k, exclude=[row], centre=self._centre(row),
            query=self._describe(row, kind, **extra),
        )

    def by_id(self, galaxy_id: str, k: int = 10) -> SimilarityResult:
        """Neighbours of a galaxy by ``id_str``.

        Raises:
            GalmorphError: when the id is not in the embeddings.
        """
        return self.by_row(self.embeddings.row_of(galaxy_id), k, kind="id")

    def by_position(
        self, ra: float, dec: float, k: int = 10, *, radius: float = MATCH_RADIUS_ARCSEC
    ) -> SimilarityResult:
        """Neighbours of the galaxy nearest to ``(ra, dec)`` (degrees) within ``radius`` arcsec.

        Raises:
            GalmorphError: without coordinates, or with no galaxy within ``radius``.
        """
        emb = self.embeddings
        if emb.ra is None or emb.dec is None:
            raise GalmorphError("these embeddings have no ra/dec columns: query by --id instead")
        separation = angular_separation(ra, dec, emb.ra, emb.dec)
        row = int(np.argmin(separation))
        if separation[row] > radius:
            raise GalmorphError(
                f"no galaxy within {radius:g} arcsec of RA {ra:.6f}, Dec {dec:.6f}; the nearest "
                f"is {emb.ids[row]} at {separation[row]:.1f} arcsec"
            )
        return self.by_row(row, k, kind="position", query_ra=ra, query_dec=dec,
                           separation_arcsec=float(separation[row]))

    def by_image(
        self, image: str | Path, k: int = 10, *, model: ModelSpec = None,
        device: str | torch.device = "cpu",
    ) -> SimilarityResult:
        """Neighbours of a new image, embedded with the embeddings' model (and PCA).

        Entries whose image is this same file (and their same-object entries) are
        left out, as for a query by id.
        """
        vector = embed_images([image], self.embeddings, model, device=device)[0]
        path = Path(image).resolve()
        exclude: list[int] = []
        centre = None
        if self.embeddings.file_loc is not None:
            same = np.flatnonzero(self.embeddings.file_loc == str(path))
            exclude = same.tolist()
            centre = self._centre(exclude[0]) if exclude else None
        return self.by_vector(vector, k, exclude=exclude, centre=centre,
                              query={"kind": "image", "image": str(path)})


# ------------------------------------------------------------------- tags
@dataclass(frozen=True)
class TagDefinition:
    """A morphology tag computed from Galaxy Zoo 2 vote counts (see the module docs)."""

    name: str
    kind: str
    rule: str
    questions: tuple[str, ...]
    select: Callable[[pd.DataFrame], np.ndarray]


_GZ2 = get_schema("gz2")


def _votes(catalog: pd.DataFrame, question: str) -> np.ndarray:
    """Total votes ``(n,)`` on a GZ2 question."""
    return catalog[_GZ2.question(question).columns].to_numpy(dtype=np.float64).sum(axis=1)


def _fraction(catalog: pd.DataFrame, answer: str) -> np.ndarray:
    """Vote fraction ``(n,)`` of a GZ2 answer (``question/answer``); 0 without votes."""
    found = _GZ2.answer(answer)
    total = _votes(catalog, found.question)
    counts = catalog[found.column].to_numpy(dtype=np.float64)
    return np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)


def _top_odd_feature(answer: str) -> Callable[[pd.DataFrame], np.ndarray]:
    def select(catalog: pd.DataFrame) -> np.ndarray:
        counts = catalog[_GZ2.question("t08_odd_feature").columns].to_numpy(dtype=np.float64)
        own = catalog[_GZ2.answer(f"t08_odd_feature/{answer}").column].to_numpy(np.float64)
        return (own >= 3) & (own >= counts.max(axis=1))

    return select


_T01, _T02 = "t01_smooth_or_features", "t02_edgeon"


def _smooth_then(answer: str) -> Callable[[pd.DataFrame], np.ndarray]:
    return lambda c: ((_fraction(c, f"{_T01}/a01_smooth") >= 0.5) & (_votes(c, "t07_rounded") >= 5)
                      & (_fraction(c, f"t07_rounded/{answer}") >= 0.5))


def _face_on_disk(c: pd.DataFrame) -> np.ndarray:
    return (_fraction(c, f"{_T01}/a02_features_or_disk") >= 0.5) & (
        _fraction(c, f"{_T02}/a05_no") >= 0.5)


#: The built-in tags, fixed before any measurement (definitions in the module docs).
TAGS: tuple[TagDefinition, ...] = (
    TagDefinition(
        "smooth", "trained", "V(t01) ≥ 10 and f(t01 smooth) ≥ 0.8", (_T01,),
        lambda c: (_votes(c, _T01) >= 10) & (_fraction(c, f"{_T01}/a01_smooth") >= 0.8),
    ),
    TagDefinition(
        "completely-round", "trained",
        "f(t01 smooth) ≥ 0.5, V(t07) ≥ 5, f(t07 completely round) ≥ 0.5",
        (_T01, "t07_rounded"), _smooth_then("a16_completely_round"),
    ),
    TagDefinition(
        "cigar-shaped", "trained", "f(t01 smooth) ≥ 0.5, V(t07) ≥ 5, f(t07 cigar-shaped) ≥ 0.5",
        (_T01, "t07_rounded"), _smooth_then("a18_cigar_shaped"),
    ),
    TagDefinition(
        "edge-on", "trained", "f(t01 features) ≥ 0.5, V(t02) ≥ 5, f(t02 yes) ≥ 0.8", (_T01, _T02),
        lambda c: ((_fraction(c, f"{_T01}/a02_features_or_disk") >= 0.5)
                   & (_votes(c, _T02) >= 5) & (_fraction(c, f"{_T02}/a04_yes") >= 0.8)),
    ),
    TagDefinition(
        "bar", "trained", "f(t01 features) ≥ 0.5, f(t02 no) ≥ 0.5, V(t03) ≥ 5, f(t03 bar) ≥ 0.5",
        (_T01, _T02, "t03_bar"),
        lambda c: (_face_on_disk(c) & (_votes(c, "t03_bar") >= 5)
                   & (_fraction(c, "t03_bar/a06_bar") >= 0.5)),
    ),
    TagDefinition(
        "spiral", "trained",
        "f(t01 features) ≥ 0.5, f(t02 no) ≥ 0.5, V(t04) ≥ 5, f(t04 spiral) ≥ 0.8",
        (_T01, _T02, "t04_spiral"),
        lambda c: (_face_on_disk(c) & (_votes(c, "t04_spiral") >= 5)
                   & (_fraction(c, "t04_spiral/a08_spiral") >= 0.8)),
    ),
    TagDefinition(
        "odd", "transfer", "V(t06) ≥ 10 and f(t06 yes) ≥ 0.5", ("t06_odd",),
        lambda c: (_votes(c, "t06_odd") >= 10) & (_fraction(c, "t06_odd/a14_yes") >= 0.5),
    ),
    TagDefinition(
        "ring", "transfer", "≥ 3 t08 votes for ring and no t08 answer with more",
        ("t08_odd_feature",), _top_odd_feature("a19_ring"),
    ),
    TagDefinition(
        "merger", "transfer", "≥ 3 t08 votes for merger and no t08 answer with more",
        ("t08_odd_feature",), _top_odd_feature("a24_merger"),
    ),
)
_TAGS_BY_NAME = {t.name: t for t in TAGS}


def derive_tags(
    catalog: pd.DataFrame, names: Sequence[str] | None = None
) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    """Boolean tag columns for a catalog.

    Args:
        catalog: rows with GZ2 vote-count columns and/or boolean (0/1) tag columns.
        names: built-in tag names (:data:`TAGS`) or catalog columns; None: every
            built-in tag whose questions have vote columns.

    Returns:
        ``(tags, kinds, skipped)``: a ``bool`` DataFrame (one column per tag, rows as
        ``catalog``), each tag's kind (``trained``, ``transfer`` or ``custom``), and
        the built-in tags left out with the reason.

    Raises:
        GalmorphError: for a name that is neither a built-in tag nor a usable column.
    """
    def available(tag: TagDefinition) -> bool:
        return all(c in catalog for q in tag.questions for c in _GZ2.question(q).columns)

    tags: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for name in names if names is not None else [t.name for t in TAGS]:
        if name in _TAGS_BY_NAME:
            tag = _TAGS_BY_NAME[name]
            if available(tag):
                tags[name], kinds[name] = np.asarray(tag.select(catalog), dtype=bool), tag.kind
            elif names is not None:
                raise GalmorphError(f"tag {name!r} needs the GZ2 vote columns of "
                                    f"{', '.join(tag.questions)}, which the catalog lacks")
            else:
                skipped[name] = f"no vote columns for {', '.join(tag.questions)}"
        elif name in catalog:
            values = pd.to_numeric(catalog[name], errors="coerce")
            if not values.dropna().isin([0, 1]).all():
                raise GalmorphError(f"column {name!r} is not a boolean (0/1) tag column")
            tags[name], kinds[name] = values.fillna(0).to_numpy() == 1, "custom"
        else:
            raise GalmorphError(
                f"unknown tag {name!r}: use a catalog column of 0/1 values or one of "
                + ", ".join(_TAGS_BY_NAME)
            )
    return pd.DataFrame(tags, index=catalog.index), kinds, skipped


# -------------------------------------------------------------- evaluation
def neighbour_table(
    features: np.ndarray, k: int, metric: str = "cosine", *, ra: np.ndarray | None = None,
    dec: np.ndarray | None = None, duplicate_radius: float = DUPLICATE_RADIUS_ARCSEC,
) -> np.ndarray:
    """Exact ``k`` nearest neighbours of every row among all rows, as :class:`SimilaritySearch`.

    Each row's own entry and, with coordinates, entries of the same object are left out.

    Returns:
        ``int64 (n, k)`` rows, nearest first; -1 where fewer than ``k`` exist.
    """
    vectors = search_vectors(features, metric)
    index = ExactIndex(vectors, metric)
    n = len(vectors)
    wanted = min(n, k + 1 + _EXTRA_CANDIDATES)
    candidates = index.search(vectors, wanted)
    out = np.full((n, k), -1, dtype=np.int64)
    for row in range(n):
        centre = (float(ra[row]), float(dec[row])) if ra is not None and dec is not None else None

        def pick(rows: np.ndarray, row: int = row, centre: Any = centre) -> list[int]:
            return select_neighbours(rows, k, exclude={row}, centre=centre, ra=ra, dec=dec,
                                     radius=duplicate_radius)

        kept = pick(candidates[row])
        if len(kept) < k and wanted < n:  # many duplicates: look at every row
            kept = pick(index.search(vectors[row : row + 1], n)[0])
        out[row, : len(kept)] = kept
    return out


def precision_at_k(neighbours: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """Per query, the fraction of its ``k`` neighbours that are relevant.

    Args:
        neighbours: ``(n_queries, k)`` rows of the neighbours (-1: none; counts as
            not relevant, so P@k divides by ``k`` always).
        relevant: ``(n_rows,)`` bool, e.g. whether each galaxy carries the tag.

    Example:
        >>> precision_at_k(np.array([[1, 2], [0, -1]]), np.array([True, True, False]))
        array([0.5, 0.5])
    """
    relevant = np.asarray(relevant, dtype=bool)
    hits = np.where(neighbours >= 0, relevant[np.maximum(neighbours, 0)], False)
    return hits.sum(axis=1) / neighbours.shape[1]


def _vote_fractions(loaded: LoadedModel) -> Callable[[torch.Tensor], torch.Tensor]:
    """Batch → expected vote fractions ``(b, n_answers)`` of a vote-count model."""
    assert loaded.schema is not None
    groups = loaded.schema.question_index_groups

    def forward(images: torch.Tensor) -> torch.Tensor:
        alpha = loaded.model(images)
        return torch.cat([alpha[:, a:b] / alpha[:, a:b].sum(1, keepdim=True) for a, b in groups],
                         dim=1)

    return forward


def baseline_features(
    name: str, frame: pd.DataFrame, loaded: LoadedModel, n_components: int | None, *,
    device: torch.device, batch_size: int = DEFAULT_BATCH_SIZE, num_workers: int | None = None,
    progress: bool = True, seed: int = 0, views: int = 1,
) -> np.ndarray:
    """Features ``(len(frame), d)`` of a baseline for the rows of a catalog.

    ``pixels``: the model's evaluation crop at :data:`PIXEL_SIZE` px, flattened,
    PCA to ``n_components``; ``untrained``: the pooled features of
    the model's architecture with random weights (torch seed ``seed``), PCA to
    ``n_components`` when given; ``votes``: the model's expected vote fractions.
    """
    run = {"device": device, "batch_size": batch_size, "num_workers": num_workers,
           "progress": progress, "description": f"Baseline: {METHOD_LABELS[name]}"}
    config = loaded.image_config
    if name == "votes":
        if loaded.task != "votes" or loaded.schema is None:
            raise GalmorphError(f"{loaded.name} is not a vote-count model: no vote fractions")
        loaded.model.eval()
        return run_over_images(frame, average_over_views(_vote_fractions(loaded), views),
                               config, **run)
    if name == "pixels":
        small = ImageConfig.from_dict({**config.to_dict(), "size": PIXEL_SIZE})
        raw = run_over_images(frame, average_over_views(lambda x: x.flatten(1), views), small,
                              **run)
    elif name == "untrained":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            untrained = build_model(loaded.metadata).to(device).eval()
        raw = run_over_images(frame, average_over_views(untrained.embedder(), views), config, **run)
    else:
        raise GalmorphError(f"unknown baseline {name!r}: use {', '.join(BASELINES)}")
    if n_components is None:
        return raw
    n_components = min(n_components, *raw.shape)
    return fit_pca([raw], n_components).transform(raw)


def evaluate_similarity(
    embeddings: Embeddings | str | Path,
    catalog: CatalogSource,
    *,
    k: int = 10,
    metric: str = "cosine",
    tags: Sequence[str] | None = None,
    baselines: Sequence[str] = BASELINES,
    model: ModelSpec = None,
    split: str | None = None,
    duplicate_radius: float = DUPLICATE_RADIUS_ARCSEC,
    device: str | torch.device = "cpu",
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_workers: int | None = None,
    progress: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Tag-retrieval precision@k of embeddings beside baselines (see the module docs).

    The galaxies evaluated are those of ``catalog`` that have embeddings (and, with
    ``split``, that the embeddings' model's recorded seeded split puts in that split).
    Every galaxy carrying a tag is a query; neighbours are searched among all
    evaluated galaxies, exactly.

    Args:
        embeddings: an :class:`Embeddings` or its file.
        catalog: truth: ``id_str``, ``file_loc`` and GZ2 vote counts or 0/1 tag columns.
        k: neighbours per query.
        metric: one of :data:`METRICS`, for the embeddings and every baseline.
        tags: tags to evaluate (see :func:`derive_tags`); None: every built-in one available.
        baselines: any of :data:`BASELINES`.
        model: the embeddings' model, if not where the file records it (same checksum).
        split: ``train``, ``val`` or ``test``: keep only that split of the model's training.
        seed: seed of the untrained encoder's weights.

    Returns:
        JSON-ready dict: ``k``, ``metric``, ``n_galaxies``, ``methods`` (columns in
        order), ``tags`` (per tag: ``name``, ``kind``, ``rule``, ``n``,
        ``prevalence``, ``precision`` by method), ``means`` (``all``, ``trained``,
        ``transfer``, ``custom``: mean precision over tags with ≥ 2 members, by
        method), ``skipped_tags``, ``model`` (provenance) and ``model_split_counts``
        (evaluated galaxies per split of the model's training, when recorded).

    Example:
        >>> result = evaluate_similarity("emb.parquet", "catalog.csv")  # doctest: +SKIP
        >>> result["means"]["all"]["model"] / result["means"]["all"]["random"]  # doctest: +SKIP
        3.4
    """
    _check_metric(metric)
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise GalmorphError(f"unknown baseline(s) {', '.join(unknown)}: use {', '.join(BASELINES)}")
    emb = embeddings if isinstance(embeddings, Embeddings) else read_embeddings(embeddings)
    torch_device = resolve_device(device)
    loaded = load_embedding_model(emb.info, model, torch_device)
    frame = load_catalog(catalog, None)
    rows = pd.Series(np.arange(len(emb)), index=pd.Index(emb.ids)).reindex(frame["id_str"])
    if rows.isna().all():
        raise GalmorphError("none of the catalog's galaxies are in the embeddings (by id_str)")
    keep = rows.notna().to_numpy()
    split_record = (loaded.metadata.get("training") or {}).get("split") or {}
    model_splits = None
    if split_record.get("method") == "seeded":
        model_splits = assign_splits(frame["id_str"], split_record["fractions"],
                                     split_record["seed"])
    if split is not None:
        if model_splits is None:
            raise GalmorphError(f"{loaded.name} records no seeded split: cannot select --split")
        keep = keep & (model_splits == split)
    if keep.sum() < 2:
        raise GalmorphError(f"only {int(keep.sum())} galaxies to evaluate: need at least 2")
    frame = frame[keep].reset_index(drop=True)
    emb_rows = rows.to_numpy()[keep].astype(np.int64)
    tag_table, kinds, skipped = derive_tags(frame, tags)
    if tag_table.empty:
        raise GalmorphError("no tags to evaluate: " + "; ".join(f"{k}: {v}"
                                                                for k, v in skipped.items()))
    ra = frame["ra"].to_numpy(np.float64) if "ra" in frame else None
    dec = frame["dec"].to_numpy(np.float64) if "dec" in frame else None

    features = {"model": emb.features[emb_rows]}
    for name in baselines:
        if name == "random":
            continue
        components = emb.info.n_features if (name == "pixels" or emb.info.pca) else None
        features[name] = baseline_features(
            name, frame, loaded, components, device=torch_device, batch_size=batch_size,
            num_workers=num_workers, progress=progress, seed=seed, views=emb.info.views,
        )
    neighbours = {
        name: neighbour_table(values, k, metric, ra=ra, dec=dec, duplicate_radius=duplicate_radius)
        for name, values in features.items()
    }
    methods = [b for b in BASELINES if b in baselines] + ["model"]
    n = len(frame)
    per_tag = []
    for name in tag_table:
        tagged = tag_table[name].to_numpy()
        count = int(tagged.sum())
        precision: dict[str, float] = {}
        for method in methods:
            if count < 2:
                precision[method] = float("nan")
            elif method == "random":
                precision[method] = (count - 1) / (n - 1)
            else:
                precision[method] = float(precision_at_k(neighbours[method][tagged], tagged).mean())
        tag = _TAGS_BY_NAME.get(name)
        per_tag.append({
            "name": name, "kind": kinds[name], "rule": tag.rule if tag else f"column {name} = 1",
            "n": count, "prevalence": count / n, "precision": precision,
        })
    means: dict[str, dict[str, float]] = {}
    for group in ("all", "trained", "transfer", "custom"):
        members = [t for t in per_tag if (group == "all" or t["kind"] == group) and t["n"] >= 2]
        if members:
            means[group] = {m: float(np.mean([t["precision"][m] for t in members]))
                            for m in methods}
    counts = None
    if model_splits is not None:
        values, totals = np.unique(model_splits[keep], return_counts=True)
        counts = {str(v): int(c) for v, c in zip(values, totals, strict=True)}
        if counts.get("train", 0) or counts.get("val", 0):
            warnings.warn(
                f"{counts.get('train', 0) + counts.get('val', 0)} of the {n} galaxies were in "
                f"the training or validation split of {loaded.name}: use --split test for an "
                "honest figure", GalmorphWarning, stacklevel=2,
            )
    return {
        "k": k, "metric": metric, "n_galaxies": n, "split": split,
        "embeddings": str(emb.path) if emb.path else None,
        "n_features": emb.info.n_features, "pca": emb.info.pca is not None,
        "views": emb.info.views,
        "model": loaded.provenance(), "model_split_counts": counts,
        "methods": methods, "tags": per_tag, "means": means, "skipped_tags": skipped,
    }


def print_tag_evaluation(result: dict[str, Any], console: Console | None = None) -> None:
    """Print :func:`evaluate_similarity` output (or its JSON) as a table, one row per tag.

    Example:
        >>> print_tag_evaluation(evaluate_similarity("emb.parquet", "cat.csv"))  # doctest: +SKIP
    """
    console = console or Console()
    methods = result["methods"]
    table = Table(
        title=(f"Tag retrieval: precision@{result['k']} ({result['metric']}), "
               f"{result['n_galaxies']} galaxies"),
        caption=("Each galaxy with a tag is a query; precision@k: the fraction of its neighbours "
                 "with the same tag. random: the tag's prevalence among the others; votes: the "
                 "model's predicted vote fractions as features; model: the embeddings. Means "
                 "are over tags with at least 2 members."),
        box=box.SIMPLE_HEAD, pad_edge=False,
    )
    table.add_column("tag", no_wrap=True)
    table.add_column("n", justify="right")
    for method in methods:
        table.add_column(METHOD_LABELS[method], justify="right", no_wrap=True)
    if "random" in methods:
        table.add_column("×random", justify="right", no_wrap=True)

    def cells(values: dict[str, float | None]) -> list[str]:
        numbers = {m: math.nan if values[m] is None else float(values[m]) for m in methods}
        out = ["–" if math.isnan(v) else f"{v:.3f}" for v in numbers.values()]
        if "random" in methods:
            ratio = numbers["model"] / numbers["random"] if numbers["random"] else math.nan
            out.append("–" if math.isnan(ratio) else f"{ratio:.2f}")
        return out

    kinds = list(dict.fromkeys(tag["kind"] for tag in result["tags"]))
    for kind in kinds:
        for tag in result["tags"]:
            if tag["kind"] == kind:
                table.add_row(tag["name"], str(tag["n"]), *cells(tag["precision"]))
        table.add_section()
    for group, values in result["means"].items():
        table.add_row(f"mean {group}", "", *cells(values), style="bold")
    console.print(table)
    if len(kinds) > 1:
        members = {kind: [t["name"] for t in result["tags"] if t["kind"] == kind]
                   for kind in kinds}
        console.print(" ".join(f"{kind}: {', '.join(names)}." for kind, names in members.items()))
    for name, reason in result.get("skipped_tags", {}).items():
        console.print(f"skipped tag {name}: {reason}")
