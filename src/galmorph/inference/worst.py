"""The galaxies a model gets most wrong, to look at (``galmorph evaluate --grid``).

:func:`worst_galaxies` lists a fine-tuned classifier's most confident mistakes or a
regressor's largest errors; :func:`worst_vote_galaxies` a vote-count model's
confident misses: galaxies whose volunteers agreed on an answer the model did not give.
Their images show where the model fails, and where labels or votes are wrong.

Example:
    >>> import pandas as pd
    >>> from galmorph.data.schemas import get_schema
    >>> schema = get_schema("gz2-no-odd")
    >>> frame = pd.DataFrame({"file_loc": ["a.jpg", "b.jpg"]})
    >>> counts = np.zeros((2, schema.n_answers))
    >>> counts[:, 0] = 20                        # 20 volunteers: smooth
    >>> alpha = np.ones((2, schema.n_answers))
    >>> alpha[0, 0], alpha[1, 1] = 20, 20        # the model: a.jpg smooth, b.jpg featured
    >>> [(g["file_loc"], g["label"], g["predicted"])
    ...  for g in worst_vote_galaxies(frame, counts, alpha, schema)]
    [('b.jpg', 'smooth', 'features or disk')]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from galmorph.data.tree import Schema
from galmorph.models.checkpoint import LoadedModel
from galmorph.models.metrics import confident_mask, expected_fractions

#: Galaxies :func:`worst_galaxies` and :func:`worst_vote_galaxies` list.
WORST_KEPT = 24


def worst_galaxies(frame: pd.DataFrame, truth: pd.Series, columns: dict[str, np.ndarray],
                   loaded: LoadedModel, n: int = WORST_KEPT) -> list[dict[str, Any]]:
    """The ``n`` galaxies a classifier or regressor gets most wrong, worst first.

    A classifier's are its mistakes, most confident first (``probability`` of the class
    it gave); a regressor's the largest absolute errors (``error``). Each is a record
    with ``id_str`` (when the catalog has one), ``file_loc``, ``label`` and
    ``predicted``: for a look at the images (``galmorph evaluate --grid``), where wrong
    labels show up too.

    Args:
        frame: the evaluated galaxies, in the order of ``truth`` and ``raw`` (n_galaxies rows).
        truth: their labels; columns: the model's output columns
            (:data:`galmorph.models.tasks.TASK_OUTPUTS`), ``(n_galaxies,)`` each.
    """
    if loaded.task == "regression":
        predicted = np.asarray(columns["prediction"], dtype=np.float64)
        badness = np.abs(predicted - truth.to_numpy(dtype=np.float64))
        order = np.argsort(-badness, kind="stable")[:n]
        extra = [{"error": float(badness[i])} for i in order]
    else:
        classes = loaded.metadata["classes"]
        predicted = np.asarray(columns["predicted_label"], dtype=object)
        wrong = np.flatnonzero(predicted != truth.to_numpy(dtype=object))
        confidence = np.max([columns[f"prob_{c}"] for c in classes], axis=0)
        order = wrong[np.argsort(-confidence[wrong], kind="stable")][:n]
        extra = [{"probability": float(confidence[i])} for i in order]
    return [{**_where(frame, i), "label": _plain(truth.iloc[i]),
             "predicted": _plain(predicted[i]), **more}
            for i, more in zip(order.tolist(), extra, strict=True)]


def worst_vote_galaxies(frame: pd.DataFrame, counts: np.ndarray, concentrations: np.ndarray,
                        schema: Schema, n: int = WORST_KEPT) -> list[dict[str, Any]]:
    """The ``n`` confident misses of a vote-count model that miss by most, worst first.

    A confident miss is a question the volunteers answered confidently (as for the
    confident accuracy, :func:`galmorph.models.metrics.confident_mask`) whose top answer
    is not the one the model expects most votes for. It misses by the volunteers'
    fraction for their answer less the model's; a galaxy is listed once, for its
    largest miss.

    Args:
        frame: the evaluated galaxies (``n_galaxies`` rows, with ``file_loc``).
        counts: ``(n_galaxies, n_answers)`` their vote counts, in ``schema``'s order.
        concentrations: ``(n_galaxies, n_answers)`` or ``(n_galaxies, n_answers, S)``.
        schema: the decision tree of both.

    Returns:
        Records with ``id_str`` (when the catalog has one), ``file_loc``, ``question``,
        ``label`` (the volunteers' answer, in words) and its ``label_fraction`` of their
        votes, ``predicted`` (the model's answer) and its ``probability`` (the fraction
        the model expects for it).
    """
    counts = np.asarray(counts, dtype=np.float64)
    expected = expected_fractions(concentrations, schema)
    first = schema.questions[0]
    first_total = counts[:, first.start:first.stop].sum(1)
    miss = np.full(len(counts), -np.inf)
    details: dict[int, dict[str, Any]] = {}
    for question in schema.questions:
        votes = counts[:, question.start:question.stop]
        model = expected[:, question.start:question.stop]
        truth, guess = votes.argmax(1), model.argmax(1)
        rows = np.arange(len(votes))
        shortfall = (votes[rows, truth] / np.maximum(votes.sum(1), 1)) - model[rows, truth]
        larger = np.flatnonzero(confident_mask(votes, first_total) & (guess != truth)
                                & (shortfall > miss))
        miss[larger] = shortfall[larger]
        for i in larger.tolist():
            details[i] = {
                "question": question.name,
                "label": question.answers[truth[i]].label,
                "label_fraction": float(votes[i, truth[i]] / votes[i].sum()),
                "predicted": question.answers[guess[i]].label,
                "probability": float(model[i, guess[i]]),
            }
    order = sorted(details, key=lambda i: (-miss[i], i))[:n]
    return [{**_where(frame, i), **details[i]} for i in order]


def _where(frame: pd.DataFrame, row: int) -> dict[str, str]:
    """A galaxy's ``id_str`` (when the catalog has one) and ``file_loc``."""
    ids = frame.get("id_str")
    return {**({"id_str": str(ids.iloc[row])} if ids is not None else {}),
            "file_loc": str(frame["file_loc"].iloc[row])}


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds (for JSON); other values as they are."""
    return value.item() if isinstance(value, np.generic) else value
