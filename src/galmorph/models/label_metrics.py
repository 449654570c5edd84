"""Scores of a classifier or a regressor against a catalog's labels.

:func:`label_values` reads a label column as people write it and
:func:`normalise_classes` makes its classes whole numbers or text;
:func:`classification_metrics` scores class probabilities, :func:`regression_metrics`
predicted values (:func:`paired_p_value` compares two sets of errors), and
:func:`galmorph.models.evaluation_tables.print_label_evaluation` shows either;
:func:`versus_constant_answer` says in words whether a balanced accuracy beats chance
beyond noise.

Example:
    >>> import numpy as np
    >>> scores = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.0, 2.5]))
    >>> round(scores["mae"], 3), scores["n_test"]
    (0.333, 3)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from galmorph.exceptions import CatalogError


def label_values(values: pd.Series) -> pd.Series:
    """A label column as people write it: text loses surrounding spaces, and blank text
    becomes missing (NaN); numbers are kept as they are."""
    if pd.api.types.is_numeric_dtype(values):
        return values
    text = values.where(values.isna(), values.astype(str).str.strip())
    return text.mask(text == "")


def normalise_classes(values: pd.Series) -> pd.Series:
    """Class labels as Python ints (whole numbers, bools) or as text.

    Raises:
        CatalogError: for numbers that are not whole (a regression target).
    """
    if pd.api.types.is_bool_dtype(values):
        return values.astype(int).astype(object)
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.astype(float)
        if not (numbers == np.round(numbers)).all():
            raise CatalogError(
                f"label column {values.name!r} holds numbers that are not whole, not classes: "
                "use task='regression' (--task regression) to predict them"
            )
        return numbers.astype(int).astype(object)
    return values.astype(str)


def wilson_interval(k: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of the proportion ``k / n`` (NaNs for ``n == 0``).

    Example:
        >>> [round(x, 3) for x in wilson_interval(40, 50)]
        [0.67, 0.888]
    """
    if n == 0:
        return (float("nan"), float("nan"))
    from scipy.stats import binomtest

    interval = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(interval.low), float(interval.high))


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, classes: Sequence[Any]
) -> dict[str, Any]:
    """``accuracy`` (with its 95% Wilson interval ``accuracy_ci95``),
    ``balanced_accuracy`` (the mean over the classes present of the fraction of each
    called right), ``n_correct``, ``n_test`` and ``roc_auc`` of class probabilities.

    Args:
        labels: ``(n,)`` true classes; probabilities: ``(n, n_classes)`` in ``classes`` order.

    ``roc_auc`` is that of the second class for two classes, the one-vs-rest
    macro average for more, and None when a class is missing from ``labels``.
    """
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels)
    predicted = np.asarray(classes)[np.asarray(probabilities).argmax(axis=1)]
    correct = int((predicted == labels).sum())
    auc = None
    if set(np.unique(labels)) == set(classes):
        if len(classes) == 2:
            auc = float(roc_auc_score(labels == classes[1], probabilities[:, 1]))
        else:
            auc = float(roc_auc_score(labels, probabilities, multi_class="ovr", labels=classes))
    present = [c for c in classes if (labels == c).any()]
    balanced = float(np.mean([(predicted[labels == c] == c).mean() for c in present]))
    return {"accuracy": correct / len(labels),
            "accuracy_ci95": list(wilson_interval(correct, len(labels))),
            "balanced_accuracy": balanced, "n_correct": correct, "n_test": len(labels),
            "roc_auc": auc}


def confusion_counts(
    labels: np.ndarray, predicted: np.ndarray, classes: Sequence[Any]
) -> dict[str, dict[str, int]]:
    """``{true class: {predicted class: galaxies}}``, classes as text, in ``classes`` order."""
    return {str(t): {str(p): int(((labels == t) & (predicted == p)).sum()) for p in classes}
            for t in classes}


def versus_constant_answer(balanced_accuracy: float, class_counts: Sequence[int]) -> str:
    """Whether a balanced accuracy beats every constant answer beyond noise, in words.

    The balanced accuracy is the mean over classes of the fraction of each class called
    right, so a model trained on balanced classes is not judged by the class mix of the
    galaxies it is tested on; one answer for every galaxy scores ``1 / classes``. The
    95% interval is the normal approximation, each class's fraction from its own
    galaxies (``class_counts``; classes without galaxies are left out).

    Example:
        >>> print(versus_constant_answer(0.9, [25, 25]).replace(": ", ":\\n"))
        balanced accuracy 90.0% (95% interval 82% to 98%):
        better than any one answer for every galaxy (50%)
    """
    counts = [n for n in class_counts if n > 0]
    chance, score = 1 / len(counts), balanced_accuracy
    half = 1.96 * math.sqrt(score * (1 - score) * sum(1 / n for n in counts)) / len(counts)
    low, high = max(score - half, 0.0), min(score + half, 1.0)
    text = f"balanced accuracy {score:.1%} (95% interval {low:.0%} to {high:.0%})"
    constant = f"any one answer for every galaxy ({chance:.0%})"
    if low > chance:
        return f"{text}: better than {constant}"
    if high < chance:
        return (f"{text}: worse than {constant}; the model has not learnt these labels (check "
                "them, or train longer)")
    return (f"{text}: not told apart from {constant} on {sum(counts)} galaxies; more "
            "labelled galaxies would tell")


def paired_p_value(errors: np.ndarray, other_errors: np.ndarray) -> float | None:
    """Two-sided p-value that two ``(n,)`` sets of errors of the same galaxies differ only by
    chance (Wilcoxon signed-rank test); None when they never differ.

    Example:
        >>> paired_p_value(np.zeros(20), np.ones(20)) < 0.001
        True
    """
    from scipy.stats import wilcoxon

    differences = np.asarray(errors, float) - np.asarray(other_errors, float)
    if not differences.any():
        return None
    return float(wilcoxon(differences).pvalue)


def regression_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """``n_test``, mean absolute error ``mae``, ``rmse`` and Pearson ``r`` (None for
    fewer than 2 values or constant ones) of ``(n,)`` predictions."""
    truth, predicted = np.asarray(truth, float), np.asarray(predicted, float)
    errors = predicted - truth
    r = None
    if len(truth) > 1 and truth.std() > 0 and predicted.std() > 0:
        r = float(np.corrcoef(truth, predicted)[0, 1])
    return {"n_test": len(truth), "mae": float(np.abs(errors).mean()),
            "rmse": float(np.sqrt((errors**2).mean())), "pearson_r": r}


def versus_median(result: dict[str, Any]) -> str:
    """``; the model is better / worse / not told apart`` from always answering the
    training median, by a regressor's ``median_p_value`` (at 5%; with ``mae``,
    ``median_mae`` and ``n_test``), or nothing for results without it."""
    if "median_p_value" not in result:
        return ""
    p = result["median_p_value"]
    if p is None or p >= 0.05:
        return f"; the model is not told apart from it on {result['n_test']} galaxies"
    better = result["mae"] < result["median_mae"]
    return (f"; the model is {'better' if better else 'worse'} (paired test, p = {p:.2g})"
            + ("" if better else ": it has not learnt these labels"))
