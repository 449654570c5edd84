"""The galaxies with a model's highest predicted value for each answer, drawn in a grid: a
row per answer.

:func:`grid_columns` chooses the prediction columns to rank by (a vote model's
``<answer>_fraction`` columns, a classifier's ``prob_<class>`` columns) and
:func:`answer_grid` draws, for each, the galaxies with the highest values, for
``galmorph predict --grid`` and the demo's first step. A look at them tells at once
whether the model reads the catalog's images as it should.

Example:
    >>> table = pd.DataFrame({"id_str": ["a", "b"], "prob_ring": [0.9, 0.2]})
    >>> grid_columns(table, None)
    [('prob_ring', 'ring')]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from galmorph.data.tree import Schema
from galmorph.exceptions import GalmorphError
from galmorph.models.tasks import ASKED, FRACTION, PROBABILITY_PREFIX, answer_questions
from galmorph.report.plots import galaxy_grid

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Galaxies drawn per answer.
PER_ANSWER = 6
#: A caption gives the fraction of volunteers asked when it is below this.
ASKED_SHOWN_BELOW = 0.995


def answer_columns(schema: Schema) -> pd.DataFrame:
    """An empty table with a vote model's fraction columns, to check answers' names
    against before predicting (:func:`grid_columns`)."""
    return pd.DataFrame(columns=[f"{a.full_name}{FRACTION}" for a in schema.answers])


def grid_columns(predictions: pd.DataFrame, schema: Schema | None,
                 answers: Sequence[str] = ()) -> list[tuple[str, str]]:
    """``(column, label)`` pairs to rank the galaxies by, in order.

    Without ``answers``: a vote model's answers to its first question (``schema``'s
    first question with predicted fractions), or a classifier's classes. Each of
    ``answers`` is a column's stem (``t03_bar_a06_bar``, ``prob_ring`` or ``ring``) or
    an answer's label where only one answer has it (``bar``).

    Raises:
        GalmorphError: for a table with neither kind of column, or an answer it does
            not have (naming those it has).
    """
    fractions = [c for c in predictions.columns if str(c).endswith(FRACTION)]
    classes = [c for c in predictions.columns if str(c).startswith(PROBABILITY_PREFIX)]
    if not fractions and not classes:
        raise GalmorphError("the predictions have no vote fractions (<answer>_fraction) or "
                            f"class probabilities ({PROBABILITY_PREFIX}<class>) to draw")
    labels = {c: c.removesuffix(FRACTION) for c in fractions}
    labels.update({c: c.removeprefix(PROBABILITY_PREFIX) for c in classes})
    if schema is not None:
        labels.update({f"{a.full_name}{FRACTION}": a.label for a in schema.answers
                       if f"{a.full_name}{FRACTION}" in predictions})
    if answers:
        return [_named_column(name, labels) for name in answers]
    if classes:
        return [(c, labels[c]) for c in classes]
    first = next((q for q in (schema.questions if schema is not None else ())
                  if f"{q.answers[0].full_name}{FRACTION}" in predictions), None)
    if first is None:  # no tree known: the answers of the table's first question
        stem = fractions[0].removesuffix(FRACTION).rsplit("_a", 1)[0]
        return [(c, labels[c]) for c in fractions if c.startswith(f"{stem}_a")]
    return [(f"{a.full_name}{FRACTION}", a.label) for a in first.answers]


def _named_column(name: str, labels: dict[str, str]) -> tuple[str, str]:
    """The column ``name`` stands for (see :func:`grid_columns`)."""
    for column in (f"{name}{FRACTION}", f"{PROBABILITY_PREFIX}{name}", name):
        if column in labels:
            return column, labels[column]
    same = [column for column, label in labels.items() if label == name]
    if len(same) == 1:
        return same[0], name
    known = ", ".join(column.removesuffix(FRACTION) for column in labels)
    which = f"{len(same)} answers are called {name!r}" if same else f"no answer {name!r}"
    raise GalmorphError(f"the predictions have {which}; give one of: {known}")


def answer_grid(
    predictions: pd.DataFrame,
    files: Sequence[str],
    columns: Sequence[tuple[str, str]],
    *,
    per_answer: int = PER_ANSWER,
    notes: Callable[[int, str], str] | None = None,
    title: str = "Highest predicted values per answer",
    path: str | Path | None = None,
) -> Figure:
    """For each ``(column, label)``, the ``per_answer`` galaxies with the highest values
    (ties: first in the table), captioned with the galaxy's id and ``label: value``.

    An answer to a question that not every volunteer reaches (the table has its
    ``<question>_asked``) ranks by the share of all volunteers expected to give it, the
    fraction times the share asked, so that "bar" shows barred discs rather than an
    edge-on disc few would be asked about; its caption gives the fraction of those
    asked and the share asked, e.g. ``bar: 0.97 (of 63% asked)``.

    Args:
        predictions: the table (one row per galaxy).
        files: each row's image file, in the table's order.
        columns: from :func:`grid_columns`.
        notes: more caption for (row number, column), e.g. the volunteers' fraction.
        path: also save the figure there.
    """
    images, captions = [], []
    ids = (predictions["id_str"].astype(str).to_numpy() if "id_str" in predictions
           else None)
    questions = answer_questions(predictions.columns)
    for column, label in columns:
        values = predictions[column].to_numpy(dtype=float)
        asked = (predictions[f"{questions[column]}{ASKED}"].to_numpy(dtype=float)
                 if column in questions else None)
        shares = values if asked is None else values * asked
        for row in np.argsort(-np.nan_to_num(shares, nan=-np.inf), kind="stable")[:per_answer]:
            images.append(files[row])
            caption = ("" if ids is None else f"{ids[row]}\n") + f"{label}: {values[row]:.2f}"
            if asked is not None and asked[row] < ASKED_SHOWN_BELOW:
                caption += f" (of {asked[row]:.0%} asked)"
            captions.append(caption + (notes(int(row), column) if notes else ""))
    return galaxy_grid(images, captions, ncols=min(per_answer, len(predictions)),
                       panel_size=1.7, title=title, path=path)
