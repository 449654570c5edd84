"""Evaluation results as rich tables and sentences, for a terminal or a notebook.

:func:`print_evaluation` prints what :func:`galmorph.models.metrics.evaluate_votes` or
:func:`galmorph.inference.evaluate.evaluate_catalog` return (a vote-count model's
per-question table, or a fine-tuned model's scores, :func:`print_label_evaluation`).

Example:
    >>> import io
    >>> from rich.console import Console
    >>> console = Console(file=io.StringIO(), width=120)
    >>> print_evaluation({"n_galaxies": 2, "mean_nll": 1.5, "questions": {"bar": {
    ...     "nll": 1.5, "mae": 0.1, "n_confident": 0, "accuracy_confident": None,
    ...     "balanced_accuracy_confident": None, "majority_accuracy": None}}}, console)
    >>> "Summed NLL per galaxy: 1.500 nats" in console.file.getvalue()
    True
"""

from __future__ import annotations

import math
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from galmorph.data.tree import plain_name
from galmorph.models.label_metrics import versus_constant_answer, versus_median
from galmorph.models.metrics import CONFIDENT_AGREEMENT, CONFIDENT_ANSWERED


def _number(value: Any, fmt: str) -> str:
    """``value`` formatted, or an en dash for a missing value (None/NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, fmt)


def _percent(fraction: Any) -> str:
    """A fraction as a percentage with one decimal, without the % sign."""
    return _number(None if fraction is None else 100 * fraction, ".1f")


def print_evaluation(result: dict[str, Any], console: Console | None = None) -> None:
    """Print :func:`~galmorph.models.metrics.evaluate_votes` output (or its JSON) as a
    table, one row per question; a fine-tuned model's scores from
    :func:`galmorph.inference.evaluate.evaluate_catalog` as :func:`print_label_evaluation`
    does.

    Args:
        result: the dict from ``evaluate_votes`` or ``evaluate_catalog``, or read back
            from their JSON.
        console: where to print; a new console on stdout if None.

    Raises:
        TypeError: when ``result`` is neither.

    Example:
        >>> print_evaluation(evaluate_votes(counts, alpha, schema))  # doctest: +SKIP
    """
    console = console or Console()
    if isinstance(result, dict) and "label_column" in result:
        print_label_evaluation(result, console)
        return
    if not isinstance(result, dict) or not {"questions", "n_galaxies"} <= result.keys():
        raise TypeError("print_evaluation prints what evaluate_catalog or evaluate_votes "
                        "return (or their JSON read back), a dict with 'questions' and "
                        f"'n_galaxies'; got a {type(result).__name__}"
                        + (f" with keys {', '.join(map(repr, result))}"
                           if isinstance(result, dict) else ""))
    has_baseline = "baseline_mean_nll" in result
    n_galaxies = result["n_galaxies"]
    title = f"Vote-count evaluation: {n_galaxies} galax{'y' if n_galaxies == 1 else 'ies'}"
    if result.get("n_samples", 1) > 1:
        title += f", {result['n_samples']} MC-dropout samples"
    caption = "NLL: Dirichlet-multinomial negative log-likelihood (nats, lower is better)"
    if has_baseline:
        caption += "; Base: the vote-count baseline without images"
    caption += (
        f". MAE: vote-fraction error on galaxies with votes. Confident: galaxies where "
        f"≥{CONFIDENT_ANSWERED:.0%} of the volunteers answered and ≥{CONFIDENT_AGREEMENT:.0%} "
        "of them agree; accuracy, balanced accuracy and always giving their most common "
        "answer (Maj.)."
    )
    table = Table(
        title=title, caption=caption, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True
    )
    headers = ["NLL", "Base\nNLL"] if has_baseline else ["NLL"]
    headers += ["MAE", "Conf.", "Accuracy %\n(95% CI)", "Bal.\nacc. %", "Maj.\n%"]
    table.add_column("Question", overflow="fold", min_width=10)
    for name in headers:
        table.add_column(name, justify="right", no_wrap=True)

    for name, m in result["questions"].items():
        accuracy = _percent(m["accuracy_confident"])
        if accuracy != "–":
            low, high = m["accuracy_ci95"]
            accuracy += f" ({_percent(low)}–{_percent(high)})"
        row = [plain_name(name), _number(m["nll"], ".3f")]
        if has_baseline:
            row.append(_number(m["baseline_nll"], ".3f"))
        row += [
            _number(m["mae"], ".3f"),
            str(m["n_confident"]),
            accuracy,
            _percent(m["balanced_accuracy_confident"]),
            _percent(m["majority_accuracy"]),
        ]
        table.add_row(*row)
    console.print(table)
    summary = Text.assemble("Summed NLL per galaxy: ",
                            (_number(result["mean_nll"], ".3f"), "bold"), " nats")
    if has_baseline:
        summary.append(f" (vote-count baseline without images: "
                       f"{_number(result['baseline_mean_nll'], '.3f')}; lower is better)")
    console.print(summary)


def print_label_evaluation(result: dict[str, Any], console: Console) -> None:
    """Print :func:`galmorph.inference.evaluate.evaluate_catalog`'s scores of a classifier
    (accuracy, ROC AUC, the majority baseline, a confusion table) or a regressor."""
    column, n = result["label_column"], result["n_test"]
    if result["task"] == "regression":
        r = result["pearson_r"]
        console.print(f"{n} galaxies, label {column!r}: mean absolute error {result['mae']:.4g}, "
                      f"RMS error {result['rmse']:.4g}, correlation "
                      f"{'n/a' if r is None else f'{r:.3f}'}", markup=False)
        if "median_mae" in result:
            console.print(f"always answering the training median, {result['train_median']:.4g}, "
                          f"would score a mean absolute error of {result['median_mae']:.4g}"
                          + versus_median(result),
                          markup=False)
        return
    auc = result["roc_auc"]
    console.print(
        f"{n} galaxies, label {column!r}: accuracy {result['accuracy']:.1%} "
        f"({result['n_correct']} right), ROC AUC {'n/a' if auc is None else f'{auc:.3f}'}; "
        f"always answering {result['majority_class']!r} would score "
        f"{result['majority_accuracy']:.1%}", markup=False,
    )
    counts = [sum(row.values()) for row in result["confusion"].values()]
    console.print(versus_constant_answer(result["balanced_accuracy"], counts), markup=False)
    table = Table(title="galaxies by true class (rows) and predicted class (columns)")
    classes = list(result["confusion"])
    table.add_column("true \\ predicted")
    for name in classes:
        table.add_column(name, justify="right")
    for name in classes:
        table.add_row(name, *(str(result["confusion"][name][p]) for p in classes))
    console.print(table)
