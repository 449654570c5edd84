"""Galaxies like a few examples: one ranking from several query galaxies.

An astronomer with a handful of known objects of a kind (rings, mergers, lenses) wants
the other galaxies most like them. :func:`read_example_ids` reads the examples' ids: a
table with an ``id_str`` column in any format :func:`galmorph.data.table_files.read_table`
reads (a ranking, a labels export, a TOPCAT selection), or a text file of one id per
line (blank lines and ``#`` comments skipped). :func:`like_examples` then ranks every
other galaxy of the embeddings by ``combine``:

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
is kept. Each neighbour names the example it is nearest to (``nearest_example``) and
its distance to it (``example_distance``).

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
from pathlib import Path

import numpy as np
import pandas as pd

from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.files import user_path
from galmorph.search.arguments import check_k
from galmorph.search.defaults import COMBINES
from galmorph.search.index import exact_distances
from galmorph.search.neighbours import angular_separation, select_neighbours
from galmorph.search.search import SimilarityResult, SimilaritySearch

#: Table formats read as tables; any other file is read as one id per line.
_TEXT_SUFFIXES = (".txt", ".lst", ".list", ".ids", "")


def read_example_ids(path: str | Path) -> list[str]:
    """The ids of an examples file, in file order without repeats (see the module docs).

    Raises:
        GalmorphError: naming the file when it is missing, a table without an
            ``id_str`` column, or holds no id.
    """
    path = user_path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise GalmorphError(f"examples file {path} {what}")
    if path.suffix.lower() in _TEXT_SUFFIXES:
        lines = (line.split("#", 1)[0].strip() for line in
                 path.read_text(encoding="utf-8-sig", errors="replace").splitlines())
        ids = [line for line in lines if line]
    else:
        from galmorph.data.table_files import read_table

        table = read_table(path)
        column = next((c for c in table.columns if str(c).lower() == "id_str"), None)
        if column is None:
            raise GalmorphError(
                f"examples file {path} has no id_str column (its columns: "
                f"{', '.join(map(str, table.columns[:8]))}): give a table with the examples' "
                "id_str, or a text file of one id per line")
        ids = [str(v).strip() for v in table[column].dropna()]
        ids = [i for i in ids if i]
    if not ids:
        raise GalmorphError(f"examples file {path} holds no galaxy id")
    return list(dict.fromkeys(ids))


def example_rows(search: SimilaritySearch, ids: Sequence[str]) -> tuple[list[int], list[str]]:
    """Rows of the ids found in the embeddings, and the ids not found.

    Raises:
        GalmorphError: when none is found, naming a few of them and the embeddings.
    """
    emb = search.embeddings
    first_row = pd.Series(np.arange(len(emb.ids)), index=pd.Index(emb.ids.astype(str)))
    first_row = first_row[~first_row.index.duplicated()]
    found = first_row.reindex([str(i) for i in ids])
    missing = found.index[found.isna()].tolist()
    if len(missing) == len(found):
        shown = ", ".join(map(repr, missing[:3])) + (" ..." if len(missing) > 3 else "")
        raise GalmorphError(f"none of the {len(missing)} example ids ({shown}) is in "
                            f"{emb.path or 'the embeddings'} ({len(emb.ids)} galaxies)")
    return found.dropna().astype(np.int64).tolist(), missing


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


def _candidates(search: SimilaritySearch, examples: np.ndarray, k: int, skip: list[int],
                combine: str) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray | None]:
    """The candidate rows (columns) with their distance to each example (rows), their rank
    in each example's own neighbours (inf where not among its ``k``), and, for
    ``centroid``, their distance to the centroid (else None)."""
    if combine == "centroid":
        centroid = examples.mean(axis=0)
        if search.metric == "cosine" and np.linalg.norm(centroid) < 1e-6:
            raise GalmorphError("the examples' mean has no direction (they point opposite "
                                "ways): use combine='nearest' or 'rank' (--combine)")
        lists = [search.by_vector(centroid, k, exclude=skip).neighbours["row"].to_numpy()]
    else:  # the k best of any ranking are among each example's own k nearest
        lists = [search.by_vector(v, k, exclude=skip).neighbours["row"].to_numpy()
                 for v in examples]
    found = np.unique(np.concatenate(lists))
    vectors = search.vectors[found]
    distances = pd.DataFrame([exact_distances(v, vectors, search.metric) for v in examples],
                             columns=found)
    ranks = pd.DataFrame(np.inf, index=distances.index, columns=found)
    if combine != "centroid":
        for example, listed in enumerate(lists):
            ranks.loc[example, listed] = np.arange(1, len(listed) + 1)
    centred = (exact_distances(centroid, vectors, search.metric) if combine == "centroid"
               else None)
    return distances, ranks, centred


def like_examples(search: SimilaritySearch, ids: Sequence[str], k: int = 10, *,
                  combine: str = COMBINES[0]) -> SimilarityResult:
    """The ``k`` galaxies most like the examples ``ids``, one ranking (see the module docs).

    Args:
        search: the embeddings to search.
        ids: ``id_str`` of the examples; ids not in the embeddings are left out with a
            warning naming them.
        k: neighbours wanted (a whole number ≥ 1).
        combine: one of :data:`COMBINES`.

    Returns:
        A result whose ``query`` has ``kind`` ``examples``, ``combine``, ``ids`` (those
        found), ``missing`` and, when known, the examples' ``file_loc``; its neighbours
        table has ``nearest_example`` and ``example_distance`` beside the usual columns
        (``distance`` is the ranking's: to the nearest example, or to the centroid).

    Raises:
        ValueError: for an unknown ``combine``; GalmorphError: when no example is in
            the embeddings, or (cosine) an example or the centroid has no direction.
    """
    if combine not in COMBINES:
        raise ValueError(f"combine must be one of {', '.join(COMBINES)}, got {combine!r}")
    k = check_k(k)
    rows, missing = example_rows(search, ids)
    if missing:
        shown = ", ".join(map(repr, missing[:5])) + (" ..." if len(missing) > 5 else "")
        warnings.warn(f"{len(missing)} of the {len(rows) + len(missing)} examples are not in "
                      f"{search.embeddings.path or 'the embeddings'} and are left out: {shown}",
                      GalmorphWarning, stacklevel=2)
    skip = sorted(_same_objects(search, rows))
    examples = _example_vectors(search, rows)
    distances, ranks, ranking = _candidates(search, examples, k, skip, combine)
    found = distances.columns.to_numpy()
    if combine == "rank":  # the example that ranks it best (then the nearer of those)
        which = np.lexsort((distances.to_numpy(), ranks.to_numpy()), axis=0)[0]
    else:
        which = distances.to_numpy().argmin(axis=0)
    example_distance = distances.to_numpy()[which, np.arange(len(found))]
    ranking = example_distance if ranking is None else ranking
    best_rank = ranks.to_numpy().min(axis=0) if combine == "rank" else np.zeros(len(found))
    order = np.lexsort((found, ranking, best_rank))
    emb = search.embeddings
    kept = select_neighbours(found[order], k, exclude=skip, ra=emb.ra, dec=emb.dec,
                             radius=search.duplicate_radius)
    at = distances.columns.get_indexer(kept)
    table = search.result_table(kept, ranking[at])
    table.insert(3, "nearest_example", emb.ids[np.asarray(rows)[which[at]]].astype(str))
    table.insert(4, "example_distance", example_distance[at])
    query = {"kind": "examples", "combine": combine,
             "ids": [str(emb.ids[r]) for r in rows], "missing": missing}
    if emb.file_loc is not None:
        query["file_loc"] = [str(emb.file_loc[r]) for r in rows]
    return SimilarityResult(query=query, neighbours=table, metric=search.metric,
                            index=search.index.kind, index_params=search.index.params)
