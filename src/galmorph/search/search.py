"""Similarity search over galaxy embeddings: the neighbours of a galaxy, position or image.

:class:`SimilaritySearch` finds the ``k`` galaxies nearest to a query (a galaxy of
the embeddings file by id or sky position, a new image, or a feature vector) in
one of :data:`galmorph.search.index.METRICS`, over an embeddings file or the
folder of files of a partitioned catalog (searched in bounded memory, see
:mod:`galmorph.search.partitioned`).

Results exclude the query itself and every entry within
:data:`DUPLICATE_RADIUS_ARCSEC` of its position on the sky (the same object
entered twice), and keep only the nearest of neighbours that are themselves
within that radius of each other. Reported distances are recomputed exactly
(float64) whatever index found the candidates (see :mod:`galmorph.search.index`
and, for the approximate indexes saved beside the embeddings file,
:mod:`galmorph.search.index_store`).

Examples
--------
>>> from galmorph.inference.embeddings import read_embeddings
>>> from galmorph.search.search import SimilaritySearch
>>> search = SimilaritySearch(read_embeddings("emb.parquet"), metric="cosine")  # doctest: +SKIP
>>> search.by_id("J090203.35+590529.9", k=5).neighbours[["id_str", "distance"]]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.files import user_path
from galmorph.inference.embedding_folder import PartitionedEmbeddings, open_embeddings
from galmorph.inference.embeddings import Embeddings
from galmorph.search.arguments import (
    check_k,
    check_position,
    check_radius,
    check_row,
    check_vector,
)
from galmorph.search.defaults import DUPLICATE_RADIUS_ARCSEC, MATCH_RADIUS_ARCSEC
from galmorph.search.id_lookup import IdLookup
from galmorph.search.index import Index, exact_distances, search_vectors
from galmorph.search.index_store import load_or_build_index
from galmorph.search.matching import identical_rows, no_match_message
from galmorph.search.neighbours import EXTRA_CANDIDATES, angular_separation, select_neighbours
from galmorph.search.partitioned import StoredVectors, open_partitioned_index

if TYPE_CHECKING:
    import torch

    from galmorph.inference.loading import ModelSpec

# ------------------------------------------------------------------ queries
@dataclass
class SimilarityResult:
    """A query and its neighbours.

    Attributes:
        query: what was searched for: ``kind`` (``id``, ``position``, ``image`` or
            ``vector``) and, as known, ``id_str``, ``ra``, ``dec``, ``file_loc``,
            ``row`` (in the embeddings), ``separation_arcsec`` (of a position match),
            ``image``, ``same_as`` (ids of the entries that are that image: same file,
            left out, or identical features, kept).
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
    """Nearest-neighbour queries over embeddings (see the module docs).

    Args:
        embeddings: a file from :func:`galmorph.inference.embeddings.read_embeddings`, or
            a folder from :func:`galmorph.inference.embedding_folder.open_embeddings`, or
            the path (str or Path) of either, read with ``open_embeddings``.
        metric: one of :data:`galmorph.search.index.METRICS`.
        index: one of :data:`galmorph.search.index.INDEX_KINDS` (``auto``: exact up to
            :data:`galmorph.search.index.EXACT_MAX_ROWS` galaxies, else IVF; a folder:
            ``exact`` or ``ivf``, see :func:`galmorph.search.partitioned.partitioned_kind`).
        duplicate_radius: arcsec (≥ 0) within which entries are the same object.
        rebuild: build a new approximate index even if a saved one matches.
        notify: called with a message before an approximate index is built.

    Raises:
        TypeError: when ``embeddings`` is none of these; ValueError: for a negative
            ``duplicate_radius``; GalmorphError: for a path that is not embeddings, or
            embeddings with no galaxies.

    Example:
        >>> search = SimilaritySearch(read_embeddings("emb.parquet"))  # doctest: +SKIP
        >>> search.by_position(135.514, 59.092, k=8).neighbours.id_str.tolist()  # doctest: +SKIP
    """

    def __init__(
        self, embeddings: Embeddings | PartitionedEmbeddings | str | os.PathLike[str],
        metric: str = "cosine", index: str = "auto", *,
        duplicate_radius: float = DUPLICATE_RADIUS_ARCSEC, rebuild: bool = False,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        if isinstance(embeddings, (str, os.PathLike)):
            embeddings = open_embeddings(embeddings)
        elif not isinstance(embeddings, (Embeddings, PartitionedEmbeddings)):
            raise TypeError(
                "embeddings must be Embeddings (read_embeddings), PartitionedEmbeddings "
                "(open_embeddings) or the path of an embeddings file or folder, got "
                f"{type(embeddings).__name__}")
        self.duplicate_radius = check_radius(duplicate_radius, "duplicate_radius")
        if len(embeddings) == 0:
            raise GalmorphError(f"{embeddings.path or 'the embeddings'} holds no galaxies: "
                                "embed a catalog with galmorph embed CATALOG -o EMB.parquet")
        self.embeddings: Embeddings | PartitionedEmbeddings = embeddings
        #: Rows by id as people type them (indexes built on first use).
        self.id_lookup = IdLookup(embeddings.ids)
        self.metric = metric
        #: Search-space vectors by row (read back from the index for a folder).
        self.vectors: np.ndarray | StoredVectors
        self.index: Index
        if isinstance(embeddings, PartitionedEmbeddings):
            self.vectors, self.index = open_partitioned_index(
                embeddings, metric, index, rebuild=rebuild, notify=notify)
            #: Features per galaxy: the length of a query vector.
            self.n_features = embeddings.info.n_features
        else:
            self.n_features = int(embeddings.features.shape[1])
            self.vectors = search_vectors(embeddings.features, metric)
            self.index = load_or_build_index(
                self.vectors, metric, index, embeddings.path, rebuild=rebuild, notify=notify
            )
            if metric == "cosine":
                _warn_directionless(embeddings, ~self.vectors.any(axis=1))

    def __repr__(self) -> str:
        """One line: galaxies, metric, index kind and where the embeddings are."""
        where = self.embeddings.path
        return (f"SimilaritySearch({len(self.embeddings)} galaxies, metric={self.metric!r}, "
                f"index={self.index.kind!r}, path={None if where is None else str(where)!r})")

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
            vector: ``(n_features,)`` finite numbers (``n_features``: the embeddings').
            k: neighbours wanted (a whole number ≥ 1).
            exclude: rows never returned.
            centre: ``(ra, dec)`` whose same-object entries are never returned.
            query: description stored in the result.

        Raises:
            ValueError: naming the expected and received shapes, for NaN values, or
                for an all-zero vector with ``cosine`` (it has no direction).
        """
        values = check_vector(vector, self.n_features)
        if self.metric == "cosine" and not values.any():
            raise ValueError("vector is all zeros, which has no cosine distance to anything: "
                             "use metric='euclidean' or 'manhattan'")
        query_vector = search_vectors(values[None], self.metric)
        return self._nearest(query_vector, k, exclude, centre, query)

    def _nearest(
        self, query_vector: np.ndarray, k: int, exclude: Sequence[int],
        centre: tuple[float, float] | None, query: dict[str, Any] | None,
    ) -> SimilarityResult:
        """:meth:`by_vector` for a search-space ``(1, n_features)`` query."""
        k = check_k(k)
        skip = set(exclude)  # many (a search from examples): fetched as they turn up
        wanted = k + min(len(skip), k) + EXTRA_CANDIDATES
        total, found = len(self.vectors), -1
        while True:
            candidates = self.index.search(query_vector, min(wanted, total))[0]
            candidates = candidates[candidates >= 0]
            found_vectors = self.vectors[candidates]
            if self.metric == "cosine":  # all-zero rows have no direction: never neighbours
                directed = found_vectors.any(axis=1)
                candidates, found_vectors = candidates[directed], found_vectors[directed]
            distances = exact_distances(query_vector[0], found_vectors, self.metric)
            order = np.lexsort((candidates, distances))
            candidates, distances = candidates[order], distances[order]
            kept = self._select(candidates, k, skip, centre)
            if len(kept) >= k or wanted >= total or len(candidates) <= found:
                break
            found, wanted = len(candidates), wanted * 4
        position = {row: i for i, row in enumerate(candidates.tolist())}
        return SimilarityResult(
            query=query or {"kind": "vector"},
            neighbours=self.result_table(kept, distances[[position[r] for r in kept]]),
            metric=self.metric, index=self.index.kind, index_params=self.index.params,
        )

    def result_table(self, rows: list[int], distances: np.ndarray) -> pd.DataFrame:
        """The neighbours table of ``rows`` (nearest first) at ``distances`` ``(len(rows),)``:
        ``rank``, ``id_str``, ``distance``, ``ra``/``dec`` and ``file_loc`` when known,
        ``row``."""
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
        centre = self._centre(row)
        if centre is not None and np.isfinite(centre).all():  # NaN: position unknown
            query["ra"], query["dec"] = centre
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
        """Neighbours of the galaxy in row ``row``, excluding it and its same-object entries.

        Raises:
            IndexError: naming the rows there are, for a row outside ``[0, len)``.
            GalmorphError: for a galaxy whose features are all zero, with ``cosine``.
        """
        row = check_row(row, len(self.embeddings))
        query_vector = self.vectors[np.array([row])]
        if self.metric == "cosine" and not query_vector.any():
            raise GalmorphError(
                f"galaxy {self.embeddings.ids[row]!r} has all-zero features, which have no "
                "direction for the cosine metric: use metric='euclidean' or 'manhattan' (--metric)")
        return self._nearest(query_vector, k, [row], self._centre(row),
                             self._describe(row, kind, **extra))

    def by_id(self, galaxy_id: str, k: int = 10) -> SimilarityResult:
        """Neighbours of a galaxy by ``id_str`` (also in another case, where only one id
        matches).

        Raises:
            GalmorphError: when the id is not in the embeddings, naming similar ids.
            TypeError: for several ids (a list) instead of one.
        """
        if not isinstance(galaxy_id, str | int | np.integer):
            raise TypeError(f"galaxy_id is one id (a str), not a {type(galaxy_id).__name__}; "
                            "for galaxies like several, use like_examples")
        row = self.id_lookup.row(str(galaxy_id))
        if row is None:
            row = self.embeddings.row_of(galaxy_id)  # raises, naming similar ids
        return self.by_row(row, k, kind="id")

    def by_position(
        self, ra: float, dec: float, k: int = 10, *, radius: float = MATCH_RADIUS_ARCSEC
    ) -> SimilarityResult:
        """Neighbours of the galaxy nearest to ``(ra, dec)`` (degrees) within ``radius`` arcsec.

        Galaxies whose position is unknown (NaN) are never matched.

        Raises:
            TypeError, ValueError: naming ``ra``, ``dec`` or ``radius`` when not a number,
                RA outside [0, 360), Dec outside [-90, 90], NaN, or a negative radius.
            GalmorphError: without coordinates, or with no galaxy within ``radius``.
        """
        ra, dec = check_position(ra, dec)
        radius = check_radius(radius, "radius")
        emb = self.embeddings
        if emb.ra is None or emb.dec is None:
            raise GalmorphError("these embeddings have no ra/dec columns: query by --id instead")
        row, separation = self._nearest_on_sky(ra, dec)
        if not np.isfinite(separation):
            raise GalmorphError("no galaxy of these embeddings has a known position (ra/dec "
                                "are all NaN): query by --id instead")
        if separation > radius:
            hours_row, hours_separation = self._nearest_on_sky(15 * ra, dec) if ra < 24 else (0, -1)
            hours = str(emb.ids[hours_row]) if 0 <= hours_separation <= radius else None
            raise GalmorphError(no_match_message(ra, dec, radius, str(emb.ids[row]), separation,
                                                 hours))
        return self.by_row(row, k, kind="position", query_ra=ra, query_dec=dec,
                           separation_arcsec=separation)

    def _nearest_on_sky(self, ra: float, dec: float) -> tuple[int, float]:
        """The row nearest to ``(ra, dec)`` and its separation in arcsec (inf: none known)."""
        emb = self.embeddings
        assert emb.ra is not None and emb.dec is not None
        separation = np.nan_to_num(angular_separation(ra, dec, emb.ra, emb.dec), nan=np.inf)
        row = int(np.argmin(separation))
        return row, float(separation[row])

    def by_image(
        self, image: str | Path, k: int = 10, *, model: ModelSpec = None,
        device: str | torch.device = "cpu",
    ) -> SimilarityResult:
        """Neighbours of a new image, embedded with the embeddings' model (and PCA).

        Entries whose image is this same file (and their same-object entries) are
        left out, as for a query by id. Entries whose features are identical to the
        image's (a copy of it elsewhere) stay, at distance ~0: ``query["same_as"]``
        names both kinds, so the image's galaxy is known either way.

        Args:
            image: the path (str or Path) of one image file (jpg, png or FITS); for
                features already computed use :meth:`by_vector`.

        Raises:
            TypeError: when ``image`` is not one path.
            GalmorphError: when the image is unreadable, or the model gives features of
                another length than the embeddings'.
        """
        if not isinstance(image, (str, os.PathLike)):
            raise TypeError(
                f"image must be the path (str or Path) of one image file, got "
                f"{type(image).__name__}; search by features with by_vector, and by several "
                "images with one by_image call each")
        # torch, timm and the model load only for queries by image: 5 s of imports
        from galmorph.inference.new_images import embed_images

        vector = embed_images([image], self.embeddings, model, device=device)[0]
        if vector.shape != (self.n_features,):
            where = self.embeddings.path or "the embeddings"
            raise GalmorphError(
                f"the model gives features of shape {vector.shape} per image but {where} has "
                f"({self.n_features},): the file's recorded model or PCA does not match it")
        path = user_path(image).resolve()
        exclude: list[int] = []
        if self.embeddings.file_loc is not None:
            exclude = np.flatnonzero(self.embeddings.file_loc == str(path)).tolist()
        copies = identical_rows(self.index, self.vectors, search_vectors(vector[None],
                                                                         self.metric))
        query: dict[str, Any] = {"kind": "image", "image": str(path)}
        if exclude or copies:
            query["same_as"] = [str(self.embeddings.ids[r]) for r in sorted({*exclude, *copies})]
        return self.by_vector(vector, k, exclude=exclude, query=query,
                              centre=self._centre(exclude[0]) if exclude else None)


def _warn_directionless(embeddings: Embeddings, zero: np.ndarray) -> None:
    """Warn that the galaxies of ``(n,)`` mask ``zero``, all-zero features, are left out."""
    if zero.any():
        ids = embeddings.ids[zero][:3].tolist()
        warnings.warn(
            f"{int(zero.sum())} galaxies of {embeddings.path or 'the embeddings'} have "
            f"all-zero features (e.g. {', '.join(map(repr, ids))}), which have no direction "
            "for the cosine metric: they are never returned as neighbours (use metric='euclidean' "
            "or 'manhattan', --metric, to include them)", GalmorphWarning, stacklevel=3)
