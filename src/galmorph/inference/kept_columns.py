"""Catalog columns copied into the predictions (``predict --keep-columns ra,dec``).

:func:`with_kept_columns` checks the columns asked for, under the names the catalog file
gives them, and :func:`check_fits_kept` refuses, before any galaxy is predicted, text a
FITS output cannot hold.

Example:
    >>> frame = pd.DataFrame({"id_str": ["a"], "ra": [10.5]})
    >>> list(with_kept_columns(frame, ["ra"], "catalog.csv").columns)
    ['id_str', 'ra']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from galmorph.exceptions import CatalogError
from galmorph.inference.fits_tables import check_fits_text

#: Descriptions of catalog columns copied into predictions (``keep_columns``), others
#: "copied from the catalog".
KEPT_NOTES = {"ra": "right ascension (degrees), from the catalog",
              "dec": "declination (degrees), from the catalog"}


def column_names(keep_columns: str | Sequence[str]) -> tuple[str, ...]:
    """``keep_columns`` as a tuple of names: one name alone is that column, not its letters.

    Example:
        >>> column_names("ra"), column_names(["ra", "dec"])
        (('ra',), ('ra', 'dec'))
    """
    return (keep_columns,) if isinstance(keep_columns, str) else tuple(keep_columns)


def with_kept_columns(frame: pd.DataFrame, keep_columns: Sequence[str], where: str
                       ) -> pd.DataFrame:
    """``frame`` with ``keep_columns`` under the names given: a column the catalog file
    had under that name and galmorph reads under its own (``RA`` as ``ra``, the
    ``--file-column``) is copied to it; the others are there already.

    Raises:
        CatalogError: naming the catalog ``where`` and the column, for a column it lacks
            (naming one of the same name in another case), a column named twice, and
            ``id_str``, which the predictions have already.
    """
    twice = sorted({name for name in keep_columns if list(keep_columns).count(name) > 1})
    if twice:
        raise CatalogError(f"--keep-columns names {', '.join(twice)} more than once")
    renamed = {given: standard for standard, given in
               frame.attrs.get("column_names", {}).items() if standard in frame}
    copies = {}
    for name in keep_columns:
        if name == "id_str" or renamed.get(name) == "id_str":
            raise CatalogError(f"--keep-columns {name}: the predictions start with it "
                               "already, as id_str")
        if name not in frame and name in renamed:
            copies[name] = frame[renamed[name]]
        elif name not in frame:
            near = [str(c) for c in frame.columns if str(c).lower() == name.lower()]
            hint = f" (it has {near[0]!r})" if near else (
                f"; its columns: {', '.join(map(str, frame.columns[:20]))}")
            raise CatalogError(f"{where} has no column {name!r} to keep{hint}")
    return frame.assign(**copies) if copies else frame


def check_fits_kept(frame: pd.DataFrame, keep_columns: Sequence[str], output: Path) -> None:
    """Refuse ids and kept columns a FITS ``output`` cannot hold (text that is not ASCII)
    before the galaxies are predicted, not once they are.

    Raises:
        GalmorphError: naming the column, row and value.
    """
    check_fits_text(frame[["id_str", *keep_columns]], output)
