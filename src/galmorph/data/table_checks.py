"""Checks every table galmorph reads shares, and the wording of their messages.

Catalogs (:mod:`galmorph.data.validation`), label files, tags and embeddings files all
read ids and text the same way (:func:`as_text`, :func:`is_blank`), refuse blank or
repeated ids (:func:`blank_values`, :func:`duplicate_ids`) and name the offending rows
alike (:func:`describe_rows`, :func:`plural`, :func:`abbreviate`).

Rows are numbered from 0 in file order (the header is not a row) in messages.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

#: How many offending rows, ids or files a message lists before "and N more".
SHOWN = 5
#: The last whole number a float64 holds exactly: a larger id held as a float has lost
#: digits, and a larger count is not surely whole.
EXACT_IN_FLOAT = 2**53


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
    """``row 3 (J1234+56): -1, row 8 (no id): nan and 4 more`` for the rows in ``mask``."""
    labels = frame.index[mask.to_numpy()]
    shown = []
    for label in labels[:SHOWN]:
        text = f"row {label}"
        if "id_str" in frame:
            galaxy = frame.at[label, "id_str"]
            text += " (no id)" if pd.isna(galaxy) or not str(galaxy).strip() else f" ({galaxy})"
        if values is not None:
            text += f": {values.at[label]}"
        shown.append(text)
    more = len(labels) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


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
        for ident, rows in list(groups.items())[:SHOWN]
    ]
    more = len(groups) - len(shown)
    return [
        f"{id_name} must be unique; {plural(len(groups), 'id')} repeated: "
        + "; ".join(shown)
        + (f"; and {more} more" if more > 0 else "")
    ]
