"""Output columns of each model task: what a row of predictions holds.

A model's ``metadata["task"]`` picks its column maker in :data:`TASK_OUTPUTS`; each
takes the raw outputs of the inference loop, ``(N, n_outputs, S)`` over ``S``
samples (MC dropout), and the loaded model, and returns named ``(N,)`` columns.

* ``votes``: :func:`vote_columns`, per answer the expected vote fraction, its
  Dirichlet concentration and 90% interval, per question the probability it was asked;
* ``classification``: :func:`classification_columns`, class probabilities and label;
* ``regression``: :func:`regression_columns`, the mean prediction.

Examples
--------
>>> import numpy as np
>>> q = beta_mixture_quantile(np.array([[2.0, 8.0]]), np.array([[8.0, 2.0]]), 0.5)
>>> round(float(q[0]), 3)
0.5
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import betainc, betaincinv, betaln

from galmorph.data.tree import plain_name
from galmorph.exceptions import GalmorphError

if TYPE_CHECKING:
    from galmorph.models.checkpoint import LoadedModel

#: Probability inside the interval of each predicted vote fraction.
INTERVAL = 0.90
#: Galaxies whose quantiles are solved at once (bounds memory).
_CHUNK = 4096


def beta_mixture_quantile(
    a: np.ndarray, b: np.ndarray, q: float, *, tol: float = 1e-7, max_iter: int = 100
) -> np.ndarray:
    """Quantile ``q`` of equal-weight mixtures of Beta distributions, vectorised.

    Solves ``mean_s I(x; a_s, b_s) = q`` (``I``: the regularised incomplete beta
    function) for every mixture by Newton's method, safeguarded by bisection of
    the bracket known so far, to within ``tol``. It starts from the quantile of
    the Beta distribution with the mixture's mean and variance, and iterates
    only on mixtures not yet converged. A single component is solved exactly
    (``betaincinv``). Needs ``a, b >= 1`` (as Dirichlet concentrations of vote
    models are) so that the densities are finite.

    Args:
        a, b: ``(..., S)`` Beta parameters; the last axis holds the components.
        q: probability in (0, 1).

    Returns:
        ``(...)`` quantiles in [0, 1].
    """
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    shape, n_components = a.shape[:-1], a.shape[-1]
    if n_components == 1:
        return betaincinv(a[..., 0], b[..., 0], q)
    a, b = a.reshape(-1, n_components), b.reshape(-1, n_components)
    total = a + b
    means = a / total
    mean = means.mean(axis=1)
    variance = (a * b / (total**2 * (total + 1)) + means**2).mean(axis=1) - mean**2
    size = np.maximum(mean * (1 - mean) / np.maximum(variance, 1e-300) - 1, 1e-6)
    x = betaincinv(mean * size, (1 - mean) * size, q)
    lo, hi = np.zeros_like(x), np.ones_like(x)
    log_norm = betaln(a, b)
    active = np.arange(len(x))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(max_iter):
            xa, aa, ba = x[active], a[active], b[active]
            gap = betainc(aa, ba, xa[:, None]).mean(axis=1) - q
            lo[active] = np.where(gap <= 0, xa, lo[active])
            hi[active] = np.where(gap >= 0, xa, hi[active])
            density = np.exp(
                (aa - 1) * np.log(xa[:, None])
                + (ba - 1) * np.log1p(-xa[:, None])
                - log_norm[active]
            ).mean(axis=1)
            newton = xa - gap / density
            la, ha = lo[active], hi[active]
            step = np.where((newton >= la) & (newton <= ha), newton, 0.5 * (la + ha))
            x[active] = step
            active = active[np.abs(step - xa) > tol]
            if not len(active):
                break
    return x.reshape(shape)


def vote_columns(raw: np.ndarray, loaded: LoadedModel) -> dict[str, np.ndarray]:
    """Output columns of a vote-count model from concentrations ``(N, n_answers, S)``.

    Per question ``<question>_asked``, then per answer ``_fraction`` (mean over
    samples of ``α_a / A_q``, ``A_q`` the question's total concentration),
    ``_concentration`` (mean ``α_a``), ``_lower90`` and ``_upper90`` (5% and 95%
    quantiles of the mixture over samples of the Beta marginals
    ``Beta(α_a, A_q − α_a)``), all ``float32``. Questions the model had no
    training vote for (:attr:`LoadedModel.questions_without_votes`, e.g. GZ2's
    t10 and t11 when the catalog lacks their columns) are left out: their outputs
    were never fitted to anything.
    """
    schema = loaded.schema
    if schema is None:
        raise GalmorphError(f"{loaded.name} is a vote-count model without a schema")
    alpha = raw.astype(np.float64)
    totals = np.add.reduceat(alpha, [q.start for q in schema.questions], axis=1)
    per_answer_total = np.repeat(totals, [len(q.answers) for q in schema.questions], axis=1)
    fractions = (alpha / per_answer_total).mean(axis=-1)
    concentrations = alpha.mean(axis=-1)
    tail = (1 - INTERVAL) / 2
    lower, upper = np.empty_like(fractions), np.empty_like(fractions)
    for start in range(0, len(alpha), _CHUNK):
        rows = slice(start, start + _CHUNK)
        a, b = alpha[rows], per_answer_total[rows] - alpha[rows]
        lower[rows] = beta_mixture_quantile(a, b, tail)
        upper[rows] = beta_mixture_quantile(a, b, 1 - tail)
    asked = schema.prob_asked(fractions)
    position = {q.name: i for i, q in enumerate(schema.questions)}
    columns: dict[str, np.ndarray] = {}
    for question in loaded.learnt_questions:
        columns[f"{question.name}{ASKED}"] = asked[:, position[question.name]]
        for answer in question.answers:
            j, stem = answer.index, answer.full_name
            columns[f"{stem}{FRACTION}"] = fractions[:, j]
            columns[f"{stem}_concentration"] = concentrations[:, j]
            columns[f"{stem}_lower90"] = lower[:, j]
            columns[f"{stem}_upper90"] = upper[:, j]
    return {name: values.astype(np.float32) for name, values in columns.items()}


#: Endings of a vote model's columns: an answer's expected fraction, a question's share
#: of volunteers asked.
FRACTION, ASKED = "_fraction", "_asked"
#: How a classifier's probability columns are named: ``prob_<class>``.
PROBABILITY_PREFIX = "prob_"


def answer_questions(columns: Iterable[object]) -> dict[str, str]:
    """The question of each ``<answer>_fraction`` column of a vote model's predictions, in
    the columns' order: the longest ``<question>`` of a ``<question>_asked`` column that
    the answer's name starts with (``t03_bar_a06_bar_fraction`` → ``t03_bar``; GZ DECaLS'
    ``bar_strong_fraction`` → ``bar``). Fractions of no question are left out.

    Example:
        >>> answer_questions(["bar_asked", "bar_strong_fraction", "bar_no_fraction", "x"])
        {'bar_strong_fraction': 'bar', 'bar_no_fraction': 'bar'}
    """
    names = [str(c) for c in columns]
    questions = sorted((c.removesuffix(ASKED) for c in names if c.endswith(ASKED)),
                       key=len, reverse=True)
    found: dict[str, str] = {}
    for column in names:
        question = next((q for q in questions if column.startswith(f"{q}_")), None)
        if question is not None and column.endswith(FRACTION):
            found[column] = question
    return found
#: The column of a regressor's predicted value.
REGRESSION_COLUMN = "prediction"


def _softmax(logits: np.ndarray, axis: int) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def classification_columns(raw: np.ndarray, loaded: LoadedModel) -> dict[str, np.ndarray]:
    """Output columns of a classifier from logits ``(N, n_classes, S)``.

    ``prob_<class>`` per class (softmax, averaged over MC samples) and
    ``predicted_label``, the most probable class (same type as the training labels).
    """
    classes = loaded.metadata["classes"]
    probabilities = _softmax(raw.astype(np.float64), axis=1).mean(axis=-1)
    columns: dict[str, np.ndarray] = {
        f"{PROBABILITY_PREFIX}{c}": probabilities[:, i].astype(np.float32)
        for i, c in enumerate(classes)
    }
    columns["predicted_label"] = np.asarray(classes)[probabilities.argmax(axis=1)]
    return columns


def regression_columns(raw: np.ndarray, loaded: LoadedModel) -> dict[str, np.ndarray]:
    """Output column of a regressor from values ``(N, 1, S)``: ``prediction``, the MC mean."""
    return {REGRESSION_COLUMN: raw[:, 0, :].mean(axis=-1).astype(np.float32)}


#: Per model task: raw outputs ``(N, n_outputs, S)`` and the model → output columns.
TASK_OUTPUTS: dict[str, Callable[[np.ndarray, LoadedModel], dict[str, np.ndarray]]] = {
    "votes": vote_columns,
    "classification": classification_columns,
    "regression": regression_columns,
}


def column_descriptions(loaded: LoadedModel) -> dict[str, str]:
    """What each output column of :data:`TASK_OUTPUTS` holds, in words, by column name
    (``id_str`` included), for the files that keep descriptions (FITS, ECSV)."""
    notes = {"id_str": "galaxy id, as in the catalog"}
    if loaded.task == "classification":
        for name in loaded.metadata["classes"]:
            notes[f"{PROBABILITY_PREFIX}{name}"] = f"predicted probability of class {name}"
        notes["predicted_label"] = "the most probable class"
    elif loaded.task == "regression":
        learnt = loaded.metadata.get("label_column", "the label")
        notes[REGRESSION_COLUMN] = f"predicted value of {learnt}"
    elif loaded.task == "votes":
        for question in loaded.learnt_questions:
            asked = plain_name(question.name)
            notes[f"{question.name}_asked"] = (
                f"probability that '{asked}' is asked (product of the predicted fractions "
                "leading to it)")
            for answer in question.answers:
                said, stem = plain_name(answer.name), answer.full_name
                notes[f"{stem}_fraction"] = (
                    f"predicted fraction of volunteers answering '{said}' to '{asked}'")
                notes[f"{stem}_concentration"] = (
                    f"Dirichlet concentration of '{said}' ('{asked}'): larger totals over "
                    "a question's answers mean surer fractions")
                for end, bound in (("lower90", "lower (5%)"), ("upper90", "upper (95%)")):
                    notes[f"{stem}_{end}"] = (
                        f"{bound} end of the 90% interval of the '{said}' fraction")
    return notes
