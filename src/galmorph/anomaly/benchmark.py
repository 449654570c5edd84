"""Simulated-user benchmark: active learning against the baselines.

:func:`benchmark` replays sessions in which a catalog column answers for the
researcher (:func:`simulate`) and scores the rankings
(:func:`~galmorph.anomaly.ranking.ranking_metrics`). Beside the methods it reports
a *supervised ceiling* (:func:`supervised_scores`): a logistic regression that
knows which of the other galaxies are interesting, out of fold. It is not
something a researcher can run; it measures how well the features separate what
is interesting at all, so that a low figure for every method can be told apart
from a weak method.

Example
-------
>>> setup = benchmark_setup("emb.parquet", "catalog.csv", "odd_fraction")  # doctest: +SKIP
>>> benchmark(setup, n_labels=200)["active"]["precision_at_50"]  # doctest: +SKIP
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from galmorph.anomaly.baselines import isolation_forest_scores, lof_scores
from galmorph.anomaly.checks import SettingError
from galmorph.anomaly.defaults import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_INTERESTING_SCORE,
    DEFAULT_PCA,
    DEFAULT_XI,
    MAX_SEED,
)
from galmorph.anomaly.features import interest_features
from galmorph.anomaly.methods import predict_interest, propose
from galmorph.anomaly.ranking import rank_order, ranking_metrics
from galmorph.anomaly.records import MAX_SCORE
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.inference.embeddings import Embeddings, read_embeddings
from galmorph.numbers import real_number, whole_number


def user_scores(values: np.ndarray) -> np.ndarray:
    """A truth column as the simulated researcher's 0–5 scores.

    Values all within [0, 1] are fractions (e.g. of volunteers answering "odd"),
    mapped to ``round(5 × value)`` (halves rounded up); values within [0, 5]
    are scores already.

    Raises:
        GalmorphError: for values outside [0, 5].

    Example:
        >>> user_scores(np.array([0.0, 0.1, 0.7, 1.0])).tolist()
        [0.0, 1.0, 4.0, 5.0]
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size and (values.min() < 0 or values.max() > MAX_SCORE):
        raise GalmorphError("the truth column must hold fractions in [0, 1] or scores in "
                            f"[0, 5]; its values run from {values.min():g} to {values.max():g}")
    if values.size and values.max() <= 1:
        return np.floor(MAX_SCORE * values + 0.5)
    return values


def _truth_values(table: pd.DataFrame, column: str, source: str) -> pd.Series:
    """The truth column's numeric values by ``id_str`` (NaN where empty).

    Raises:
        GalmorphError: for a missing column, a repeated id, text in the column or
            values outside [0, 5], naming ``source``, the column and the rows.
    """
    from galmorph.data import table_checks as checks

    for needed in ("id_str", column):
        if needed not in table:
            raise GalmorphError(f"{source} has no column {needed!r}; its columns: "
                                + checks.abbreviate(table.columns))
    table = table.reset_index(drop=True)  # rows numbered from 0 in file order
    blank = checks.blank_values(table, "id_str")
    if blank:
        raise GalmorphError(f"{source}: {blank[0]}")
    table = table.assign(id_str=checks.as_text(table["id_str"]))
    repeated = checks.duplicate_ids(table)
    if repeated:
        raise GalmorphError(f"{source}: {repeated[0]}; each galaxy needs one {column} value "
                            "(repeated rows are rejected even where their values agree)")
    raw = table[column]
    values = pd.to_numeric(raw, errors="coerce").astype("float64")
    text = values.isna() & ~checks.is_blank(raw)
    if text.any():
        raise GalmorphError(f"{source}: column {column!r} must hold numbers but has "
                            f"{checks.plural(int(text.sum()), 'non-numeric value')}: "
                            + checks.describe_rows(table, text, raw))
    outside = ~values.between(0, MAX_SCORE) & values.notna()
    if outside.any():
        raise GalmorphError(
            f"{source}: column {column!r} must hold fractions in [0, 1] or scores in [0, 5]; "
            f"its values run from {values.min():g} to {values.max():g}, outside [0, 5] in "
            f"{checks.plural(int(outside.sum()), 'row')}: "
            + checks.describe_rows(table, outside, raw))
    return pd.Series(values.to_numpy(), index=table["id_str"])


def _check_interesting(interesting: np.ndarray, candidates: np.ndarray, values: np.ndarray,
                       threshold: float | None, where: str) -> None:
    """Raise unless some candidate galaxy is interesting (the benchmark measures finding them).

    ``values`` are the truth column's values of the galaxies; ``where`` names the column.
    """
    if interesting[candidates].any():
        return
    if threshold is not None:
        rule = f"--interesting-threshold {threshold:g}"
    elif values.max() <= 1:  # fractions: a score of 4 is a fraction of at least 0.7
        rule = (f"a score of at least {DEFAULT_INTERESTING_SCORE} (a fraction of at "
                f"least {(DEFAULT_INTERESTING_SCORE - 0.5) / MAX_SCORE:g})")
    else:
        rule = f"a score of at least {DEFAULT_INTERESTING_SCORE}"
    if interesting.any():
        raise GalmorphError(f"every galaxy reaching {rule} in {where} is "
                            f"flagged as an artefact: nothing interesting is left to find")
    raise GalmorphError(f"no galaxy is interesting: none of the {len(values)} galaxies reaches "
                        f"{rule}; the maximum of {where} is {values.max():g}. "
                        "Lower --interesting-threshold or check the column")


