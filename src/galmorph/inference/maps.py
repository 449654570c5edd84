"""The 2-D map of the representation: every galaxy of an embeddings file or folder as a point.

:func:`compute_map` turns ``(N, F)`` features into ``float32 (N, 2)`` positions:

* ``umap`` (umap-learn, 15 neighbours, ``min_dist`` 0.1): rows are scaled to unit length,
  so that the map's neighbours are the cosine neighbours of ``galmorph similar``'s
  default metric, reduced to their first 50 principal components when ``F`` is larger,
  and laid out with euclidean distances. The same ``seed`` gives the same map (umap-learn
  then runs on one thread). Fewer than 17 galaxies (15 neighbours need more) get the PCA
  map instead.
* ``pca``: the features' first two principal components (exact; computed in two passes
  over blocks of rows, so a folder of embeddings never needs all its features in memory).
  One galaxy sits at ``(0, 0)``; two lie on the x axis; a second axis without variance
  (one feature, or identical galaxies) is 0.
* ``auto``: ``umap`` up to :data:`~galmorph.inference.defaults.DEFAULT_UMAP_MAX`
  (100,000) galaxies, ``pca`` above, so that it takes a few minutes at most. UMAP's time
  grows faster than the number of galaxies. Measured with umap-learn 0.5.12 on one core
  of a busy 2-core machine (``nice``; 40-D features: 20 clusters on a 10-D manifold, plus
  noise; seeded, so one thread), two runs: 10,000 galaxies in 25 s, 30,000 in 32-51 s,
  100,000 in 2.0-2.6 min; placing 10,000 more with ``transform`` 8-26 s. numba compiles
  UMAP first, once per process: 15 s to 1.5 min. The PCA map of 1,000,000 galaxies of
  40 features took 6 s there (200,000 of 640: 13 s).

For a folder of embeddings (:mod:`~galmorph.inference.embedding_folder`), a forced
``umap`` above that size is fitted on a random sample of ``umap_max`` galaxies and
the others are placed by ``transform``, a partition at a time; a single file's
features are in memory and all of them are laid out.

The map is cached beside the embeddings (:func:`map_path`): ``emb.parquet`` →
``emb.map.parquet``, a folder → ``FOLDER/_map.parquet`` (a name that is never read as
a partition). The cache (columns ``id_str``, ``x``, ``y``; parquet metadata
``galmorph_map``: JSON with method, seed, n, the ids' SHA-256, the embeddings' making,
seconds, parameters and galmorph version) is reused by :func:`ensure_map` while it holds
the same galaxies in the same order, from embeddings made the same way.

Example:
    >>> gmap = ensure_map("emb.parquet", on_compute=print)  # doctest: +SKIP
    umap 12345
    >>> gmap.xy.shape, gmap.method  # doctest: +SKIP
    ((12345, 2), 'umap')
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from galmorph import __version__
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.files import atomic_target
from galmorph.inference.defaults import DEFAULT_UMAP_MAX, MAP_METHODS
from galmorph.inference.embedding_folder import PartitionedEmbeddings, read_embedding_folder
from galmorph.inference.embeddings import EmbeddingInfo, galaxy_columns, read_embedding_info
from galmorph.inference.resumable import ids_digest

#: Parquet metadata key of a map file's JSON.
MAP_METADATA_KEY = "galmorph_map"
MAP_FORMAT_VERSION = 1
#: UMAP's settings: neighbours, ``min_dist``, and the dimensions it is given at most.
UMAP_NEIGHBORS = 15
UMAP_MIN_DIST = 0.1
UMAP_INPUT_DIMS = 50
#: Fewer galaxies than this get the PCA map (UMAP needs more than its neighbours).
MIN_UMAP_GALAXIES = UMAP_NEIGHBORS + 2
#: Rows converted to float64 at once by the PCA map (bounds its memory: 64 MiB per 128 features).
PCA_ROWS = 65_536


@dataclass(frozen=True)
class GalaxyMap:
    """A map of galaxies: row ``i`` of ``xy`` is where ``ids[i]`` is drawn.

    Attributes:
        ids: ``(N,)`` galaxy ids (``str`` objects), in the embeddings' row order.
        xy: ``float32 (N, 2)`` positions (arbitrary units).
        method: ``"umap"`` or ``"pca"``: what made it.
        info: what the cache records (see the module docs).
    """

    ids: np.ndarray
    xy: np.ndarray
    method: str
    info: dict[str, Any]


def resolve_method(method: str, n: int, umap_max: int = DEFAULT_UMAP_MAX) -> str:
    """The method used for ``n`` galaxies: ``"umap"`` or ``"pca"`` (see the module docs).

    Raises:
        GalmorphError: for a method not in ``auto``, ``umap``, ``pca``.
    """
    if method not in MAP_METHODS:
        raise GalmorphError(f"unknown map method {method!r}: use one of {', '.join(MAP_METHODS)}")
    if n < MIN_UMAP_GALAXIES:
        return "pca"
    if method == "auto":
        return "umap" if n <= umap_max else "pca"
    return method


# ------------------------------------------------------------------------ PCA
def principal_axes(blocks: Iterable[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(F,)`` and first ``k`` principal axes ``(k, F)`` of rows given in blocks.

    Exact (float64 covariance, one pass). Each axis's largest loading is positive; axes
    beyond the data's rank (and beyond ``F``) are zero, so projections on them are 0.
    """
    n, shift, total, scatter = 0, None, None, None
    for rows in (np.asarray(block[i:i + PCA_ROWS], dtype=np.float64)
                 for block in blocks for i in range(0, len(block), PCA_ROWS)):
        if shift is None:  # sums of rows shifted by the first block's mean stay precise
            shift = rows.mean(axis=0)
            total, scatter = np.zeros(len(shift)), np.zeros((len(shift), len(shift)))
        centred = rows - shift
        n, total = n + len(rows), total + centred.sum(axis=0)
        scatter += centred.T @ centred
    if n == 0:
        raise GalmorphError("there are no galaxies to map")
    offset = total / n
    values, vectors = np.linalg.eigh(scatter / n - np.outer(offset, offset))
    order = np.argsort(values)[::-1][:k]
    axes = np.zeros((k, len(offset)))
    top = values[order[0]]
    for row, j in enumerate(order):
        if top > 0 and values[j] > 1e-10 * top:  # not rounding noise of an empty direction
            axis = vectors[:, j]
            axes[row] = axis if axis[np.argmax(np.abs(axis))] > 0 else -axis
    return shift + offset, axes


