"""The examples file of ``galmorph similar --examples``: the ids of galaxies you know.

:func:`read_example_ids` takes a table (any format :func:`galmorph.data.table_files.read_table`
reads: a ranking, a labels export, a TOPCAT selection) with an ``id_str`` column, or a
table of one column (whatever its name: its header is taken as an id too when it holds a
digit, for a list saved without one), or a text file of one id per line, whatever its
ending (``.txt``, ``.lst``, ``.dat``...), blank lines and ``#`` comments skipped.

Example
-------
>>> read_example_ids("my_rings.txt")  # doctest: +SKIP
['J152056.79+544029.8', 'J090331.68+031613.0']
"""

from __future__ import annotations

import re
from pathlib import Path

from galmorph.data.defaults import FORMATS
from galmorph.data.image_folder import IMAGE_SUFFIXES
from galmorph.exceptions import GalmorphError
from galmorph.files import user_path


def _from_table(path: Path) -> list[str]:
    from galmorph.data.table_files import read_table

    table = read_table(path)
    column = next((c for c in table.columns if str(c).lower() == "id_str"), None)
    header: list[str] = []
    if column is None and len(table.columns) == 1:
        column = table.columns[0]
        table = read_table(path, text_columns=[str(column)])  # ids as written: 007, int64
        header = [str(column)] if re.search(r"\d", str(column)) else []  # saved without one
    if column is None:
        raise GalmorphError(
            f"examples file {path} has no id_str column (its columns: "
            f"{', '.join(map(str, table.columns[:8]))}): give a table with the examples' "
            "id_str, or a text file of one id per line")
    return header + [str(value).strip() for value in table[column].dropna()]


def _from_text(path: Path) -> list[str]:
    data = path.read_bytes()
    try:
        if b"\x00" in data:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte")
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise GalmorphError(
            f"examples file {path} is neither a text file of ids (one per line) nor a table "
            f"(a file ending in {', '.join(FORMATS)})") from None
    return [line.split("#", 1)[0].strip() for line in text.splitlines()]


def read_example_ids(path: str | Path) -> list[str]:
    """The ids of an examples file, in file order without repeats (see the module docs).

    Raises:
        GalmorphError: naming the file when it is missing, an image, a table without an
            ``id_str`` column, not text, or holds no id.
    """
    path = user_path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise GalmorphError(f"examples file {path} {what}")
    name = path.name.lower()
    table = name.endswith(tuple(FORMATS))  # a FITS file is a table (a TOPCAT selection)
    if name.endswith(IMAGE_SUFFIXES) and not table:
        raise GalmorphError(
            f"examples file {path} is an image: give a text file of the examples' ids (one "
            "per line) or a table with their id_str; to search by one image use --image")
    ids = [i for i in (_from_table(path) if table else _from_text(path)) if i]
    if not ids:
        raise GalmorphError(f"examples file {path} holds no galaxy id")
    return list(dict.fromkeys(ids))
