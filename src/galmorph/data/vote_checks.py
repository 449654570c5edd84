"""Checks of a catalog's vote columns against a decision tree, for
:func:`galmorph.data.validation.inspect_catalog`.

:func:`check_votes` matches each question of the tree to its vote columns (a question
without any is warned of and given zero votes), refuses values that are not whole
vote counts, warns of follow-up questions voted on where the answer leading to them
got no vote (:func:`votes_without_parent`), and records the votes per galaxy in the
catalog's :class:`~galmorph.data.validation.CatalogSummary`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from galmorph.data.schemas import fraction_hint
from galmorph.data.table_checks import EXACT_IN_FLOAT, abbreviate, describe_rows, plural
from galmorph.data.tree import Question, Schema

if TYPE_CHECKING:
    from galmorph.data.validation import CatalogSummary

#: The largest vote count accepted.
MAX_VOTES = EXACT_IN_FLOAT
#: Follow-up votes on a galaxy whose leading answer got none that are worth a warning:
#: Galaxy Zoo 2's own table has single stray votes (1 or 2 galaxies of 6,092 per question).
STRAY_VOTES = 2


def check_votes(frame: pd.DataFrame, schema: Schema, summary: CatalogSummary) -> pd.DataFrame:
    """Match the schema's questions to columns and check their vote counts.

    A vote column matches in any case where only one column fits (FITS tables and
    TOPCAT often write names in upper case: ``T01_SMOOTH_OR_FEATURES_A01_SMOOTH_COUNT``).
    """
    frame, shown = vote_columns_in_any_case(frame, schema)
    hint = fraction_hint(frame, schema)
    if hint is not None:  # one clear line instead of one per column
        summary.errors.append(hint)
        return frame
    present: list[Question] = []
    absent: list[Question] = []
    for question in schema.questions:
        have = [c for c in question.columns if c in frame]
        if len(have) == len(question.columns):
            present.append(question)
        elif not have:
            absent.append(question)
        else:
            lacking = [c for c in question.columns if c not in frame]
            summary.errors.append(
                f"question {question.name!r} has only some of its vote columns: missing "
                f"{', '.join(lacking)} (found {', '.join(have)})"
            )
    summary.questions_present = [q.name for q in present]
    summary.questions_absent = [q.name for q in absent]
    if len(absent) == schema.n_questions:
        summary.errors.append(
            f"none of the vote columns of schema {schema.name!r} are in the catalog (missing "
            f"{abbreviate(schema.label_cols, 6)}); check that the schema (--schema) "
            "matches this catalog"
        )
        return frame
    if absent:
        summary.warnings.append(
            f"no vote columns for {plural(len(absent), 'question')} of "
            f"schema {schema.name!r}: {', '.join(summary.questions_absent)}; "
            "treating them as having no votes (all counts 0)"
        )
        zeros = [c for q in absent for c in q.columns]
        frame = pd.concat([frame, pd.DataFrame(0, index=frame.index, columns=zeros)], axis=1)
    n_errors = len(summary.errors)
    for column in (c for q in present for c in q.columns):
        values = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
        bad |= values > MAX_VOTES  # beyond it a float is not surely whole; int64 may overflow
        if bad.any():
            summary.errors.append(
                f"column {shown.get(column, column)!r} must hold vote counts (whole numbers "
                "from 0 to 2**53) but has "
                f"{plural(int(bad.sum()), 'bad value')}: "
                + describe_rows(frame, bad, frame[column])
            )
        else:
            frame[column] = values.astype("int64")
    if len(summary.errors) == n_errors:
        summary.warnings += votes_without_parent(frame, present)
    if len(summary.errors) == n_errors and present and len(frame):
        totals = vote_totals(frame, present[0])
        summary.votes_question = present[0].name
        summary.votes_median = float(totals.median())
        summary.votes_min, summary.votes_max = int(totals.min()), int(totals.max())
    return frame


def vote_totals(frame: pd.DataFrame, question: Question) -> pd.Series:
    """Each row's total votes on ``question`` (its vote columns, checked, summed)."""
    return frame[list(question.columns)].sum(axis=1)


def vote_columns_in_any_case(
    frame: pd.DataFrame, schema: Schema
) -> tuple[pd.DataFrame, dict[str, str]]:
    """``frame`` with the schema's vote columns written in another case (the only column
    that is the name in any case) given the schema's names, and those names mapped to the
    file's, for messages.

    Example:
        >>> tree = Schema.from_dict({"questions": [{"name": "a", "answers": ["yes", "no"]}]})
        >>> frame, shown = vote_columns_in_any_case(pd.DataFrame(columns=["A_YES", "a_no"]), tree)
        >>> list(frame.columns), shown
        (['a_yes', 'a_no'], {'a_yes': 'A_YES'})
    """
    lower: dict[str, list[str]] = {}
    for name in frame.columns:
        if isinstance(name, str):
            lower.setdefault(name.lower(), []).append(name)
    renames = {}
    for column in schema.label_cols:
        same = lower.get(column.lower(), [])
        if column not in frame and len(same) == 1:
            renames[same[0]] = column
    if not renames:
        return frame, {}
    return frame.rename(columns=renames), {v: k for k, v in renames.items()}


def votes_without_parent(frame: pd.DataFrame, present: list[Question]) -> list[str]:
    """Warnings for questions with :data:`STRAY_VOTES` or more votes on galaxies where the
    answer they are asked after (``asked_after``) got none: a misplaced ``asked_after``
    in the tree, or vote columns swapped."""
    names = {q.name for q in present}
    found = []
    for question in present:
        parent = question.asked_after
        if parent is None or parent.question not in names:
            continue
        votes = frame[question.columns].sum(axis=1)
        stray = (votes >= STRAY_VOTES) & (frame[parent.column] == 0)
        if stray.any():
            found.append(
                f"question {question.name!r} is asked after {parent.question}/{parent.name}, "
                f"yet {plural(int(stray.sum()), 'galaxy')} of {len(frame)} "
                f"{'has' if stray.sum() == 1 else 'have'} votes for it and none in "
                f"{parent.column!r}: {describe_rows(frame, stray, votes)} (votes for "
                f"{question.name!r}); check its asked_after in the tree, and the vote columns"
            )
    return found
