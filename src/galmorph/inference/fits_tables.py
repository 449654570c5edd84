"""FITS binary tables with galmorph's metadata, as astropy and TOPCAT read them.

:func:`write_fits_table` stores each metadata entry twice in the table's header:

* as a keyword (a ``HIERARCH`` card for names over 8 characters), which astropy reads:
  ``fits.getheader(path, 1)["galmorph_model"]``;
* as ``HISTORY`` lines ``key = value``, which TOPCAT shows among the table's parameters
  (it does not read ``HIERARCH`` cards).

A value too long for one keyword card (the model's 64-character sha256 beside its long
name) would need ``CONTINUE`` cards, which TOPCAT shows as a stray parameter of their
own, so it is written as ``HISTORY`` lines only: the first ``key = value...`` and then
continuation lines that start with two spaces. :func:`fits_metadata` reads both kinds
back, the keyword where there is one. Whitespace runs in values become one space, and
characters beyond printable ASCII (which FITS headers cannot hold) Python escapes.

Example
-------
>>> import pandas as pd
>>> write_fits_table(pd.DataFrame({"x": [1.0]}), "t.fits", {"a": "1"})  # doctest: +SKIP
>>> fits_metadata("t.fits")  # doctest: +SKIP
{'a': '1'}
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from galmorph.exceptions import GalmorphError

#: Characters of text in one HISTORY card.
HISTORY_WIDTH = 72
#: How a HISTORY line that continues the previous entry starts.
CONTINUED = "  "
#: Length of one FITS header card.
CARD = 80

#: Header keywords that describe the table itself, or hold text lines, not metadata.
_STRUCTURE = re.compile(
    r"^(XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|TFIELDS|EXTNAME|T[A-Z]+\d+|HISTORY|COMMENT)$"
)
#: Characters a FITS header cannot hold.
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]")
#: The start of a HISTORY entry: ``key = ``.
_ENTRY = re.compile(r"^([A-Za-z_][\w.-]*) = (.*)$")


def _one_line(value: object) -> str:
    """``value`` as one line of printable ASCII, as FITS headers hold: whitespace runs as
    one space, other characters escaped (``Données`` as ``Donn\\xe9es``)."""
    text = " ".join(str(value).split())
    return _NOT_PRINTABLE.sub(lambda found: found[0].encode("unicode_escape").decode(), text)


def _history_lines(key: str, value: str) -> list[str]:
    """``key = value`` in HISTORY lines: the first full width, the rest marked as continued."""
    text = f"{key} = {value}"
    lines: list[str] = []
    start, width = 0, HISTORY_WIDTH
    while start < len(text):
        end = min(start + width, len(text))
        while start + 1 < end < len(text) and text[end - 1] == " ":
            end -= 1  # a card's trailing spaces are padding: begin the next line with it
        lines.append((CONTINUED if lines else "") + text[start:end])
        start, width = end, HISTORY_WIDTH - len(CONTINUED)
    return lines


def _fits_one_card(key: str, value: str) -> bool:
    """Whether ``key = value`` fits one header card (no ``CONTINUE`` cards)."""
    from astropy.io import fits

    return len(fits.Card(key, value).image) <= CARD


def check_fits_text(frame: pd.DataFrame, path: str | Path) -> None:
    """Refuse text a FITS table cannot hold (only ASCII), before any work is done for it.

    Raises:
        GalmorphError: naming the column, row and value, and the formats that hold it.
    """
    for name in frame.columns:
        column = frame[name]
        if column.dtype.kind not in "OSU":
            continue
        text = column.dropna().astype(str)
        wide = text[~text.map(str.isascii)]
        if len(wide):
            where = ("" if name == "id_str" else f" (galaxy {frame.at[wide.index[0], 'id_str']})"
                     if "id_str" in frame else f" (row {wide.index[0]} of the table)")
            raise GalmorphError(
                f"{path}: FITS tables hold ASCII text only, and column {name!r} has "
                f"{wide.iloc[0]!r}{where}; write .parquet, .ecsv or .csv, which keep any "
                "text")


def write_fits_table(frame: pd.DataFrame, path: str | Path, metadata: Mapping[str, str],
                     descriptions: Mapping[str, str] | None = None) -> None:
    """A FITS binary table of ``frame`` at ``path`` (overwritten), with ``metadata`` (see
    the module docs) and ``descriptions`` of columns as ``TCOMMn`` keywords, which TOPCAT
    shows.

    Raises:
        GalmorphError: for text that is not ASCII (:func:`check_fits_text`).
    """
    from astropy.io import fits
    from astropy.io.fits.verify import VerifyWarning
    from astropy.table import Table

    check_fits_text(frame, path)
    values = {str(key): _one_line(value) for key, value in metadata.items()}
    with warnings.catch_warnings():  # long keys become HIERARCH cards, as intended
        warnings.simplefilter("ignore", VerifyWarning)
        table = Table.from_pandas(frame)
        table.meta.update({k: v for k, v in values.items() if _fits_one_card(k, v)})
        hdu = fits.table_to_hdu(table)
        for number, name in enumerate(frame.columns, start=1):
            if text := (descriptions or {}).get(str(name)):
                hdu.header.set(f"TCOMM{number}", text, after=f"TFORM{number}")
        for key, value in values.items():
            for line in _history_lines(key, value):
                hdu.header.add_history(line)
        hdu.writeto(path, overwrite=True)


def fits_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a FITS table :func:`write_fits_table` wrote: its keywords that do
    not describe the table, then its HISTORY entries for keys that have none."""
    from astropy.io import fits

    header = fits.getheader(path, 1)
    found = {k: str(v) for k, v in header.items() if not _STRUCTURE.match(k)}
    entries: dict[str, str] = {}
    key = None
    for line in (str(text) for text in header.get("HISTORY", [])):
        if key is not None and line.startswith(CONTINUED):
            entries[key] += line[len(CONTINUED):]
        elif match := _ENTRY.match(line):
            key, entries[match[1]] = match[1], match[2]
        else:  # text of another kind, or lines of earlier versions wrapped by astropy
            key = None
    spelled = {key.upper(): key for key in entries}  # FITS keywords of 8 letters are upper case
    return {**entries, **{spelled.get(key.upper(), key): value for key, value in found.items()}}