@dataclass
class BenchmarkSetup:
    """The benchmark's galaxies: features, the simulated answers and the truth.

    Attributes:
        ids: galaxies kept (in both the embeddings and the truth, with a value).
        x: their standardised features.
        scores: the researcher's answer for each (0–5).
        interesting: whether each is interesting.
        candidates: galaxies that may be proposed and ranked (not artefacts).
        notes: what was dropped or flagged.
    """

    ids: np.ndarray
    x: np.ndarray
    scores: np.ndarray
    interesting: np.ndarray
    candidates: np.ndarray
    notes: dict[str, Any] = field(default_factory=dict)


def benchmark_setup(
    embeddings: Embeddings | str | Path,
    truth: pd.DataFrame | str | Path,
    score_column: str,
    *,
    threshold: float | None = None,
    pca: int = DEFAULT_PCA,
    seed: int = 0,
    artefacts: np.ndarray | None = None,
) -> BenchmarkSetup:
    """Join the embeddings to the truth catalog on ``id_str`` (see :func:`benchmark`).

    Raises:
        GalmorphError: naming the truth file, the column and the offending rows when
            the column is missing, holds text or values outside [0, 5], an id is
            repeated, nothing matches, or no galaxy is interesting.
    """
    from galmorph.data.table_files import read_table

    emb = embeddings if isinstance(embeddings, Embeddings) else read_embeddings(embeddings)
    source = "the truth catalog" if isinstance(truth, pd.DataFrame) else f"truth catalog {truth}"
    table = truth if isinstance(truth, pd.DataFrame) else read_table(truth)
    by_id = _truth_values(table, score_column, source)
    values = by_id.reindex([str(i) for i in emb.ids]).to_numpy(dtype=np.float64)
    keep = ~np.isnan(values)
    if not keep.any():
        raise GalmorphError(f"no galaxy of {emb.path or 'the embeddings'} has a "
                            f"{score_column} value in {source} (joined on id_str)")
    if not keep.all():
        warnings.warn(f"{int((~keep).sum())} of {len(keep)} galaxies have no {score_column} "
                      "value: left out of the benchmark", GalmorphWarning, stacklevel=2)
    scores = user_scores(values[keep])
    interesting = (values[keep] >= threshold if threshold is not None
                   else scores >= DEFAULT_INTERESTING_SCORE)
    candidates = np.ones(int(keep.sum()), dtype=bool)
    if artefacts is not None:
        candidates = ~np.asarray(artefacts, dtype=bool)[keep]
    _check_interesting(interesting, candidates, values[keep], threshold,
                       f"column {score_column!r} of {source}")
    x = interest_features(emb.features, pca, seed=seed)[keep]
    if threshold is None and values[keep].max() <= 1:  # fractions: scored round(5 × value)
        threshold = (DEFAULT_INTERESTING_SCORE - 0.5) / MAX_SCORE
    rule = f"{score_column} ≥ {DEFAULT_INTERESTING_SCORE if threshold is None else threshold:g}"
    return BenchmarkSetup(
        ids=emb.ids[keep], x=x, scores=scores, interesting=interesting, candidates=candidates,
        notes={"n_galaxies": int(keep.sum()), "n_dropped": int((~keep).sum()),
               "n_interesting": int(interesting[candidates].sum()),
               "n_artefacts": int((~candidates).sum()), "n_features": int(x.shape[1]),
               "interesting_rule": rule},
    )


