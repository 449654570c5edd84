"""Read a table file of any format astronomers use into a DataFrame.

:func:`read_table` reads CSV (``.csv``, ``.tsv``, gzipped too, as Excel and VizieR write it),
parquet, FITS binary tables, VOTable and ECSV by their extension, keeping ids and paths
as the text written; :mod:`galmorph.data.catalog` reads catalogs with it.

Example:
    >>> from importlib.resources import files
    >>> frame = read_table(files("galmorph") / "demo_data" / "gz2_demo" / "catalog.csv")
    >>> frame["id_str"].iloc[0]
    'J090203.35+590529.9'
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import pandas as pd

from galmorph.data.defaults import FORMATS

if TYPE_CHECKING:
    from astropy.table import Table
from galmorph.data.image_folder import IMAGE_SUFFIXES
from galmorph.data.table_checks import abbreviate, plural
from galmorph.exceptions import CatalogError, GalmorphWarning
from galmorph.files import user_path


def _csv_layout(path: Path) -> tuple[list[int], str, str]:
    """The lines to skip, the header's separator and the encoding of a CSV file.

    Skipped: ``#`` comment lines anywhere (galmorph's CSV outputs carry metadata so), blank
    lines and Excel's ``sep=;`` before the header, and VizieR's units and ``---`` rows
    under it. The separator is the one ``sep=`` names, else ``,``, or ``;`` or a tab when
    the header has those and no comma (spreadsheets in many European locales write ``;``);
    in a ``.tsv`` file a tab first. The encoding is UTF-16 where a byte-order mark says so
    (Windows PowerShell writes it), else UTF-8. A warning names comment lines under the
    header.
    """
    import codecs
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        utf16 = handle.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    # a .tsv file separates with tabs wherever its header has one (a name may hold a comma)
    order = ("\t", ",", ";") if ".tsv" in path.name.lower() else (",", ";", "\t")
    # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the first line
    options = {"encoding": "utf-16" if utf16 else "utf-8-sig", "errors": "replace"}
    with opener(path, "rt", **options) as handle:
        skip, comments, separator = _scan(handle, order, whole=False)
        ahead = _comment_ahead(handle)
    if ahead:  # lines further down start with #: count the rows before each, quotes and all
        with opener(path, "rt", **options) as handle:
            skip, comments, separator = _scan(handle, order, whole=True)
    if comments:
        lines = f"line{'s' if len(comments) > 1 else ''} {abbreviate(comments, 5)}"
        warnings.warn(f"{path}: skipped {plural(len(comments), 'comment line')} starting with "
                      f"# among the rows ({lines}); quote an id that starts with #",
                      GalmorphWarning, stacklevel=5)
    return skip, separator, "utf-16" if utf16 else "utf-8"


def _scan(lines: Iterable[str], order: tuple[str, ...], whole: bool
          ) -> tuple[list[int], list[int], str]:
    """The rows to skip (see :func:`_csv_layout`), the line numbers of those that are
    comments under the header, and the separator; only to the header's third row below
    unless ``whole``."""
    skip: list[int] = []
    comments: list[int] = []
    header_at, separator, named = None, order[0], None
    for number, line_number, text in _records(lines):
        if header_at is None:
            excel = re.fullmatch(r"sep=(.)", text) if number == 0 else None
            if excel is None and text.strip() and not text.startswith("#"):
                header_at = number
                separator = named or next((s for s in order if s in text), order[0])
                continue
            named = excel.group(1) if excel else named
            skip.append(number)
        elif text.startswith("#"):
            skip.append(number)
            comments.append(line_number)
        elif number <= header_at + 2 and _dash_row(text, separator):
            # VizieR writes a row of units, then one of dashes, under the header
            skip += range(header_at + 1, number + 1)
        if not whole and header_at is not None and number >= header_at + 2:
            break
    return skip, comments, separator


def _comment_ahead(handle: TextIO) -> bool:
    """Whether a line from where ``handle`` is (a line's start) on starts with ``#``; read
    in blocks, much faster than line by line."""
    previous = "\n"
    while block := handle.read(1 << 20):
        if "\n#" in previous + block:
            return True
        previous = block[-1]
    return False


def _records(lines: Iterable[str]) -> Iterator[tuple[int, int, str]]:
    """For each record of a CSV file (a line, or several where a quoted value holds line
    breaks): its number from 0, as pandas' ``skiprows`` counts, the line number of its
    start from 1, as editors show it, and that line without its line break."""
    record, quoted = 0, False
    for line_number, line in enumerate(lines, 1):
        if not quoted:
            yield record, line_number, line.rstrip("\r\n")
            record += 1
        quoted ^= line.count('"') % 2 == 1


def _dash_row(line: str, separator: str) -> bool:
    """Whether ``line`` is VizieR's rule under the header: every cell dashes (``---``)."""
    cells = [cell.strip() for cell in line.split(separator)]
    return any(cells) and all(re.fullmatch(r"-*", cell) for cell in cells)


def _read_csv(path: Path, text_columns: Collection[str] = ()) -> pd.DataFrame:
    skip, separator, encoding = _csv_layout(path)
    options = {"skiprows": skip, "sep": separator, "skipinitialspace": True,
               "encoding": encoding}
    # read ids and paths as text: an id like "007" must not become the number 7, nor an
    # int64 id beside a blank cell a float (1237648720693755918 read as ...5920)
    texts = {name.lower() for name in ("id_str", "file_loc", *text_columns)}
    try:
        frame = _read_csv_text(path, options, texts)
    except UnicodeDecodeError:
        warnings.warn(f"{path} is not UTF-8 text: read as Windows-1252, as Excel's plain "
                      "'CSV' writes it (save as 'CSV UTF-8' to be sure of accents)",
                      GalmorphWarning, stacklevel=4)
        frame = _read_csv_text(path, {**options, "encoding": "cp1252"}, texts)
    if separator == ";":
        frame = _decimal_commas(frame, texts)
    filled = np.flatnonzero(frame.notna().any(axis=1).to_numpy())
    # a spreadsheet's trailing rows of empty cells (",,,") are no galaxies; the copy joins
    # the column blocks read_csv leaves apart, so that adding a column later does not
    # warn of a fragmented frame (a GZ2 catalog has ~250 columns)
    return frame.iloc[:filled[-1] + 1 if len(filled) else 0].copy()


def _read_csv_text(path: Path, options: dict[str, Any], texts: set[str]) -> pd.DataFrame:
    """A CSV file read with ``options``: the columns ``texts`` names (lower case) as text,
    as written (an id ``NA`` or ``nan`` is no blank; spaces around a value are left
    out), spaces around column names (``id_str , file_loc``) left out."""
    names = pd.read_csv(path, nrows=0, **options).columns
    dtype = {name: str for name in names if str(name).strip().lower() in texts}
    frame = pd.read_csv(path, dtype=dtype, **options)
    blanks = [name for name in dtype if frame[name].isna().any()]
    if blanks:  # read again without pandas' words for missing values: only empty cells
        frame[blanks] = pd.read_csv(path, usecols=blanks, dtype=str, keep_default_na=False,
                                    na_values=[""], **options)[blanks]
    for name in dtype:
        frame[name] = frame[name].str.strip().replace("", np.nan)
    return frame.rename(columns=lambda name: name.strip() if isinstance(name, str) else name)


def _decimal_commas(frame: pd.DataFrame, texts: set[str]) -> pd.DataFrame:
    """Text columns whose every value is a number written with a decimal comma (``0,05``,
    as spreadsheets that separate with ``;`` write them) as numbers; those named in
    ``texts`` (ids and paths, lower case) left as text."""
    for name in frame.columns:
        column = frame[name]
        if (str(name).lower() in texts or pd.api.types.is_numeric_dtype(column)
                or not column.notna().any()):
            continue
        values = column.dropna().astype(str).str.strip()
        if values.str.fullmatch(r"[-+]?\d+,\d*(?:[eE][-+]?\d+)?").all():
            frame[name] = pd.to_numeric(column.str.replace(",", ".", regex=False))
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = pd.read_parquet(path)
    # integers with nulls come back as floats when the file has no pandas metadata (Spark,
    # DuckDB, polars write it so): read them again as nullable integers, exact past 2**53
    inexact = [f.name for f in pq.read_schema(path) if pa.types.is_integer(f.type)
               and f.name in frame and frame[f.name].dtype.kind == "f"]
    if inexact:
        table = pq.read_table(path, columns=inexact)
        for name in inexact:
            kind = table.column(name).type
            nullable = f"{'U' if pa.types.is_unsigned_integer(kind) else ''}Int{kind.bit_width}"
            frame[name] = pd.array(table.column(name).to_pylist(), dtype=nullable)
    if isinstance(frame.index, pd.RangeIndex):
        return frame
    # a frame saved with e.g. id_str as its index: bring the named index back as a column
    return frame.reset_index(drop=frame.index.names == [None])


def _decode_text(table: Table) -> None:
    """FITS text columns (bytes) as ``str``, masks kept; astropy's mixin columns (a
    ``SkyCoord`` or ``Time`` it wrote) left to :meth:`~astropy.table.Table.to_pandas`."""
    from astropy.table import Column

    plain = [name for name in table.colnames if isinstance(table[name], Column)]
    if plain:
        text = table[plain]  # the same columns, without the mixins astropy cannot decode
        text.convert_bytestring_to_unicode()
        for name in plain:
            table[name] = text[name]


def _astropy_reader(fmt: str) -> Callable[[Path], pd.DataFrame]:
    def read(path: Path) -> pd.DataFrame:
        """The table in ``path``, or the first of several with a warning naming the file;
        astropy's notes on header and unit standards (printed in its own format) are left
        out: the table is read, or an error raised."""
        from astropy.table import Table

        several = False
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                table = Table.read(path, format=fmt)
            except ValueError as err:  # a VOTable of several tables
                if "Multiple tables found" not in str(err):
                    raise
                table, several = Table.read(path, format=fmt, table_id=0), True
        if several or any("multiple tables are present" in str(w.message) for w in caught):
            warnings.warn(f"{path} holds more than one table: read the first ({len(table)} "
                          "rows), the others are not read (save the one to use in a file of "
                          "its own)", GalmorphWarning, stacklevel=4)
        _decode_text(table)
        return table.to_pandas()

    return read


_READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "parquet": _read_parquet,
    "fits": _astropy_reader("fits"),
    "votable": _astropy_reader("votable"),
    "ascii.ecsv": _astropy_reader("ascii.ecsv"),
}


