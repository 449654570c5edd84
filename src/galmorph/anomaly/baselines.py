"""Unsupervised baselines, and artefact flags from predicted vote fractions.

Unsupervised baselines
----------------------
:func:`isolation_forest_scores`, :func:`lof_scores` (higher = more anomalous),
and :func:`reweighted_scores`, the classic human-in-the-loop scheme of
Astronomaly (Lochner & Bassett 2021): a random-forest regressor fitted to the
scores so far predicts every galaxy's score ``u``, which re-weights the
isolation-forest score ``a`` (scaled to 0–5) by how far the galaxy is from the
nearest labelled one (``d``, over its mean ``d̄``)::

    a × tanh(exp(d / d̄) − 1 + artanh(0.1 + 0.85 u / 5))

Near labelled galaxies the predicted score dominates; far from them the
anomaly score does.

Artefacts
---------
Isolation forests mostly surface bad cutouts. :func:`artefact_flags` marks
galaxies whose *predicted* star-or-artefact vote fraction (from ``galmorph
predict``: ``t01_smooth_or_features_a03_star_or_artifact_fraction`` for GZ2
models, ``smooth-or-featured_artifact_fraction`` for DECaLS ones) is at least a
threshold (default 0.5). Flagged galaxies are never proposed and are left out of
rankings unless ``include_artefacts`` is set.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from galmorph.anomaly.defaults import DEFAULT_ARTEFACT_THRESHOLD, SAMPLE_ROWS
from galmorph.anomaly.records import MAX_SCORE
from galmorph.exceptions import GalmorphError, GalmorphWarning

#: Predicted-fraction columns searched for, in order, when none is named.
ARTEFACT_COLUMNS = (
    "t01_smooth_or_features_a03_star_or_artifact_fraction",
    "smooth-or-featured_artifact_fraction",
)


def isolation_forest_scores(x: np.ndarray, *, seed: int = 0, n_estimators: int = 100
                            ) -> np.ndarray:
    """Isolation-forest anomaly score ``(n,)`` of every row of features ``(n, d)``, higher =
    more anomalous (0 to 1).

    scikit-learn's :class:`~sklearn.ensemble.IsolationForest` (256 rows per tree),
    negated ``score_samples``.
    """
    from sklearn.ensemble import IsolationForest

    forest = IsolationForest(n_estimators=n_estimators, random_state=seed).fit(x)
    return -forest.score_samples(x)


def lof_scores(x: np.ndarray, *, n_neighbors: int = 20, reference: int = 20_000,
               seed: int = 0) -> np.ndarray:
    """Local outlier factor ``(n,)`` of every row of features ``(n, d)`` (higher = more
    anomalous; about 1 for inliers).

    Neighbours are searched exactly (faiss) among up to ``reference`` random rows;
    with all rows as the reference this equals scikit-learn's
    :class:`~sklearn.neighbors.LocalOutlierFactor` (``novelty=False``).
    """
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    n = len(x)
    if n < 3:
        return np.ones(n)
    if n > reference:
        ref_rows = np.sort(np.random.default_rng(seed).choice(n, reference, replace=False))
    else:
        ref_rows = np.arange(n)
    k = min(n_neighbors, len(ref_rows) - 1)
    ref = np.ascontiguousarray(x[ref_rows])
    position = np.full(n, -1)
    position[ref_rows] = np.arange(len(ref_rows))

    def neighbours(queries: np.ndarray, own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``k`` nearest reference rows of each query, not counting the query itself."""
        squared, found = faiss.knn(queries, ref, k + 1)
        keep = found != own[:, None]
        keep[keep.all(axis=1), -1] = False  # the query is not in the reference
        return (np.sqrt(np.maximum(squared[keep].reshape(-1, k), 0)),
                found[keep].reshape(-1, k))

    ref_dist, ref_found = neighbours(ref, np.arange(len(ref_rows)))
    k_distance = ref_dist[:, -1]
    ref_lrd = 1.0 / (np.maximum(ref_dist, k_distance[ref_found]).mean(axis=1) + 1e-10)
    scores = np.empty(n)
    for start in range(0, n, SAMPLE_ROWS):
        block = slice(start, start + SAMPLE_ROWS)
        dist, found = neighbours(x[block], position[block])
        lrd = 1.0 / (np.maximum(dist, k_distance[found]).mean(axis=1) + 1e-10)
        scores[block] = ref_lrd[found].mean(axis=1) / lrd
    return scores