def _project(block: np.ndarray, mean: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """``float32 (rows, len(axes))`` coordinates of ``block`` on the axes, in slices."""
    out = np.empty((len(block), len(axes)), dtype=np.float32)
    for i in range(0, len(block), PCA_ROWS):
        out[i:i + PCA_ROWS] = (np.asarray(block[i:i + PCA_ROWS], dtype=np.float64) - mean) @ axes.T
    return out


# ----------------------------------------------------------------------- UMAP
def _unit_rows(features: np.ndarray) -> np.ndarray:
    rows = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1)


class _Umap:
    """UMAP of unit rows (reduced to :data:`UMAP_INPUT_DIMS` principal components)."""

    def __init__(self, sample: np.ndarray, seed: int) -> None:
        import umap

        unit = _unit_rows(sample)
        self.reduce = (principal_axes([unit], UMAP_INPUT_DIMS)
                       if unit.shape[1] > UMAP_INPUT_DIMS else None)
        self.model = umap.UMAP(n_neighbors=UMAP_NEIGHBORS, min_dist=UMAP_MIN_DIST,
                               metric="euclidean", random_state=seed, n_jobs=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # e.g. duplicate rows
            self.xy = self.model.fit_transform(self._input(unit)).astype(np.float32)

    def _input(self, unit: np.ndarray) -> np.ndarray:
        return unit if self.reduce is None else _project(unit, *self.reduce)

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Positions ``float32 (n, 2)`` of other galaxies in the fitted map."""
        if not len(features):
            return np.empty((0, 2), dtype=np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return self.model.transform(self._input(_unit_rows(features))).astype(np.float32)


def compute_map(
    features: np.ndarray, *, method: str = "auto", seed: int = 0,
    umap_max: int = DEFAULT_UMAP_MAX,
) -> tuple[np.ndarray, str]:
    """The map of ``(N, F)`` features: ``float32 (N, 2)`` and the method used.

    See the module docs for the methods; fewer than :data:`MIN_UMAP_GALAXIES` galaxies
    always get ``pca``.

    Raises:
        GalmorphError: for an unknown method, no galaxies, or features that are not 2-D.

    Example:
        >>> xy, used = compute_map(np.eye(4, 3), method="pca")
        >>> xy.shape, xy.dtype, used
        ((4, 2), dtype('float32'), 'pca')
    """
    features = np.asarray(features)
    if features.ndim != 2:
        raise GalmorphError(f"features to map must be (galaxies, features), got {features.shape}")
    used = resolve_method(method, len(features), umap_max)
    if used == "umap":
        return _Umap(features, seed).xy, used
    return _project(features, *principal_axes([features], 2)), used


def _folder_map(emb: PartitionedEmbeddings, method: str, seed: int,
                umap_max: int) -> tuple[np.ndarray, str]:
    """:func:`compute_map` of a folder, a partition of features in memory at a time."""
    used = resolve_method(method, len(emb), umap_max)
    xy = np.empty((len(emb), 2), dtype=np.float32)
    if used == "pca":
        mean, axes = principal_axes((block for _, block in emb.blocks()), 2)
        for start, block in emb.blocks():
            xy[start:start + len(block)] = _project(block, mean, axes)
        return xy, used
    fitted = np.zeros(len(emb), dtype=bool)
    fitted[np.random.default_rng(seed).choice(len(emb), min(len(emb), umap_max),
                                              replace=False)] = True
    sample = np.concatenate([block[fitted[start:start + len(block)]]
                             for start, block in emb.blocks()])
    model = _Umap(sample, seed)
    xy[fitted] = model.xy
    if not fitted.all():
        for start, block in emb.blocks():
            rest = ~fitted[start:start + len(block)]
            xy[start:start + len(block)][rest] = model.transform(block[rest])
    return xy, used


# ---------------------------------------------------------------------- cache
def map_path(embeddings: str | Path) -> Path:
    """Where the map of embeddings is cached: ``EMB.map.parquet`` beside a file
    (``emb.parquet`` → ``emb.map.parquet``), ``FOLDER/_map.parquet`` in a folder."""
    path = Path(embeddings)
    if path.is_dir():
        return path / "_map.parquet"
    return path.with_name(f"{path.name.removesuffix('.parquet')}.map.parquet")


def _made_by(info: EmbeddingInfo) -> str:
    """SHA-256 of how the embeddings were made (model checksum, PCA, views, stages...)."""
    values = json.loads(info.to_json())
    values["model"] = info.model.get("sha256")
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def write_map(galaxy_map: GalaxyMap, path: str | Path) -> Path:
    """Write a map as parquet (``id_str``, ``x``, ``y`` and its info), atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"id_str": pa.array([str(i) for i in galaxy_map.ids], pa.string()),
                      "x": pa.array(galaxy_map.xy[:, 0], pa.float32()),
                      "y": pa.array(galaxy_map.xy[:, 1], pa.float32())})
    table = table.replace_schema_metadata({MAP_METADATA_KEY: json.dumps(galaxy_map.info)})
    with atomic_target(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def read_map(path: str | Path, ids: np.ndarray | None = None, *,
             made_by: str | None = None) -> GalaxyMap | None:
    """The map cached in ``path``; None when there is none, or it is stale: it holds other
    galaxies than ``ids`` (count and digest, in order), or embeddings made otherwise than
    ``made_by`` says (when given).

    Raises:
        GalmorphError: naming the file when it is not a readable map.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
        info = json.loads(table.schema.metadata[MAP_METADATA_KEY.encode()])
        stored = np.asarray(table.column("id_str").to_pylist(), dtype=object)
        xy = np.column_stack([table.column(c).to_numpy() for c in ("x", "y")])
        digest, method = info["ids_sha256"], info["method"]
    except Exception as err:  # pyarrow, json and missing keys raise several types
        raise GalmorphError(f"{path} is not a readable galmorph map ({err!r}); delete it "
                            "or make it again with galmorph embed --map") from None
    if len(stored) != info.get("n") or ids_digest(stored) != digest:
        raise GalmorphError(f"{path} is damaged: its ids do not match its own record; "
                            "delete it or make it again with galmorph embed --map")
    if ids is not None and (len(ids) != len(stored) or ids_digest(ids) != digest):
        return None
    if made_by is not None and info.get("embeddings_sha256") != made_by:
        return None
    return GalaxyMap(ids=stored, xy=xy.astype(np.float32), method=method, info=info)


def _galaxies(embeddings: Path) -> tuple[np.ndarray, EmbeddingInfo, PartitionedEmbeddings | None]:
    """The ids and making of embeddings, without a file's features; a folder opened."""
    if embeddings.is_dir():
        folder = read_embedding_folder(embeddings)
        return folder.ids, folder.info, folder
    import pyarrow.parquet as pq

    info, _ = read_embedding_info(embeddings)
    try:
        table = pq.read_table(embeddings, columns=["id_str"])
    except Exception as err:  # pyarrow raises several types for a bad file or column
        raise GalmorphError(f"cannot read the ids of {embeddings}: {err}") from None
    return galaxy_columns(table, embeddings)["ids"], info, None


def ensure_map(
    embeddings: str | Path, *, method: str = "auto", seed: int = 0, recompute: bool = False,
    on_compute: Callable[[str, int], None] | None = None, umap_max: int = DEFAULT_UMAP_MAX,
) -> GalaxyMap:
    """The map of an embeddings file or folder: the cached one while fresh, else made and
    cached (see the module docs).

    A cached map is fresh when it holds the same galaxies in the same order, from
    embeddings made the same way, and (unless ``method`` is ``auto``) by the method
    ``method`` resolves to. ``on_compute(method, n)`` is called before a computation. A
    map that cannot be written (read-only folder) is returned with a warning.

    Raises:
        GalmorphError: for unreadable embeddings, a damaged cache or an unknown method.
    """
    from galmorph.inference.embeddings import read_embeddings

    path = Path(embeddings)
    ids, info, folder = _galaxies(path)
    used = resolve_method(method, len(ids), umap_max)
    made_by = _made_by(info)
    if not recompute:
        cached = read_map(map_path(path), ids, made_by=made_by)
        if cached is not None and method in ("auto", cached.method):
            return cached
    if on_compute is not None:
        on_compute(used, len(ids))
    start = time.perf_counter()
    if folder is not None:
        xy, used = _folder_map(folder, method, seed, umap_max)
    else:
        xy, used = compute_map(read_embeddings(path).features, method=method, seed=seed,
                               umap_max=umap_max)
    galaxy_map = GalaxyMap(ids=ids, xy=xy, method=used, info={
        "format_version": MAP_FORMAT_VERSION, "method": used, "seed": seed, "n": len(ids),
        "ids_sha256": ids_digest(ids), "embeddings_sha256": made_by,
        "model_sha256": info.model.get("sha256"), "seconds": round(time.perf_counter() - start, 3),
        "parameters": _parameters(used, info.n_features, len(ids), umap_max, folder is not None),
        "galmorph_version": __version__,
    })
    try:
        write_map(galaxy_map, map_path(path))
    except OSError as err:
        warnings.warn(f"the map of {path} could not be cached in {map_path(path)} ({err}); "
                      "it will be computed again next time", GalmorphWarning, stacklevel=2)
    return galaxy_map


def _parameters(method: str, n_features: int, n: int, umap_max: int,
                sampled: bool) -> dict[str, Any]:
    """The settings a map was made with, for its record."""
    if method == "pca":
        return {"components": 2}
    return {"n_neighbors": UMAP_NEIGHBORS, "min_dist": UMAP_MIN_DIST,
            "metric": "cosine (unit rows, euclidean)",
            "input_dims": min(n_features, UMAP_INPUT_DIMS),
            "fitted_on": min(n, umap_max) if sampled else n}
