"""Metrics for predicted vote concentrations against Galaxy Zoo vote counts.

Pure functions on arrays, in the order of :attr:`Schema.label_cols`:

* :func:`fit_vote_baseline` fits one Dirichlet-multinomial per question to the
  training votes, ignoring the images: the NLL a model must beat.
* :func:`evaluate_votes` computes per-question NLL, vote-fraction error and
  accuracy on confidently classified galaxies, optionally from MC-dropout samples.
* :func:`galmorph.models.evaluation_tables.print_evaluation` shows the result as a
  table; :func:`galmorph.files.write_json` saves it.

Examples
--------
>>> import numpy as np
>>> from galmorph.data.schemas import get_schema
>>> schema = get_schema("gz2-no-odd")
>>> rng = np.random.default_rng(0)
>>> counts = rng.integers(0, 5, size=(50, schema.n_answers))
>>> baseline = fit_vote_baseline(counts, schema)
>>> result = evaluate_votes(counts, np.tile(baseline, (50, 1)), schema, baseline)
>>> bool(np.isclose(result["mean_nll"], result["baseline_mean_nll"]))
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.special import logsumexp

from galmorph.data.tree import Schema
from galmorph.models.label_metrics import wilson_interval
from galmorph.models.losses import dirichlet_multinomial_nll

CONFIDENT_ANSWERED = 0.5
"""A confident question was answered by at least this fraction of the volunteers
who answered the schema's first question."""
CONFIDENT_AGREEMENT = 0.8
"""...and at least this fraction of its answers agree."""

_BASELINE_BOUNDS = (math.log(1e-3), math.log(1e4))  # log concentration


def _check_counts(counts: Any, schema: Schema) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[1] != schema.n_answers:
        raise ValueError(
            f"expected vote counts of shape (n_galaxies, {schema.n_answers}) for schema "
            f"{schema.name!r}, got {counts.shape}"
        )
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError("vote counts must be finite and non-negative")
    return counts


def _nll(counts: np.ndarray, concentrations: np.ndarray, schema: Schema) -> np.ndarray:
    """``(N, n_questions)`` NLL (nats) from :func:`dirichlet_multinomial_nll` in float64."""
    with torch.no_grad():
        return dirichlet_multinomial_nll(
            torch.as_tensor(np.array(counts)),  # a copy: the caller's array may be read-only
            torch.from_numpy(np.array(concentrations, dtype=np.float64)),
            schema.question_index_groups,
        ).numpy()


def _question_sums(values: np.ndarray, schema: Schema) -> np.ndarray:
    """Sum over each question's answers along axis 1: ``(N, n_answers, ...)`` → ``(N, Q, ...)``."""
    return np.add.reduceat(values, [start for start, _ in schema.question_index_groups], axis=1)


def _baseline_objective(
    log_alpha: np.ndarray, votes: torch.Tensor, weight: torch.Tensor
) -> tuple[float, np.ndarray]:
    """Weighted mean NLL of one question's ``votes`` and its gradient in ``log_alpha``."""
    theta = torch.tensor(log_alpha, requires_grad=True)
    concentrations = theta.exp().expand(len(votes), -1)
    loss = dirichlet_multinomial_nll(votes, concentrations, [(0, len(log_alpha))])[:, 0]
    loss = (loss * weight).sum()
    loss.backward()
    return loss.item(), theta.grad.numpy()


def fit_vote_baseline(counts: np.ndarray, schema: Schema) -> np.ndarray:
    """Maximum-likelihood Dirichlet-multinomial concentrations per question, ignoring images.

    Each question is fitted separately (L-BFGS on log α, bounded to [1e-3, 1e4])
    on the galaxies with at least one vote for it; a question nobody answered
    gets α = 1.

    Args:
        counts: ``(n_galaxies, n_answers)`` training vote counts, label-column order.
        schema: the decision tree of the columns.

    Returns:
        ``(n_answers,)`` float64 concentrations, the same for every galaxy.

    Example:
        >>> from galmorph.data.schemas import get_schema
        >>> schema = get_schema("gz2-no-odd")
        >>> fit_vote_baseline(np.ones((10, schema.n_answers)), schema).shape
        (28,)
    """
    counts = _check_counts(counts, schema)
    alpha = np.ones(schema.n_answers)
    for start, stop in schema.question_index_groups:
        votes = counts[:, start:stop]
        votes = votes[votes.sum(1) > 0]
        if len(votes) == 0:
            continue
        # Vote vectors repeat a lot: fit each distinct one once, weighted by its count.
        unique, weight = np.unique(votes, axis=0, return_counts=True)
        fractions = (votes / votes.sum(1, keepdims=True)).mean(0)
        fit = minimize(
            _baseline_objective,
            np.log(np.clip(10.0 * fractions, 1e-2, None)),
            args=(torch.from_numpy(unique), torch.from_numpy(weight / weight.sum())),
            jac=True,
            method="L-BFGS-B",
            bounds=[_BASELINE_BOUNDS] * (stop - start),
        )
        alpha[start:stop] = np.exp(fit.x)
    return alpha