def scale_scores(values: np.ndarray) -> np.ndarray:
    """Anomaly scores ``(n,)`` mapped linearly onto 0 (least) – 5 (most anomalous)."""
    values = np.asarray(values, dtype=np.float64)
    low, high = float(np.min(values)), float(np.max(values))
    if high <= low:
        return np.zeros_like(values)
    return (values - low) / (high - low) * MAX_SCORE


def reweighted_scores(
    anomaly: np.ndarray,
    x: np.ndarray,
    labelled_rows: np.ndarray,
    scores: np.ndarray,
    *,
    seed: int = 0,
    alpha: float = 1.0,
) -> np.ndarray:
    """Anomaly scores re-weighted by a random forest fitted to the researcher's scores.

    See the module docs for the formula; ``alpha`` scales the distances. Without
    labels this is the anomaly score scaled to 0–5.
    """
    import faiss
    from sklearn.ensemble import RandomForestRegressor

    scaled = scale_scores(anomaly)
    labelled_rows = np.asarray(labelled_rows, dtype=np.int64)
    if not len(labelled_rows):
        return scaled
    forest = RandomForestRegressor(n_estimators=100, random_state=seed)
    forest.fit(x[labelled_rows], np.asarray(scores, dtype=np.float64))
    predicted = np.concatenate([forest.predict(x[s : s + SAMPLE_ROWS])
                                for s in range(0, len(x), SAMPLE_ROWS)])
    squared, _ = faiss.knn(np.ascontiguousarray(x, dtype=np.float32),
                           np.ascontiguousarray(x[labelled_rows], dtype=np.float32), 1)
    distance = np.sqrt(np.maximum(squared[:, 0].astype(np.float64), 0.0))
    mean_distance = float(distance.mean()) or 1.0
    belief = 0.1 + 0.85 * np.clip(predicted, 0.0, MAX_SCORE) / MAX_SCORE
    return scaled * np.tanh(np.exp(distance / mean_distance / alpha) - 1 + np.arctanh(belief))


# ---------------------------------------------------------------- artefacts
def artefact_flags(
    predictions: pd.DataFrame,
    ids: Sequence[str],
    *,
    column: str | None = None,
    threshold: float = DEFAULT_ARTEFACT_THRESHOLD,
    source: str = "the predictions table",
) -> tuple[np.ndarray, np.ndarray, str]:
    """Flag likely artefacts: predicted star/artefact fraction ≥ ``threshold``.

    Args:
        predictions: a table with ``id_str`` and the fraction column (e.g. from
            ``galmorph predict``).
        ids: the galaxies to flag, in order.
        column: the fraction column; None: the first of :data:`ARTEFACT_COLUMNS` present.
        source: what the errors call the table (e.g. ``predictions file P.parquet``).

    Returns:
        Flags ``(n,)``, the fractions ``(n,)`` (NaN where a galaxy has no prediction,
        which is not flagged) and the column used.

    Raises:
        GalmorphError: when the column or ``id_str`` is missing.
    """
    from galmorph.data.table_checks import abbreviate

    columns = f"its columns: {abbreviate(predictions.columns)}"
    if "id_str" not in predictions:
        raise GalmorphError(f"{source} has no id_str column ({columns}): give the predictions "
                            "`galmorph predict` wrote")
    if column is None:
        column = next((c for c in ARTEFACT_COLUMNS if c in predictions), None)
        if column is None:
            raise GalmorphError(f"{source} has none of the artefact columns "
                                f"{', '.join(ARTEFACT_COLUMNS)}; name one with --artefact-column "
                                f"({columns})")
    elif column not in predictions:
        raise GalmorphError(f"{source} has no column {column!r} ({columns})")
    by_id = pd.Series(pd.to_numeric(predictions[column], errors="coerce").to_numpy(),
                      index=predictions["id_str"].astype(str))
    by_id = by_id[~by_id.index.duplicated()]
    wanted = [str(i) for i in ids]
    values = by_id.reindex(wanted).to_numpy(dtype=np.float64)
    missing = int(np.isnan(values).sum())
    if missing and not by_id.index.isin(wanted).any():
        theirs = repr(by_id.index[0]) if len(by_id) else "none"
        warnings.warn(f"no galaxy is flagged as an artefact: no id of the {len(values)} galaxies "
                      f"is in the predictions' id_str (ids like {wanted[0]!r}; the predictions': "
                      f"{theirs}): are they predictions of this catalog?", GalmorphWarning,
                      stacklevel=2)
    elif missing:
        warnings.warn(f"{missing} of {len(values)} galaxies have no {column} prediction: "
                      "not flagged as artefacts", GalmorphWarning, stacklevel=2)
    with np.errstate(invalid="ignore"):
        return values >= threshold, values, column
