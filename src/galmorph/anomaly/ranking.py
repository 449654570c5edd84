"""Rankings: every galaxy in one order of interest, and how good that order is.

A ranking orders galaxies on one 0–5 scale: labelled galaxies by the score the
researcher gave, the others by the method's prediction, taken as 5 where it is above
(a Gaussian process's mean may pass the largest score); on a tie the labelled galaxy
comes first, so one scored 5 leads, then the higher prediction (:func:`rank_order`).
:func:`ranking_metrics` scores a ranking against the truth (precision@N, average precision).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from galmorph.anomaly.defaults import PRECISION_AT
from galmorph.anomaly.records import MAX_SCORE, MIN_SCORE


def rank_order(values: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """Row numbers ``(n,)`` by decreasing ``values`` ``(n,)`` clipped to the 0–5 scale; on
    ties the rows ``labelled`` (bool ``(n,)``) first, then by the values as given, then by
    row."""
    values = np.asarray(values, dtype=np.float64)
    rows = np.arange(len(values))
    return np.lexsort((rows, -values, ~np.asarray(labelled, dtype=bool),
                       -np.clip(values, MIN_SCORE, MAX_SCORE)))


def ranking_metrics(
    order: np.ndarray, interesting: np.ndarray, labelled: np.ndarray,
    cutoffs: Sequence[int] = PRECISION_AT,
) -> dict[str, float]:
    """Precision@N counting and excluding labelled galaxies, and average precision.

    Args:
        order: ranked rows (best first); rows not in it are left out.
        interesting: per row, whether the galaxy is interesting.
        labelled: per row, whether the researcher labelled it.

    Returns:
        ``precision_at_N``, ``precision_at_N_unlabelled`` per cut-off,
        ``average_precision`` (of the whole ranking) and ``n_found`` (interesting
        galaxies among the labelled).

    Example:
        >>> truth = np.array([True, False, True, False])
        >>> m = ranking_metrics(np.array([0, 1, 2, 3]), truth, np.zeros(4, bool), [2])
        >>> m["precision_at_2"], round(m["average_precision"], 4)
        (0.5, 0.8333)
    """
    interesting = np.asarray(interesting, dtype=bool)
    labelled = np.asarray(labelled, dtype=bool)
    ranked = interesting[order]
    unlabelled = interesting[order[~labelled[order]]]
    result: dict[str, float] = {}
    for n in cutoffs:
        result[f"precision_at_{n}"] = float(ranked[:n].mean()) if len(ranked) else math.nan
        result[f"precision_at_{n}_unlabelled"] = (float(unlabelled[:n].mean())
                                                  if len(unlabelled) else math.nan)
    hits = np.flatnonzero(ranked)
    result["average_precision"] = (float(np.mean(np.arange(1, len(hits) + 1) / (hits + 1)))
                                   if len(hits) else math.nan)
    result["n_found"] = float((interesting & labelled).sum())
    return result