def supervised_scores(
    x: np.ndarray, interesting: np.ndarray, *, folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Out-of-fold P(interesting) ``(n,)`` from logistic regressions told the truth.

    Each of ``folds`` stratified folds is scored by an L2-regularised logistic
    regression fitted to every other fold's ``interesting`` flags: the ceiling of
    what a linear read-out of the features ``x`` ``(n, d)`` can rank, with every
    other galaxy's answer known.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    interesting = np.asarray(interesting, dtype=bool)
    scores = np.zeros(len(x))
    splits = min(folds, int(interesting.sum()), int((~interesting).sum()))
    if splits < 2:
        return scores
    for fit, held in StratifiedKFold(splits, shuffle=True, random_state=seed).split(
            x, interesting):
        classifier = LogisticRegression(C=0.1, max_iter=2000).fit(x[fit], interesting[fit])
        scores[held] = classifier.predict_proba(x[held])[:, 1]
    return scores


def simulate(
    method: str,
    setup: BenchmarkSetup,
    *,
    n_labels: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
    xi: float = DEFAULT_XI,
    seed: int = 0,
) -> dict[str, float]:
    """One simulated session of ``method`` (``random``, ``supervised``): label, rank, score.

    ``active`` and ``reweighted-forest`` label ``n_labels`` galaxies in batches, the
    researcher answering with the true score; ``isolation-forest``, ``lof``,
    ``random`` and the ``supervised`` ceiling (:func:`supervised_scores`) label
    nothing. Labelled galaxies rank by the score given, the rest by the method's
    prediction (see :func:`~galmorph.anomaly.ranking.ranking_metrics`).
    """
    x, truth_scores, candidates = setup.x, setup.scores, setup.candidates
    labelled = np.zeros(len(x), dtype=bool)
    rows: list[int] = []
    anomaly = None
    if method in ("isolation-forest", "reweighted-forest"):
        anomaly = isolation_forest_scores(x, seed=seed)
    elif method == "lof":
        anomaly = lof_scores(x, seed=seed)
    if method == "random":
        values = np.random.default_rng(seed).random(len(x))
    elif method == "supervised":
        values = np.zeros(len(x))
        pool = np.flatnonzero(candidates)
        values[pool] = supervised_scores(x[pool], setup.interesting[pool], seed=seed)
    else:
        if method in ("active", "reweighted-forest"):
            while len(rows) < min(n_labels, int(candidates.sum())):
                chosen, _, _ = propose(
                    method, x, np.asarray(rows, dtype=np.int64), truth_scores[rows],
                    candidates=candidates & ~labelled,
                    batch_size=min(batch_size, n_labels - len(rows)), xi=xi,
                    anomaly=anomaly, seed=seed,
                )
                rows.extend(int(r) for r in chosen)
                labelled[chosen] = True
        values = predict_interest(method, x, np.asarray(rows, dtype=np.int64),
                                  truth_scores[rows], anomaly=anomaly, seed=seed).predicted
        values[labelled] = truth_scores[labelled]
    pool = np.flatnonzero(candidates)
    order = pool[rank_order(values[pool], labelled[pool])]
    return ranking_metrics(order, setup.interesting, labelled)


#: Methods compared by :func:`benchmark`, by JSON key.
BENCHMARK_METHODS = {
    "active": "active",
    "isolation_forest": "isolation-forest",
    "reweighted_forest": "reweighted-forest",
    "random": "random",
    "supervised_ceiling": "supervised",
}


def benchmark(
    setup: BenchmarkSetup,
    *,
    n_labels: int = 200,
    repeats: int = 15,
    batch_size: int = DEFAULT_BATCH_SIZE,
    xi: float = DEFAULT_XI,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Simulated-researcher benchmark: active learning against the baselines.

    Each method runs ``repeats`` times (seeds ``seed``, ``seed + 1``, ...; they
    change the cold start, the forests and the random ranking) with
    ``n_labels`` labels where it takes labels (:func:`simulate`).

    Returns:
        Per method key (:data:`BENCHMARK_METHODS`), each metric of
        :func:`~galmorph.anomaly.ranking.ranking_metrics` as its mean over repeats,
        ``<metric>_std`` its standard deviation, ``seconds`` the mean time of a run
        and ``repeats`` the per-run values; ``settings``: the run's settings and the
        data's counts.

    Raises:
        SettingError: naming a setting that is not a usable number, or ``n_labels``
            when it reaches the number of galaxies that can be labelled.
    """
    xi = real_number(xi, "xi (--xi)", 0.0, error=SettingError)
    seed = whole_number(seed, "seed (--seed)", 0, MAX_SEED, error=SettingError)
    batch_size = whole_number(batch_size, "batch_size (--batch-size)", 1, error=SettingError)
    repeats = whole_number(repeats, "repeats (--repeats)", 1, error=SettingError)
    n_labels = whole_number(n_labels, "n_labels (--labels)", 1, error=SettingError)
    n_candidates = int(setup.candidates.sum())
    if n_labels >= n_candidates:
        galaxies = "1 galaxy that" if n_candidates == 1 else f"{n_candidates} galaxies that"
        raise SettingError(f"n_labels (--labels) must be below the {galaxies} can be "
                           f"labelled, got {n_labels}: the benchmark measures how the "
                           "galaxies left unlabelled are ranked")
    result: dict[str, Any] = {}
    for key, method in BENCHMARK_METHODS.items():
        runs = []
        start = time.perf_counter()
        for repeat in range(repeats):
            if progress is not None:
                progress(f"{key}: run {repeat + 1}/{repeats}")
            runs.append(simulate(method, setup, n_labels=n_labels, batch_size=batch_size,
                                 xi=xi, seed=seed + repeat))
        summary: dict[str, Any] = {}
        for metric in runs[0]:
            values = np.array([r[metric] for r in runs])
            summary[metric] = float(values.mean())
            summary[f"{metric}_std"] = float(values.std())
        summary["seconds"] = (time.perf_counter() - start) / repeats
        summary["repeats"] = runs
        result[key] = summary
    result["settings"] = {"n_labels": n_labels, "repeats": repeats, "batch_size": batch_size,
                          "xi": xi, "seed": seed, **setup.notes}
    return result