def read_table(path: str | Path, text_columns: Collection[str] = ()) -> pd.DataFrame:
    """Read a table file into a DataFrame, whatever its format.

    Formats by extension: CSV (``.csv``, ``.tsv``, gzipped too), parquet (``.parquet``,
    ``.pq``), FITS binary table (``.fits``, ``.fit``, ``.fits.gz``), VOTable
    (``.xml``, ``.vot``, ``.votable``) and ECSV (``.ecsv``). FITS text columns
    are decoded to ``str``; of a file of several tables the first is read, with a warning.
    CSV columns ``id_str``, ``file_loc`` and those named in ``text_columns`` (any case) are
    read as text, as written (``007`` stays ``007``); ``#`` comment lines (with a warning
    where they are among the rows) and VizieR's units and ``---`` rows are skipped.

    Raises:
        CatalogError: naming the file when it is missing, has an unknown
            extension, or cannot be parsed.
        TypeError: when ``path`` is not a path.

    Example:
        >>> frame = read_table("galaxies.fits")  # doctest: +SKIP
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            "this reads a catalog file, given by its path; check a DataFrame you already "
            "have with load_catalog(frame)" if isinstance(path, pd.DataFrame) else
            f"a catalog is a table file's path or a pandas DataFrame, not a "
            f"{type(path).__name__}")
    path = user_path(path)
    if not path.is_file():
        what = "is a folder, not a table file" if path.is_dir() else "does not exist"
        raise CatalogError(f"catalog {path} {what}")
    name = path.name.lower()
    fmt = next((f for end, f in FORMATS.items() if name.endswith(end)), None)
    # an image given where a catalog belongs: say how to predict images without a table
    image = (f"; if {path.name} is an image, give the folder that holds it (each image in "
             "it a galaxy) or a catalog that lists it") if name.endswith(IMAGE_SUFFIXES) else ""
    if fmt is None:
        raise CatalogError(
            f"cannot read {path}: unknown table format; "
            f"use a file ending in one of {', '.join(FORMATS)}{image}"
        )
    try:
        return _read_csv(path, text_columns) if fmt == "csv" else _READERS[fmt](path)
    except Exception as err:  # any parser failure means a bad file, reported as such
        raise CatalogError(f"cannot read {path} as a {fmt} table: {err}{image}") from err
