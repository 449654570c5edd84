"""The galaxies ``galmorph cutouts`` fetches: ids, positions, file names and pixel scales.

:func:`read_targets` reads and checks a catalog of positions (ids as text, ``ra`` and
``dec`` in degrees), :func:`file_names` makes each id a safe file name, and
:func:`row_scales` gives each galaxy's pixel scale, one for all or a column's.

Example:
    >>> list(file_names(pd.Series(["J1234+56", "NGC 1300"])))
    ['J1234+56', 'NGC_1300']
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from galmorph.data.catalog import catalog_name, find_column, read_catalog, rename_columns
from galmorph.data.table_checks import abbreviate, describe_rows, plural
from galmorph.data.validation import check_ids, check_positions
from galmorph.exceptions import CatalogError, GalmorphWarning

#: Characters kept in file names made from ids; others become ``_``.
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")
#: Longest file name made from an id (most file systems allow 255 bytes).
MAX_NAME = 200


def file_names(ids: pd.Series) -> pd.Series:
    """A file name stem per id (``J1234+56`` stays, ``NGC 1300`` → ``NGC_1300``).

    Raises:
        CatalogError: when two ids give the same name in any case (their images would
            overwrite each other), or an id is too long for a file name.
    """
    stems = ids.str.replace(_UNSAFE, "_", regex=True).str.replace(r"^\.", "_", regex=True)
    long = stems[stems.str.len() > MAX_NAME]
    if len(long):
        raise CatalogError(f"id {ids[long.index[0]]!r} is too long for a file name "
                           f"({len(long.iloc[0])} characters, at most {MAX_NAME})")
    folded = stems.str.lower()
    clash = folded.duplicated(keep=False)
    if clash.any():
        groups = ids[clash].groupby(folded[clash], sort=False)
        shown = "; ".join(" and ".join(map(repr, g)) for _, g in list(groups)[:3])
        raise CatalogError(f"ids that differ only in case or in characters other than "
                           f"letters, digits and ._+- would share an image file: {shown}; "
                           "make them differ otherwise")
    return stems


def read_targets(catalog: str | Path | pd.DataFrame, id_column: str | None
                       ) -> pd.DataFrame:
    """The catalog's rows with ``id_str`` as text and ``ra``/``dec`` as degrees.

    Raises:
        CatalogError: naming the file and the bad rows, columns or values.
    """
    if isinstance(catalog, pd.DataFrame):
        frame = rename_columns(catalog, catalog_name(catalog), id_column, None)
    else:
        frame = read_catalog(catalog, id_column=id_column)
    source = catalog_name(catalog)
    frame = frame.reset_index(drop=True)  # rows numbered from 0 in messages
    if frame.empty:
        raise CatalogError(f"{source} has no rows")
    errors = []
    if "id_str" in frame:
        frame, errors, notes = check_ids(frame, frame.attrs["column_names"].get("id_str",
                                                                                "id_str"))
        for note in notes:
            warnings.warn(f"{source}: {note}", GalmorphWarning, stacklevel=3)
    else:
        errors.append("no column 'id_str' (a unique name per galaxy; name yours with "
                      f"--id-column); the catalog has columns: {abbreviate(frame.columns)}")
    frame, bad = check_positions(frame, required=True)
    errors += bad
    if errors:
        listed = "\n".join(f"  - {e}" for e in errors)
        raise CatalogError(f"{source}: {errors[0]}" if len(errors) == 1
                           else f"{source} has {len(errors)} problems:\n{listed}")
    return frame.drop(columns=["file_loc"], errors="ignore")


def row_scales(frame: pd.DataFrame, pixel_scale: float | str | None, source: str
                ) -> tuple[list[float | None], float | str | None]:
    """Each galaxy's arcsec per pixel: ``pixel_scale``, or the values of the column it
    names (matched in any case); and ``pixel_scale`` (the column as the catalog names it).

    Raises:
        CatalogError: naming the column that is missing, or its rows that are not
            numbers above 0.
    """
    if not isinstance(pixel_scale, str):
        return [pixel_scale] * len(frame), pixel_scale
    column = find_column(frame.columns, pixel_scale)
    if column is None:
        raise CatalogError(f"{source} has no column {pixel_scale!r} (the pixel scale); its "
                           f"columns: {abbreviate(frame.columns)}")
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        raise CatalogError(f"{source}: column {column!r} must hold arcsec per pixel above 0, "
                           f"but has {plural(int(bad.sum()), 'bad value')}: "
                           + describe_rows(frame, bad, frame[column]))
    return values.astype(float).tolist(), column
