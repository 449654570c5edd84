"""Checks of a catalog against the required columns and a decision tree's vote columns.

:func:`inspect_catalog` runs every check on a table (ids, image paths and files,
vote counts) and returns the cleaned catalog with a :class:`CatalogSummary` of
what it found; :func:`galmorph.data.catalog.load_catalog` raises on its errors
and :func:`galmorph.data.catalog.summarize_catalog` reports them.

Rows are numbered from 0 in file order (the header is not a row) in messages.

Examples
--------
>>> import pandas as pd
>>> from pathlib import Path
>>> from galmorph.data.validation import inspect_catalog
>>> frame = pd.DataFrame({"id_str": ["a", "a"], "file_loc": ["a.jpg", "b.jpg"]})
>>> _, summary = inspect_catalog(frame, None, "demo", Path("."), check_images=False, drop=False)
>>> summary.usable, summary.errors
(False, ['id_str must be unique; 1 id repeated: a (rows 0, 1)'])
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from galmorph.data.image_paths import resolve_image_paths, working_folder_hint
from galmorph.data.images import load_image
from galmorph.data.schemas import fraction_hint, get_schema
from galmorph.data.tree import Question, Schema
from galmorph.exceptions import ImageError

#: How many offending rows, ids or files a message lists before "and N more".
_SHOWN = 5
#: The last whole number a float64 holds exactly (a larger id held as a float has lost
#: digits), and the largest vote count accepted.
MAX_VOTES = EXACT_IN_FLOAT = 2**53
#: Sky-position columns checked when a catalog has them: their ranges in degrees.
POSITION_RANGES = {"ra": (0.0, 360.0), "dec": (-90.0, 90.0)}


@dataclass
class CatalogSummary:
    """What :func:`~galmorph.data.catalog.summarize_catalog` found; usable if ``errors`` is empty.

    Image counts are None when they could not be checked (no ``file_loc``
    column); vote statistics are the total votes per galaxy on
    ``votes_question``, the first question with vote columns.
    """

    source: str
    schema: Schema | None
    n_rows: int
    n_rows_kept: int = 0
    n_images_found: int | None = None
    n_images_missing: int | None = None
    n_images_elsewhere: int = 0
    id_column: str = "id_str"
    file_column: str = "file_loc"
    first_missing: list[str] = field(default_factory=list)
    questions_present: list[str] = field(default_factory=list)
    questions_absent: list[str] = field(default_factory=list)
    votes_question: str | None = None
    votes_median: float | None = None
    votes_min: int | None = None
    votes_max: int | None = None
    image_shapes: dict[tuple[int, ...], int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        """True when :func:`~galmorph.data.catalog.load_catalog` would accept the catalog."""
        return not self.errors


# ------------------------------------------------------------------ the checks
def inspect_catalog(
    frame: pd.DataFrame,
    schema: Schema | str | None,
    source: str,
    root: Path,
    *,
    check_images: bool,
    drop: bool,
    decode_images: bool = False,
) -> tuple[pd.DataFrame, CatalogSummary]:
    """Run every check; return the cleaned catalog and what was found.

    ``check_images``: image files must exist; ``decode_images``: and be readable
    (:func:`read_images`).
    """
    schema = get_schema(schema) if schema is not None else None
    frame = frame.reset_index(drop=True)  # row labels are now row numbers
    given = frame.attrs.get("column_names", {})  # the user's names (--id-column, ...)
    summary = CatalogSummary(source=source, schema=schema, n_rows=len(frame),
                             id_column=given.get("id_str", "id_str"),
                             file_column=given.get("file_loc", "file_loc"))
    errors = summary.errors
    if frame.empty:
        errors.append("the catalog has no rows")
        return frame, summary
    repeated = frame.columns[frame.columns.duplicated()].unique()
    if len(repeated):  # a DataFrame may repeat a name; nothing below can tell them apart
        errors.append(f"column names must be unique; repeated: {abbreviate(repeated)}")
        return frame, summary
    errors += _missing_columns(frame)
    if "id_str" in frame:
        errors += blank_values(frame, "id_str", summary.id_column)
        frame["id_str"] = as_text(frame["id_str"])
        errors += duplicate_ids(frame, summary.id_column)
        summary.warnings += _rounded_ids(frame, summary.id_column)
    frame, bad_positions = _positions(frame)
    errors += bad_positions
    if "file_loc" in frame:
        errors += blank_values(frame, "file_loc", summary.file_column)
        frame, elsewhere = _resolve_image_paths(frame, root, summary)
        if check_images:
            frame = _check_images(frame, root, summary, drop, elsewhere)
            if decode_images:
                read_images(frame, summary)
    if schema is not None:
        frame = _check_votes(frame, schema, summary)
    summary.n_rows_kept = len(frame)
    return frame.reset_index(drop=True).copy(), summary  # copy() also defragments


def plural(n: int, noun: str) -> str:
    """``1 row``, ``2 rows``, ``2 galaxies``."""
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun[:-1]}ies" if noun.endswith("y") else f"{n} {noun}s"


def abbreviate(items: Iterable[object], limit: int = 8) -> str:
    """``a, b, c, ... (5 more)``: the first ``limit`` items, then how many more."""
    items = [str(i) for i in items]
    more = len(items) - limit
    return ", ".join(items[:limit]) + (f", ... ({more} more)" if more > 0 else "")


def describe_rows(frame: pd.DataFrame, mask: pd.Series, values: pd.Series | None = None) -> str:
    """``row 3 (J1234+56): -1, row 8 (J...): nan and 4 more`` for the rows in ``mask``."""
    labels = frame.index[mask.to_numpy()]
    shown = []
    for label in labels[:_SHOWN]:
        text = f"row {label}"
        if "id_str" in frame:
            text += f" ({frame.at[label, 'id_str']})"
        if values is not None:
            text += f": {values.at[label]}"
        shown.append(text)
    more = len(labels) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _missing_columns(frame: pd.DataFrame) -> list[str]:
    missing = [c for c in ("id_str", "file_loc") if c not in frame]
    if not missing:
        return []
    return [
        f"missing required column(s) {', '.join(map(repr, missing))} (id_str: a unique "
        "name per galaxy; file_loc: its image path); the catalog has columns: "
        + abbreviate(frame.columns) + " (rename yours, or name them to predict and embed "
        "with --id-column and --file-column)"
    ]


def _positions(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``ra`` and ``dec`` must be degrees in range, or empty where unknown: errors naming bad
    values; good columns as float64 (blank NaN), also where a table held them as text."""
    errors = []
    for column, (low, high) in POSITION_RANGES.items():
        if column not in frame:
            continue
        values = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        bad = (values.isna() & ~is_blank(frame[column])) | (values < low) | (values > high)
        if bad.any():
            errors.append(
                f"column {column!r} must hold degrees from {low:g} to {high:g} (or be empty "
                f"where unknown) but has {plural(int(bad.sum()), 'bad value')}: "
                + describe_rows(frame, bad, frame[column])
            )
        else:
            frame = frame.assign(**{column: values})
    return frame, errors


