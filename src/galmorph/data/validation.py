"""Checks of a catalog against the required columns and a decision tree's vote columns.

:func:`inspect_catalog` runs every check on a table (ids, image paths and files,
vote counts) and returns the cleaned catalog with a :class:`CatalogSummary` of
what it found; :func:`galmorph.data.catalog.load_catalog` raises on its errors
and :func:`galmorph.data.catalog.summarize_catalog` reports them. The checks of image
files are in :mod:`galmorph.data.image_checks`, of vote columns in
:mod:`galmorph.data.vote_checks`, and those every table shares (blank and repeated ids,
and how messages name rows) in :mod:`galmorph.data.table_checks`.

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

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from galmorph.data.image_checks import check_image_files, read_images, resolve_file_column
from galmorph.data.schemas import get_schema
from galmorph.data.table_checks import (
    EXACT_IN_FLOAT,
    abbreviate,
    as_text,
    blank_values,
    describe_rows,
    duplicate_ids,
    is_blank,
    plural,
)
from galmorph.data.tree import Schema
from galmorph.data.vote_checks import check_votes

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
    (:func:`~galmorph.data.image_checks.read_images`).
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
        frame, id_errors, id_warnings = check_ids(frame, summary.id_column)
        errors += id_errors
        summary.warnings += id_warnings
    frame, bad_positions = check_positions(frame)
    errors += bad_positions
    if "file_loc" in frame:
        errors += blank_values(frame, "file_loc", summary.file_column)
        frame, elsewhere = resolve_file_column(frame, root, summary)
        if check_images:
            frame = check_image_files(frame, root, summary, drop, elsewhere)
            if decode_images:
                read_images(frame, summary)
    if schema is not None:
        frame = check_votes(frame, schema, summary)
    summary.n_rows_kept = len(frame)
    return frame.reset_index(drop=True).copy(), summary  # copy() also defragments


def _missing_columns(frame: pd.DataFrame) -> list[str]:
    missing = [c for c in ("id_str", "file_loc") if c not in frame]
    if not missing:
        return []
    no_images = ("; no images yet? galmorph cutouts CATALOG -o FOLDER fetches one per "
                 "galaxy from its ra and dec, with a catalog that has file_loc"
                 if "file_loc" in missing and {"ra", "dec"} <= set(frame.columns) else "")
    return [
        f"missing required column(s) {', '.join(map(repr, missing))} (id_str: a unique "
        "name per galaxy; file_loc: its image path); the catalog has columns: "
        + abbreviate(frame.columns) + " (rename yours, or name them to predict and embed "
        "with --id-column and --file-column)" + no_images
    ]


def check_ids(frame: pd.DataFrame, id_name: str = "id_str"
              ) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The ``id_str`` column (called ``id_name`` in the user's file) as text (whole-number
    floats without ``.0``), with errors naming blank and repeated ids and warnings naming
    ids that lost digits in exponent form."""
    errors = blank_values(frame, "id_str", id_name)
    frame = frame.assign(id_str=as_text(_whole_ids(frame["id_str"])))
    errors += duplicate_ids(frame, id_name)
    return frame, errors, _rounded_ids(frame, id_name)


def check_positions(frame: pd.DataFrame, required: bool = False
                    ) -> tuple[pd.DataFrame, list[str]]:
    """``ra`` and ``dec`` must be degrees in range, or empty where unknown (``required``:
    present and never empty): errors naming bad values; good columns as float64 (blank
    NaN), also where a table held them as text."""
    errors = []
    for column, (low, high) in POSITION_RANGES.items():
        if column not in frame:
            if required:
                errors.append(f"no column {column!r} (degrees); the catalog has columns: "
                              + abbreviate(frame.columns))
            continue
        values = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        bad = (values.isna() & (required | ~is_blank(frame[column]))
               | (values < low) | (values > high))
        if bad.any():
            empty = "" if required else " (or be empty where unknown)"
            errors.append(
                f"column {column!r} must hold degrees from {low:g} to {high:g}{empty} "
                f"but has {plural(int(bad.sum()), 'bad value')}: "
                + describe_rows(frame, bad, frame[column]) + _sexagesimal_hint(frame[column][bad])
            )
        else:
            frame = frame.assign(**{column: values})
    return frame, errors


def _sexagesimal_hint(values: pd.Series) -> str:
    """Advice when bad positions are written in sexagesimal (``12:34:56.7``, ``12h34m56s``,
    ``+12 34 56``), else nothing."""
    pattern = r"\s*[-+]?\d{1,3}\s*[:hHdD ]\s*\d{1,2}\s*[:mM' ]\s*\d{1,2}(?:\.\d*)?\s*[sS\"]?\s*"
    if not as_text(values).str.fullmatch(pattern).any():
        return ""
    return ("; sexagesimal positions are not read: convert them to degrees (e.g. astropy's "
            "SkyCoord(ra, dec, unit=(u.hourangle, u.deg)), RA in hours) or leave the columns "
            "out")


def _whole_ids(ids: pd.Series) -> pd.Series:
    """Float ids that are all whole and exact (a table's id column stored as floats, e.g.
    for a blank cell) as whole numbers: ``6802``, not ``6802.0``; other ids as they are."""
    if ids.dtype.kind != "f":
        return ids
    known = ids.dropna()
    if not ((known == known.round()) & (known.abs() < EXACT_IN_FLOAT)).all():
        return ids
    return ids.astype("Int64")


def _rounded_ids(frame: pd.DataFrame, id_name: str) -> list[str]:
    """A warning naming ids that are numbers over 2**53 in exponent form (``1.23765E+18``, as
    Excel or a float column writes an SDSS objid): they have lost their last digits."""
    ids = frame["id_str"]
    rounded = (ids.str.contains(r"\d[eE]\+?\d")
               & (pd.to_numeric(ids, errors="coerce") >= EXACT_IN_FLOAT))
    return [f"{id_name} holds numbers in exponent form, which lost their last digits, in "
            f"{plural(int(rounded.sum()), 'row')} ({describe_rows(frame, rounded)}): "
            "write the ids as text"] if rounded.any() else []