def confident_mask(votes: np.ndarray, first_total: np.ndarray) -> np.ndarray:
    """Which galaxies the volunteers answered one question of confidently: at least
    :data:`CONFIDENT_ANSWERED` of the first question's volunteers answered it, and at least
    :data:`CONFIDENT_AGREEMENT` of its answers agree.

    Args:
        votes: ``(N, n_answers_of_the_question)`` vote counts.
        first_total: ``(N,)`` votes for the schema's first question.

    Returns:
        ``(N,)`` booleans.
    """
    total = votes.sum(1)
    top_share = votes.max(1, initial=0.0) / np.where(total > 0, total, 1.0)
    return (
        (total > 0)
        & (total >= CONFIDENT_ANSWERED * first_total)
        & (top_share >= CONFIDENT_AGREEMENT)
    )


def expected_fractions(concentrations: np.ndarray, schema: Schema) -> np.ndarray:
    """The vote fractions a model expects, ``α / Σα`` per question, averaged over MC samples.

    Args:
        concentrations: ``(N, n_answers)`` or ``(N, n_answers, S)``.

    Returns:
        ``(N, n_answers)``; each question's fractions sum to 1.
    """
    conc = np.asarray(concentrations, dtype=np.float64)
    if conc.ndim == 2:
        conc = conc[:, :, None]
    sizes = [stop - start for start, stop in schema.question_index_groups]
    return (conc / np.repeat(_question_sums(conc, schema), sizes, axis=1)).mean(2)


def _confident_metrics(
    votes: np.ndarray, predicted: np.ndarray, first_total: np.ndarray
) -> dict[str, Any]:
    """Accuracy metrics of one question on its confidently answered galaxies."""
    confident = confident_mask(votes, first_total)
    n = int(confident.sum())
    if n == 0:
        nan = float("nan")
        return {"n_confident": 0, "accuracy_confident": nan, "accuracy_ci95": [nan, nan],
                "balanced_accuracy_confident": nan, "majority_accuracy": nan}
    truth = votes[confident].argmax(1)
    correct = predicted[confident].argmax(1) == truth
    k = int(correct.sum())
    classes = np.unique(truth)
    return {
        "n_confident": n,
        "accuracy_confident": k / n,
        "accuracy_ci95": list(wilson_interval(k, n)),
        "balanced_accuracy_confident": float(np.mean([correct[truth == c].mean()
                                                      for c in classes])),
        "majority_accuracy": float(np.bincount(truth).max() / n),
    }