def as_text(column: pd.Series) -> pd.Series:
    """Values as ``str``; bytes (e.g. from a parquet binary column) decoded as UTF-8.

    Undecodable bytes become U+FFFD instead of failing, as pandas' own
    conversion would with a UnicodeDecodeError.
    """
    if column.dtype == object:
        column = column.map(
            lambda v: v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v
        )
    return column.astype(str)


def _rounded_ids(frame: pd.DataFrame, id_name: str) -> list[str]:
    """A warning naming ids that are numbers over 2**53 in exponent form (``1.23765E+18``, as
    Excel or a float column writes an SDSS objid): they have lost their last digits."""
    ids = frame["id_str"]
    rounded = (ids.str.contains(r"\d[eE]\+?\d")
               & (pd.to_numeric(ids, errors="coerce") >= EXACT_IN_FLOAT))
    return [f"{id_name} holds numbers in exponent form, which lost their last digits, in "
            f"{plural(int(rounded.sum()), 'row')} ({describe_rows(frame, rounded)}): "
            "write the ids as text"] if rounded.any() else []


def is_blank(column: pd.Series) -> pd.Series:
    """Boolean mask of missing or whitespace-only values."""
    return column.isna() | (as_text(column).str.strip() == "")


def blank_values(frame: pd.DataFrame, column: str, shown: str | None = None) -> list[str]:
    """An error naming the rows where ``column`` (called ``shown`` in the user's file)
    is blank; none when it never is."""
    blank = is_blank(frame[column])
    if not blank.any():
        return []
    return [
        f"column {shown or column!r} is empty in {plural(int(blank.sum()), 'row')}: "
        + describe_rows(frame, blank)
    ]


def duplicate_ids(frame: pd.DataFrame, id_name: str = "id_str") -> list[str]:
    """An error naming each repeated ``id_str`` (called ``id_name`` in the user's file)
    and its rows; none when all are unique."""
    repeated = frame["id_str"].duplicated(keep=False) & ~is_blank(frame["id_str"])
    if not repeated.any():
        return []
    groups = frame[repeated].groupby("id_str", sort=False).groups
    shown = [
        f"{ident} (rows {', '.join(map(str, rows))})"
        for ident, rows in list(groups.items())[:_SHOWN]
    ]
    more = len(groups) - len(shown)
    return [
        f"{id_name} must be unique; {plural(len(groups), 'id')} repeated: "
        + "; ".join(shown)
        + (f"; and {more} more" if more > 0 else "")
    ]


