"""Morphology summaries of the galaxies ``galmorph serve`` shows.

:class:`PredictionSummary` reads a ``galmorph predict`` table once and gives, per
galaxy, the top answer of each question it was probably asked, with a short
label for the page (``t02_edgeon`` + ``a04_yes`` → ``edge-on: yes``). A fine-tuned
classifier's ``prob_<class>`` columns are read as one question, :data:`CLASS_QUESTION`,
whose answers are the classes (``prob_not ring`` → ``not ring``).

Example:
    >>> import pandas as pd
    >>> summary = PredictionSummary(pd.DataFrame({
    ...     "id_str": ["a"], "t01_smooth_or_features_asked": [1.0],
    ...     "t01_smooth_or_features_a01_smooth_fraction": [0.8],
    ...     "t01_smooth_or_features_a02_features_or_disk_fraction": [0.2]}), "p.csv")
    >>> summary("a")[0]["text"]
    'smooth'
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from galmorph.data.tree import plain_name
from galmorph.exceptions import GalmorphError
from galmorph.models.tasks import (
    ASKED,
    PROBABILITY_PREFIX,
    REGRESSION_COLUMN,
    answer_questions,
)

#: Questions shown in a galaxy's one-line morphology summary.
SUMMARY_QUESTIONS = 3
#: The question a classifier answers (its ``prob_<class>`` columns), always asked.
CLASS_QUESTION = "class"


def is_class_column(name: object) -> bool:
    """Whether a column name is a classifier's ``prob_<class>`` (with a class)."""
    return str(name).startswith(PROBABILITY_PREFIX) and len(str(name)) > len(PROBABILITY_PREFIX)


def class_columns(table: pd.DataFrame) -> list[str]:
    """A classifier's ``prob_<class>`` number columns of ``table``, in its order."""
    return [str(c) for c in table.columns
            if is_class_column(c) and pd.api.types.is_numeric_dtype(table[c].dtype)]


def is_regression(table: pd.DataFrame) -> bool:
    """Whether ``table`` holds a regressor's predictions (a number column ``prediction``)."""
    return (REGRESSION_COLUMN in table.columns
            and pd.api.types.is_numeric_dtype(table[REGRESSION_COLUMN].dtype))


def _display(question: str, answer: str) -> str:
    """What a card shows: the answer, with its question when the answer is a bare yes/no or
    a class named by a number (``class: 1``, not a bare ``1`` beside the 0–5 scores)."""
    bare = answer in ("yes", "no") or (question == CLASS_QUESTION
                                       and not any(c.isalpha() for c in answer))
    return f"{plain_name(question)}: {answer}" if bare else answer


def answer_label(question: str, answer: str) -> str:
    """``t01_smooth_or_features_a01_smooth_fraction`` → ``smooth`` (:func:`plain_name`)."""
    return plain_name(answer[len(question) + 1:].removesuffix("_fraction"))


class PredictionSummary:
    """Per galaxy, the top answer of each question it was probably asked.

    Built from a ``galmorph predict`` table: questions are its ``<question>_asked``
    columns and their answers the ``<question>_<answer>_fraction`` columns, or a
    classifier's ``prob_<class>`` columns (:data:`CLASS_QUESTION`), or a regressor's
    ``prediction`` (its value in place of a fraction).
    """

    def __init__(self, table: pd.DataFrame, source: str) -> None:
        if "id_str" not in table.columns:
            raise GalmorphError(f"predictions {source} have no id_str column")
        ids = table["id_str"].astype(str).to_numpy()
        self.rows = pd.Index(ids)
        self.rows.get_indexer(self.rows[:1])  # build the id lookup now, not on a request
        self.questions: list[tuple[str, list[str], np.ndarray, np.ndarray]] = []
        questions = answer_questions(table.columns)
        for asked in (c for c in table.columns if str(c).endswith(ASKED)):
            question = asked.removesuffix(ASKED)
            answers = [c for c, q in questions.items() if q == question]
            if not answers:
                continue
            self._add(question, [answer_label(question, a) for a in answers],
                      table[answers].to_numpy(dtype=np.float64),
                      table[asked].to_numpy(dtype=np.float64))
        classes = class_columns(table)
        if classes:
            self._add(CLASS_QUESTION, [c.removeprefix(PROBABILITY_PREFIX) for c in classes],
                      table[classes].to_numpy(dtype=np.float64), np.ones(len(table)))
        if is_regression(table):
            self._add(REGRESSION_COLUMN, [REGRESSION_COLUMN],
                      table[[REGRESSION_COLUMN]].to_numpy(dtype=np.float64), np.ones(len(table)))
        if not self.questions:
            raise GalmorphError(f"predictions {source} have no <question>_asked and "
                                "<answer>_fraction columns, nor a classifier's prob_<class> "
                                "or a regressor's prediction column: make them with "
                                "`galmorph predict`")

    def _add(self, question: str, labels: list[str], values: np.ndarray,
             asked: np.ndarray) -> None:
        """Keep a question: its answers' labels, answer fractions and how likely asked."""
        top = np.nanargmax(np.nan_to_num(values, nan=-1.0), axis=1)
        self.questions.append((question, labels,
                               np.column_stack([top, values[np.arange(len(values)), top]]),
                               asked))

    def __call__(self, galaxy_id: str) -> list[dict[str, Any]]:
        """Up to :data:`SUMMARY_QUESTIONS` ``{"question", "answer", "text", "fraction"}``,
        most asked first; ``text`` is what the page shows. A question whose answers are all
        missing (NaN) for the galaxy is left out."""
        row = self.rows.get_indexer([galaxy_id])[0]
        if row < 0:
            return []
        asked = sorted(((q[3][row], i) for i, q in enumerate(self.questions)
                        if q[3][row] >= 0.5 and not np.isnan(q[2][row, 1])),
                       key=lambda pair: -pair[0])
        result = []
        for _, i in asked[:SUMMARY_QUESTIONS]:
            question, labels, top, _ = self.questions[i]
            answer = labels[int(top[row, 0])]
            result.append({"question": question, "answer": answer,
                           "text": _display(question, answer),
                           "fraction": round(float(top[row, 1]), 3)})
        return result