def evaluate_votes(
    counts: np.ndarray,
    concentrations: np.ndarray,
    schema: Schema,
    baseline: np.ndarray | None = None,
) -> dict[str, Any]:
    """Per-question metrics of predicted concentrations against observed votes.

    Per question (NaN where no galaxy qualifies):

    * ``nll``: mean over all galaxies of the Dirichlet-multinomial NLL (nats);
      galaxies without votes for the question count as 0, so the per-question
      values add up to the summed NLL per galaxy. With MC samples the likelihood
      is the mixture ``mean_s p(x | α_s)``.
    * ``baseline_nll``: the same for ``baseline`` concentrations (if given).
    * ``mae``: mean absolute error of the expected vote fractions (``α / Σα``,
      averaged over samples) over answers and galaxies with ≥ 1 vote (``n_answered``).
    * On confident galaxies — the question got at least ``CONFIDENT_ANSWERED`` (half)
      of the first question's votes, and at least ``CONFIDENT_AGREEMENT`` (80%) of
      them agree: ``n_confident``, ``accuracy_confident`` (predicted top answer is
      the volunteers' top answer) with Wilson ``accuracy_ci95`` ``[lo, hi]``,
      ``balanced_accuracy_confident`` (mean recall over the answers present) and
      ``majority_accuracy`` (always answering the most common top answer).

    Args:
        counts: ``(N, n_answers)`` vote counts, label-column order.
        concentrations: ``(N, n_answers)`` or ``(N, n_answers, S)`` (MC samples).
        schema: the decision tree of the columns.
        baseline: ``(n_answers,)`` from :func:`fit_vote_baseline`, or None.

    Returns:
        ``{"questions": {name: {...}}, "mean_nll", "baseline_mean_nll" (if
        baseline), "n_galaxies", "n_samples"}``; ``mean_nll`` is the summed NLL per
        galaxy, as :func:`galmorph.models.losses.vote_loss`.

    Example:
        >>> from galmorph.data.schemas import get_schema
        >>> schema = get_schema("gz2-no-odd")
        >>> counts = np.zeros((2, schema.n_answers))
        >>> counts[:, 0] = 10                       # 10 volunteers: smooth
        >>> alpha = np.ones((2, schema.n_answers))
        >>> alpha[:, 0] = 20                        # model: probably smooth
        >>> result = evaluate_votes(counts, alpha, schema)
        >>> q = result["questions"]["t01_smooth_or_features"]
        >>> q["n_confident"], q["accuracy_confident"], round(q["nll"], 3)
        (2, 1.0, 0.795)
    """
    counts = _check_counts(counts, schema)
    conc = np.asarray(concentrations, dtype=np.float64)
    if conc.ndim == 2:
        conc = conc[:, :, None]
    if conc.ndim != 3 or conc.shape[:2] != counts.shape or conc.shape[2] == 0:
        raise ValueError(
            f"expected concentrations of shape {counts.shape} or {counts.shape + ('S',)}, "
            f"got {np.shape(concentrations)}"
        )
    if not np.isfinite(conc).all() or (conc <= 0).any():
        raise ValueError("concentrations must be finite and positive")
    n_galaxies, n_answers, n_samples = conc.shape

    # Mixture NLL: -log mean_s p(x | α_s), all samples in one batch.
    per_sample = _nll(
        np.repeat(counts, n_samples, axis=0),
        conc.transpose(0, 2, 1).reshape(-1, n_answers),
        schema,
    ).reshape(n_galaxies, n_samples, -1)
    nll = -(logsumexp(-per_sample, axis=1) - math.log(n_samples))
    nll = np.where(_question_sums(counts, schema) > 0, nll, 0.0)
    baseline_nll = None
    if baseline is not None:
        baseline = np.asarray(baseline, dtype=np.float64)
        if baseline.shape != (n_answers,):
            raise ValueError(f"baseline must have shape ({n_answers},), got {baseline.shape}")
        baseline_nll = _nll(counts, np.broadcast_to(baseline, counts.shape), schema)

    predicted = expected_fractions(conc, schema)
    first = schema.questions[0]
    first_total = counts[:, first.start:first.stop].sum(1)

    questions: dict[str, dict[str, Any]] = {}
    for i, q in enumerate(schema.questions):
        votes = counts[:, q.start:q.stop]
        answered = votes.sum(1) > 0
        observed = votes[answered] / votes[answered].sum(1, keepdims=True)
        metrics: dict[str, Any] = {"nll": float(nll[:, i].mean()) if n_galaxies else math.nan}
        if baseline_nll is not None:
            metrics["baseline_nll"] = (
                float(baseline_nll[:, i].mean()) if n_galaxies else math.nan
            )
        metrics["mae"] = (
            float(np.abs(predicted[answered, q.start:q.stop] - observed).mean())
            if answered.any() else math.nan
        )
        metrics["n_answered"] = int(answered.sum())
        metrics.update(_confident_metrics(votes, predicted[:, q.start:q.stop], first_total))
        questions[q.name] = metrics

    result: dict[str, Any] = {
        "questions": questions,
        "mean_nll": float(sum(m["nll"] for m in questions.values())),
    }
    if baseline_nll is not None:
        result["baseline_mean_nll"] = float(sum(m["baseline_nll"] for m in questions.values()))
    result["n_galaxies"] = n_galaxies
    result["n_samples"] = n_samples
    return result
