"""Galaxies like a few examples: one ranking from several query galaxies.

An astronomer with a handful of known objects of a kind (rings, mergers, lenses) wants
the other galaxies most like them. :func:`like_examples` takes the examples' ids (from
a file: :func:`galmorph.search.example_files.read_example_ids`; an id in another case
is found when it is the only match) and ranks every other galaxy of the embeddings by
``combine``:

* ``centroid`` (default): its distance to the examples' mean search-space vector (unit
  vectors for ``cosine``), i.e. galaxies like all of them at once. Averaging the examples
  keeps what they share and evens out what they do not: on the starter's validation
  split it found the most galaxies sharing the examples' tag, for every number of
  examples tried (``benchmarks/bench_examples.py``);
* ``nearest``: its distance to the nearest example, i.e. galaxies like any of them. An
  example in a crowded part of the space (edge-on discs) can fill the list alone;
* ``rank``: its best rank among the examples' own neighbours, nearer first where equal:
  each example's nearest, then each one's second, ... so every example has its turn
  (for examples of different kinds).

The examples, and every entry within the duplicate radius of one on the sky (the same
object entered twice), are left out; of neighbours that are one object only the nearest
is kept. Each neighbour names the example it is nearest to (``nearest_example``; for
``rank``, the one that ranks it best) and its distance to it (``example_distance``).
``nearest`` and ``rank`` search each example's own neighbours (8 s for 2,000 examples
among 6,092 galaxies of 1,280 features, exact search; 2 CPU cores); ``centroid``
searches once (0.2 s).

Example
-------
>>> from galmorph.search.search import SimilaritySearch
>>> search = SimilaritySearch("emb.parquet")  # doctest: +SKIP
>>> result = like_examples(search, ["J1", "J2", "J3"], k=20)  # doctest: +SKIP
>>> result.neighbours[["id_str", "distance", "nearest_example"]]  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from galmorph.data.table_checks import abbreviate
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.search.arguments import check_k
from galmorph.search.defaults import COMBINES
from galmorph.search.index import exact_distances
from galmorph.search.neighbours import angular_separation, select_neighbours
from galmorph.search.search import SimilarityResult, SimilaritySearch


def example_rows(search: SimilaritySearch, ids: Sequence[str]) -> tuple[list[int], list[str]]:
    """Rows of the ids found in the embeddings (as written, else in another case where only
    one id matches: :class:`~galmorph.search.id_lookup.IdLookup`), and the ids not found.

    Raises:
        GalmorphError: when none is found, naming a few of them and the embeddings.
    """
    names = [str(i) for i in ids]
    found = search.id_lookup.rows(names)
    missing = [name for name, row in zip(names, found, strict=True) if row is None]
    if len(missing) == len(names):
        emb = search.embeddings
        shown = abbreviate(map(repr, missing), 3)
        raise GalmorphError(f"none of the {len(missing)} example ids ({shown}) is in "
                            f"{emb.path or 'the embeddings'} ({len(emb.ids)} galaxies)")
    return list(dict.fromkeys(row for row in found if row is not None)), missing


def _same_objects(search: SimilaritySearch, rows: Sequence[int]) -> set[int]:
    """The example rows and every row within the duplicate radius of one on the sky."""
    emb, skip = search.embeddings, set(rows)
    if emb.ra is None or emb.dec is None:
        return skip
    radius = search.duplicate_radius
    for row in rows:  # the rows in the example's strip of declination, then on the sphere
        strip = np.flatnonzero(np.abs(emb.dec - emb.dec[row]) <= radius / 3600)
        separation = angular_separation(emb.ra[row], emb.dec[row], emb.ra[strip], emb.dec[strip])
        skip.update(strip[separation <= radius].tolist())
    return skip


def _example_vectors(search: SimilaritySearch, rows: list[int]) -> np.ndarray:
    """``(n_examples, d)`` search-space vectors; an all-zero one is refused for cosine."""
    vectors = np.asarray(search.vectors[np.asarray(rows, dtype=np.int64)], dtype=np.float32)
    if search.metric == "cosine":
        zero = [str(search.embeddings.ids[r]) for r, v in zip(rows, vectors, strict=True)
                if not v.any()]
        if zero:
            raise GalmorphError(
                f"example {', '.join(map(repr, zero))} has all-zero features, which have no "
                "direction for the cosine metric: leave it out, or use --metric euclidean")
    return vectors


def _by_centroid(search: SimilaritySearch, examples: np.ndarray, k: int,
                 skip: list[int]) -> pd.DataFrame:
    """The ``k`` nearest to the examples' mean: ``row``, ``distance`` (to the mean),
    ``example`` (the nearest one) and ``example_distance``, nearest first."""
    centroid = examples.mean(axis=0)
    if search.metric == "cosine" and np.linalg.norm(centroid) < 1e-6:
        raise GalmorphError("the examples' mean has no direction (they point opposite "
                            "ways): use combine='nearest' or 'rank' (--combine)")
    found = search.by_vector(centroid, k, exclude=skip).neighbours
    vectors = search.vectors[found["row"].to_numpy()]
    to_examples = np.stack([exact_distances(v, vectors, search.metric) for v in examples])
    return pd.DataFrame({"row": found["row"], "distance": found["distance"],
                         "example": to_examples.argmin(axis=0),
                         "example_distance": to_examples.min(axis=0)})


def _by_example(search: SimilaritySearch, examples: np.ndarray, k: int, skip: list[int],
                combine: str) -> pd.DataFrame:
    """As :func:`_by_centroid`, from each example's own ``k`` nearest: by the distance to
    the nearest example, or by the best rank (then distance) among theirs. The ``k``
    best of either ranking are among those lists, with their distances."""
    lists = []
    for number, vector in enumerate(examples):
        own = search.by_vector(vector, k, exclude=skip).neighbours
        lists.append(pd.DataFrame({"row": own["row"], "rank": own["rank"],
                                   "example_distance": own["distance"], "example": number}))
    table = pd.concat(lists, ignore_index=True)
    order = ["example_distance", "row"] if combine == "nearest" else [
        "rank", "example_distance", "row"]
    best = table.sort_values(order, kind="stable").drop_duplicates("row")
    return best.assign(distance=best["example_distance"]).drop(columns="rank")


def like_examples(search: SimilaritySearch, ids: Sequence[str], k: int = 10, *,
                  combine: str = COMBINES[0]) -> SimilarityResult:
    """The ``k`` galaxies most like the examples ``ids``, one ranking (see the module docs).

    Args:
        search: the embeddings to search.
        ids: ``id_str`` of the examples; ids not in the embeddings are left out with a
            warning naming them.
        k: neighbours wanted (a whole number ≥ 1).
        combine: one of :data:`~galmorph.search.defaults.COMBINES`.

    Returns:
        A result whose ``query`` has ``kind`` ``examples``, ``combine``, ``ids`` (those
        found), ``missing`` and, when known, the examples' ``file_loc``; its neighbours
        table has ``nearest_example`` and ``example_distance`` beside the usual columns
        (``distance`` is the ranking's: to the nearest example, or to the centroid).

    Raises:
        TypeError: for ``ids`` given as one string; ValueError: for none, or an unknown
            ``combine``; GalmorphError: when no example is in the embeddings, or
            (cosine) an example or the centroid has no direction.
    """
    if isinstance(ids, str):
        raise TypeError(f"ids must be a list of galaxy ids, got the string {ids!r}: for one "
                        "galaxy use SimilaritySearch.by_id, or give [id]")
    if combine not in COMBINES:
        raise ValueError(f"combine must be one of {', '.join(COMBINES)}, got {combine!r}")
    if not len(ids):
        raise ValueError("no example ids given")
    k = check_k(k)
    rows, missing = example_rows(search, ids)
    if missing:
        warnings.warn(f"{len(missing)} of the {len(ids)} examples are not in "
                      f"{search.embeddings.path or 'the embeddings'} and are left out: "
                      f"{abbreviate(map(repr, missing), 5)}", GalmorphWarning, stacklevel=2)
    skip = sorted(_same_objects(search, rows))
    examples = _example_vectors(search, rows)
    if combine == "centroid":
        best = _by_centroid(search, examples, k, skip)
    else:
        best = _by_example(search, examples, k, skip, combine)
    emb = search.embeddings
    kept = select_neighbours(best["row"].to_numpy(), k, exclude=skip, ra=emb.ra, dec=emb.dec,
                             radius=search.duplicate_radius)
    best = best.set_index("row").loc[kept]
    table = search.result_table(kept, best["distance"].to_numpy())
    table.insert(3, "nearest_example",
                 emb.ids[np.asarray(rows)[best["example"].to_numpy()]].astype(str))
    table.insert(4, "example_distance", best["example_distance"].to_numpy())
    query = {"kind": "examples", "combine": combine,
             "ids": [str(emb.ids[r]) for r in rows], "missing": missing}
    if emb.file_loc is not None:
        query["file_loc"] = [str(emb.file_loc[r]) for r in rows]
    return SimilarityResult(query=query, neighbours=table, metric=search.metric,
                            index=search.index.kind, index_params=search.index.params)
