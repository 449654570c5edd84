"""What each method makes of the labels so far: predicted interest and the next batch.

The methods (:data:`~galmorph.anomaly.defaults.METHODS`) are active learning
(:class:`~galmorph.anomaly.interest.InterestModel`) and the unsupervised baselines
(:mod:`galmorph.anomaly.baselines`). :func:`predict_interest` gives every galaxy's
predicted interest on the 0–5 scale (the GP's mean; a baseline's score mapped onto
0–5); :func:`propose` chooses the next batch to label.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from galmorph.anomaly.baselines import reweighted_scores, scale_scores
from galmorph.anomaly.defaults import DEFAULT_BATCH_SIZE, DEFAULT_XI, METHODS
from galmorph.anomaly.features import spread_sample
from galmorph.anomaly.interest import InterestModel
from galmorph.exceptions import GalmorphError


@dataclass(frozen=True)
class Step:
    """A method's view of the galaxies given the labels so far.

    Attributes:
        predicted: ``(n,)`` each galaxy's predicted interest on the 0–5 scale (the
            GP's mean; a baseline's score scaled to 0–5).
    """

    predicted: np.ndarray


def predict_interest(
    method: str,
    x: np.ndarray,
    labelled_rows: np.ndarray,
    scores: np.ndarray,
    *,
    anomaly: np.ndarray | None = None,
    seed: int = 0,
) -> Step:
    """Every galaxy's predicted interest (0–5; :attr:`Step.predicted`) under ``method``.

    The methods are :data:`~galmorph.anomaly.defaults.METHODS`.

    Args:
        x: standardised features ``(n, d)`` of all galaxies.
        labelled_rows, scores: the labels so far: row numbers ``(m,)`` and their
            scores ``(m,)`` (0–5).
        anomaly: the unsupervised score ``(n,)`` the baseline uses (isolation forest for
            ``reweighted-forest``; LOF for ``lof``).

    Raises:
        GalmorphError: for active learning without labels, or a baseline without scores.
    """
    check_method(method)
    if method == "active":
        if not len(labelled_rows):
            raise GalmorphError("no labels yet: score the galaxies `galmorph anomaly next` "
                                "shows, or rank with a baseline method (such as "
                                "--method isolation-forest)")
        model = InterestModel(seed=seed).fit(x[labelled_rows], scores)
        return Step(np.asarray(model.predict(x)))
    if anomaly is None:
        raise GalmorphError(f"{method} needs anomaly scores")
    if method == "reweighted-forest":
        return Step(reweighted_scores(anomaly, x, labelled_rows, scores, seed=seed))
    return Step(scale_scores(anomaly))


def propose(
    method: str,
    x: np.ndarray,
    labelled_rows: np.ndarray,
    scores: np.ndarray,
    *,
    candidates: np.ndarray,
    batch_size: int = DEFAULT_BATCH_SIZE,
    xi: float = DEFAULT_XI,
    anomaly: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, pd.DataFrame, dict[str, Any]]:
    """The next batch under ``method``: rows, their numbers and how they were chosen.

    Active learning starts with :func:`~galmorph.anomaly.features.spread_sample` and
    then takes the top expected improvement; the baselines take their highest
    scores. ``candidates`` (boolean per row) excludes labelled galaxies and artefacts.

    Returns:
        Rows, a table (``acquisition``, ``predicted``, ``std``; NaN where not
        applicable) and details for the session log (``how``, ``seconds``...).
    """
    start = time.perf_counter()
    empty = pd.DataFrame(columns=["acquisition", "predicted", "std"], dtype=float)
    if method == "active" and not len(labelled_rows):
        rows = spread_sample(x, batch_size, candidates=candidates, seed=seed)
        return rows, empty.reindex(range(len(rows))), {
            "how": "cold start: nearest galaxies to k-means centres",
            "seconds": time.perf_counter() - start}
    if method == "active":
        model = InterestModel(seed=seed).fit(x[labelled_rows], scores)
        fitted = time.perf_counter()
        chosen = model.propose(x, batch_size, candidates=candidates, best=float(np.max(scores)),
                               xi=xi)
        table = pd.DataFrame({"acquisition": chosen.acquisition, "predicted": chosen.mean,
                              "std": chosen.std})
        return chosen.rows, table, {
            "how": "expected improvement", "kernel": model.kernel, "xi": xi,
            "fit_seconds": fitted - start, "acquisition_seconds": chosen.seconds,
            "n_exact": chosen.n_exact, "seconds": time.perf_counter() - start}
    predicted = predict_interest(method, x, labelled_rows, scores, anomaly=anomaly,
                                 seed=seed).predicted
    pool = np.flatnonzero(candidates)
    rows = pool[np.lexsort((pool, -predicted[pool]))[:batch_size]]
    table = pd.DataFrame({"acquisition": predicted[rows], "predicted": predicted[rows],
                          "std": np.nan})
    return rows, table, {"how": f"highest {method} score", "seconds": time.perf_counter() - start}


def check_method(method: str) -> None:
    """Refuse (GalmorphError) a method not in :data:`~galmorph.anomaly.defaults.METHODS`."""
    if method not in METHODS:
        raise GalmorphError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