def _resolve_image_paths(frame: pd.DataFrame, root: Path, summary: CatalogSummary
                         ) -> tuple[pd.DataFrame, pd.Series]:
    """``file_loc`` made absolute (:mod:`galmorph.data.image_paths`), and the rows whose
    image is elsewhere than on this computer: web addresses and Windows drive paths are
    errors, Windows ``\\`` separators read as ``/`` a warning."""
    column, name = frame["file_loc"], summary.file_column
    resolved = resolve_image_paths(as_text(column).where(~is_blank(column)), root)
    urls, windows, drives = (pd.Series(mask, frame.index) for mask in (
        resolved.urls, resolved.windows, resolved.drives))
    if drives.any():
        summary.errors.append(
            f"{name} holds Windows drive paths in {plural(int(drives.sum()), 'row')} ("
            + describe_rows(frame, drives, column) + "), files of another computer: give "
            "their paths on this one, e.g. relative to the catalog's folder")
    if urls.any():
        summary.errors.append(
            f"{name} holds web addresses in {plural(int(urls.sum()), 'row')} ("
            + describe_rows(frame, urls, column) + "); galmorph reads image files on disk: "
            "download the images first and give their paths")
    if windows.any():
        summary.warnings.append(
            f"{name} uses Windows separators (\\) in {plural(int(windows.sum()), 'row')}, "
            "read as / (" + describe_rows(frame, windows, column) + ")")
    return frame.assign(file_loc=resolved.paths), urls | drives


def _check_images(
    frame: pd.DataFrame, root: Path, summary: CatalogSummary, drop: bool, elsewhere: pd.Series
) -> pd.DataFrame:
    """Count image files; missing ones are an error, or rows to drop when ``drop``.
    Rows ``elsewhere`` (web addresses, drive paths) are errors of their own, not missing."""
    listed = (frame["file_loc"] != "") & ~elsewhere
    found = frame["file_loc"].map(os.path.isfile).astype(bool)
    folders = frame["file_loc"].map(os.path.isdir).astype(bool)
    if folders.any():
        summary.errors.append(
            f"{summary.file_column} names a folder, not an image file, in "
            f"{plural(int(folders.sum()), 'row')}: "
            + describe_rows(frame, folders, frame["file_loc"])
        )
    missing = listed & ~found & ~folders
    summary.n_images_found = int(found.sum())
    summary.n_images_missing = int(missing.sum())
    summary.n_images_elsewhere = int(elsewhere.sum())
    summary.first_missing = frame.loc[missing, "file_loc"].head(_SHOWN).tolist()
    if not missing.any():
        return frame
    n_missing, n_listed = summary.n_images_missing, int(listed.sum())
    rows = describe_rows(frame, missing, frame["file_loc"])
    if n_missing == n_listed:
        summary.errors.append(
            f"none of the {n_listed} image files exist ({rows}); {summary.file_column} paths "
            f"are read relative to {os.path.abspath(root)}: are the images there?"
            + working_folder_hint(frame.loc[missing, "file_loc"].head(100), root)
        )
    elif drop:
        summary.warnings.append(
            f"skipping {n_missing} of {plural(len(frame), 'row')} with a missing image file: {rows}"
        )
        return frame[~missing]
    else:
        summary.errors.append(
            f"image file missing for {n_missing} of {n_listed} rows: {rows}; fix "
            f"{summary.file_column} or skip those rows (drop_missing_images=True, or "
            "--skip-missing-images)"
        )
    return frame


def read_images(frame: pd.DataFrame, summary: CatalogSummary) -> None:
    """Decode every image file of ``frame`` that exists: unreadable ones are errors naming
    their rows, and ``summary.image_shapes`` counts the ``(height, width, channels)`` found."""
    shapes: Counter[tuple[int, ...]] = Counter()
    problems: dict[object, str] = {}
    for label, path in frame["file_loc"].items():
        if not path or not os.path.isfile(path):
            continue  # counted as missing already
        try:
            shapes[load_image(path).shape] += 1
        except ImageError as err:
            problems[label] = str(err)
    summary.image_shapes = dict(shapes.most_common())
    if problems:
        unreadable = pd.Series(frame.index.isin(list(problems)), index=frame.index)
        summary.errors.append(
            f"{plural(len(problems), 'image file')} cannot be read: "
            + describe_rows(frame, unreadable, pd.Series(problems, dtype=object))
        )


def _check_votes(frame: pd.DataFrame, schema: Schema, summary: CatalogSummary) -> pd.DataFrame:
    """Match the schema's questions to columns and check their vote counts."""
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
                f"column {column!r} must hold vote counts (whole numbers from 0 to 2**53) "
                "but has "
                f"{plural(int(bad.sum()), 'bad value')}: "
                + describe_rows(frame, bad, frame[column])
            )
        else:
            frame[column] = values.astype("int64")
    if len(summary.errors) == n_errors and present and len(frame):
        totals = frame[present[0].columns].sum(axis=1)
        summary.votes_question = present[0].name
        summary.votes_median = float(totals.median())
        summary.votes_min, summary.votes_max = int(totals.min()), int(totals.max())
    return frame
