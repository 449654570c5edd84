"""A galaxy's page in ``galmorph serve``: its predicted answers, neighbours and label history.

:func:`answer_groups` turns one row of a ``galmorph predict`` table into its
questions, each with how likely it was asked (``<question>_asked``) and every
answer's predicted vote fraction with its 90% interval (``<question>_<answer>_fraction``,
``_lower90``, ``_upper90``), and :class:`AnswerRows` finds that row by id;
:func:`galaxy_detail` puts together everything the
page ``/galaxy/{id}`` shows, in plain Python types.

Example:
    >>> groups = answer_groups({"t03_bar_asked": 0.6, "t03_bar_a06_bar_fraction": 0.3,
    ...                         "t03_bar_a06_bar_lower90": 0.1, "t03_bar_a06_bar_upper90": 0.5})
    >>> groups[0]["label"], groups[0]["answers"][0]["label"], groups[0]["answers"][0]["upper90"]
    ('bar', 'bar', 0.5)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from galmorph.data.tree import plain_name
from galmorph.models.tasks import PROBABILITY_PREFIX, REGRESSION_COLUMN
from galmorph.web.sky_links import sky_links
from galmorph.web.summary import (
    CLASS_QUESTION,
    answer_label,
    is_class_column,
)

if TYPE_CHECKING:
    from galmorph.web.gallery import Gallery

#: Neighbours shown on a galaxy's page.
DETAIL_NEIGHBOURS = 12
#: What each answer gives, by column suffix.
ANSWER_VALUES = ("fraction", "lower90", "upper90")


def _value(value: Any) -> float | None:
    """A JSON-safe float rounded to 4 decimals; None for missing or NaN."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else round(value, 4)


def answer_groups(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A prediction row's answers grouped by question, in the table's column order.

    Args:
        values: column name → value of one galaxy's row of a ``galmorph predict`` table.

    Returns:
        ``[{"question", "label", "asked", "answers": [{"answer", "label", "fraction",
        "lower90", "upper90"}]}]``: questions with at least one ``_fraction`` column;
        an answer column belongs to the question with the longest matching name. Missing
        values are None. A classifier's ``prob_<class>`` columns are one more question,
        ``class``, without ``asked`` or intervals; a regressor's ``prediction`` is one with
        ``"value": True`` (its one answer's ``fraction`` is the value).
    """
    questions = [str(c).removesuffix("_asked") for c in values if str(c).endswith("_asked")]
    answers: dict[str, list[str]] = {q: [] for q in questions}
    for column in (str(c) for c in values if str(c).endswith("_fraction")):
        owners = [q for q in questions if column.startswith(q + "_")]
        if owners:
            answers[max(owners, key=len)].append(column.removesuffix("_fraction"))
    groups = []
    for question in questions:
        if not answers[question]:
            continue
        groups.append({
            "question": question, "label": plain_name(question),
            "asked": _value(values[question + "_asked"]),
            "answers": [{"answer": stem[len(question) + 1:],
                         "label": answer_label(question, stem),
                         **{key: _value(values.get(f"{stem}_{key}")) for key in ANSWER_VALUES}}
                        for stem in answers[question]],
        })
    extra = [group for group in (_class_group(values), _regression_group(values)) if group]
    return groups + extra


def _regression_group(values: Mapping[str, Any]) -> dict[str, Any] | None:
    """A regressor's ``prediction`` as a question whose one answer is a value, not a
    fraction (``"value": True``: no bar); None when there is none."""
    value = values.get(REGRESSION_COLUMN)
    if not isinstance(value, numbers.Real):
        return None
    return {"question": REGRESSION_COLUMN, "label": REGRESSION_COLUMN, "asked": None,
            "value": True,
            "answers": [{"answer": REGRESSION_COLUMN, "label": REGRESSION_COLUMN,
                         "fraction": _value(value), "lower90": None, "upper90": None}]}


def _class_group(values: Mapping[str, Any]) -> dict[str, Any] | None:
    """A classifier's ``prob_<class>`` values as a question; None when there are none."""
    columns = [str(c) for c in values
               if is_class_column(c) and isinstance(values[c], numbers.Real)]
    if not columns:
        return None
    return {"question": CLASS_QUESTION, "label": CLASS_QUESTION, "asked": None,
            "answers": [{"answer": column, "label": column.removeprefix(PROBABILITY_PREFIX),
                         "fraction": _value(values[column]), "lower90": None, "upper90": None}
                        for column in columns]}


class AnswerRows:
    """One galaxy's predicted answers at a time, from a ``galmorph predict`` table.

    The table is kept as it is (not copied); a galaxy repeated in it is read from its
    first row.
    """

    def __init__(self, table: pd.DataFrame) -> None:
        ids = table["id_str"].astype(str).to_numpy()
        first = ~pd.Index(ids).duplicated()
        self.table = table
        self.positions = np.flatnonzero(first)
        self.rows = pd.Index(ids[first])

    def __call__(self, galaxy_id: str) -> list[dict[str, Any]]:
        """:func:`answer_groups` of the galaxy's row; empty when the table lacks it."""
        found = self.rows.get_indexer([galaxy_id])[0]
        if found < 0:
            return []
        return answer_groups(self.table.iloc[int(self.positions[found])].to_dict())


def label_history(gallery: Gallery, galaxy_id: str) -> list[dict[str, Any]]:
    """Every label given to ``galaxy_id`` in the gallery's session, oldest first
    (``score``, ``labelled_at`` UTC, ``source``, ``previous``); empty without a session."""
    if gallery.session is None:
        return []
    return [{"score": record.score, "labelled_at": record.labelled_at, "source": record.source,
             "previous": record.previous}
            for record in gallery.session.store.history(galaxy_id)]


def galaxy_detail(gallery: Gallery, galaxy_id: str, k: int = DETAIL_NEIGHBOURS
                  ) -> dict[str, Any]:
    """What the page of ``galaxy_id`` shows.

    Returns:
        ``{"galaxy": the gallery's description, "questions": answer_groups(...) (empty
        without predictions), "neighbours", "metric", "has_session", "history", "links"}``
        (``links``: :func:`~galmorph.web.sky_links.sky_links` at its position, if known).

    Raises:
        UnknownGalaxy: for an id that is not loaded.
    """
    similar = gallery.similar(galaxy_id, k)
    return {
        "galaxy": similar["query"],
        "questions": gallery.answers(galaxy_id) if gallery.answers is not None else [],
        "neighbours": similar["neighbours"],
        "metric": similar["metric"],
        "has_session": gallery.session is not None,
        "history": label_history(gallery, galaxy_id),
        "links": sky_links(similar["query"].get("ra"), similar["query"].get("dec")),
    }
