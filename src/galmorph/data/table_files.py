"""Read a table file of any format astronomers use into a DataFrame.

:func:`read_table` reads CSV (``.csv``, ``.tsv``, gzipped too, as Excel writes it too),
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
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from galmorph.data.defaults import FORMATS
from galmorph.data.image_folder import IMAGE_SUFFIXES
from galmorph.exceptions import CatalogError, GalmorphWarning
from galmorph.files import user_path


def _csv_layout(path: Path) -> tuple[int, str, str]:
    """Number of lines before the header (``#`` comments, as galmorph's CSV outputs carry
    metadata; blank lines; Excel's ``sep=;``), the header's separator (the one ``sep=``
    names, else ``,``, or ``;`` or a tab when it has those and no comma: spreadsheets in
    many European locales write ``;``) and the encoding: UTF-16 where a byte-order mark
    says so (Windows PowerShell writes it), else UTF-8.
    """
    import codecs
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        utf16 = handle.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    count, header, named = 0, "", None
    # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the first line
    with opener(path, "rt", encoding="utf-16" if utf16 else "utf-8-sig",
                errors="replace") as handle:
        for line in handle:
            excel = re.fullmatch(r"sep=(.)", line.strip("\r\n")) if count == 0 else None
            if excel is None and line.strip() and not line.startswith("#"):
                header = line
                break
            named = excel.group(1) if excel else named
            count += 1
    separator = named or next((s for s in (",", ";", "\t") if s in header), ",")
    return count, separator, "utf-16" if utf16 else "utf-8"


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
    # a spreadsheet's trailing rows of empty cells (",,,") are no galaxies
    return frame.iloc[:filled[-1] + 1 if len(filled) else 0]


def _read_csv_text(path: Path, options: dict[str, Any], texts: set[str]) -> pd.DataFrame:
    """A CSV file read with ``options``: the columns ``texts`` names (lower case) as text,
    spaces around column names (``id_str , file_loc``) left out."""
    names = pd.read_csv(path, nrows=0, **options).columns
    dtype = {name: str for name in names if str(name).strip().lower() in texts}
    frame = pd.read_csv(path, dtype=dtype, **options)
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


def _astropy_reader(fmt: str) -> Callable[[Path], pd.DataFrame]:
    def read(path: Path) -> pd.DataFrame:
        from astropy.table import Table

        table = Table.read(path, format=fmt)
        table.convert_bytestring_to_unicode()  # FITS text columns are bytes
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
    are decoded to ``str``. CSV columns ``id_str``, ``file_loc`` and those named in
    ``text_columns`` (any case) are read as text, as written (``007`` stays ``007``).

    Raises:
        CatalogError: naming the file when it is missing, has an unknown
            extension, or cannot be parsed.
        TypeError: when ``path`` is not a path.

    Example:
        >>> frame = read_table("galaxies.fits")  # doctest: +SKIP
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"a catalog is a table file's path or a pandas DataFrame, not a "
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
