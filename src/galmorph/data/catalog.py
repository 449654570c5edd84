"""Read galaxy catalogs and check them against a Galaxy Zoo decision tree.

A catalog is a table with one row per galaxy: ``id_str`` (a unique name),
``file_loc`` (the image path, relative to the catalog file or absolute) and, to
train or evaluate, one vote-count column per answer of a
:class:`~galmorph.data.tree.Schema`. Tables can be CSV, parquet, FITS, VOTable or
ECSV (see :func:`galmorph.data.table_files.read_table`).

:func:`load_catalog` checks a catalog and raises on any problem;
:func:`summarize_catalog` gathers the problems instead (the checks are in
:mod:`galmorph.data.validation`).

Rows are numbered from 0 in file order (the header is not a row) in messages.

Examples
--------
>>> import warnings
>>> from importlib.resources import files
>>> from galmorph.data.catalog import load_catalog
>>> demo = files("galmorph") / "demo_data" / "gz2_demo" / "catalog.csv"
>>> with warnings.catch_warnings(record=True) as caught:
...     cat = load_catalog(demo, "gz2")
>>> print(caught[0].message)  # doctest: +ELLIPSIS
/.../catalog.csv: no vote columns for 2 questions of schema 'gz2': t10_arms_winding, ...
>>> len(cat), int(cat["t10_arms_winding_a28_tight_count"].max())
(630, 0)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from galmorph.data.image_folder import image_folder_catalog
from galmorph.data.table_files import read_table
from galmorph.data.tree import Schema
from galmorph.data.validation import CatalogSummary, inspect_catalog
from galmorph.exceptions import CatalogError, GalmorphWarning
from galmorph.files import user_path

#: What :func:`load_catalog` reads: a table file's path, or a DataFrame.
CatalogSource = str | Path | pd.DataFrame


def catalog_name(catalog: CatalogSource) -> str:
    """How messages name a catalog: its path, or ``the catalog`` for a DataFrame
    (its file's, when :func:`read_catalog` read it)."""
    if isinstance(catalog, pd.DataFrame):
        return str(catalog.attrs.get("source", "the catalog"))
    return str(catalog)


def read_catalog_source(path: str | Path, text_columns: Collection[str] = ()) -> pd.DataFrame:
    """A catalog's rows: a table file (:func:`read_table`, ``text_columns`` as there), or a
    folder of image files (:func:`~galmorph.data.image_folder.image_folder_catalog`).

    Raises:
        CatalogError: as :func:`read_table`, or for a folder that holds no image file.
    """
    if isinstance(path, str | os.PathLike) and user_path(path).is_dir():
        return image_folder_catalog(user_path(path))
    return read_table(path, text_columns)


def rename_columns(
    frame: pd.DataFrame, source: str, id_column: str | None, file_column: str | None
) -> pd.DataFrame:
    """``frame`` with ``id_column`` renamed ``id_str`` and ``file_column`` ``file_loc``.

    Names match in any case when only one column does (``--id-column objid`` names
    ``OBJID``). None (or the standard name) takes the column of the standard name, or the
    one that is it in another case (``ID_STR``, as FITS tables often have; so are ``RA``
    and ``DEC`` read as ``ra`` and ``dec``). A column that already has the standard name
    is dropped in favour of the named one. ``attrs["column_names"]`` maps the standard
    names to the file's, for messages.

    Raises:
        CatalogError: naming ``source`` when a named column is missing, or both
            options name the same column.
    """
    if id_column is not None and id_column == file_column:
        raise CatalogError(f"--id-column and --file-column both name {id_column!r}")
    renames = {}
    for given, standard, option in ((id_column, "id_str", "--id-column"),
                                    (file_column, "file_loc", "--file-column"),
                                    (None, "ra", ""), (None, "dec", "")):
        found = find_column(frame.columns, standard if given is None else given)
        if found is None and given not in (None, standard):
            shown = ", ".join(map(str, frame.columns[:20]))
            raise CatalogError(f"{source} has no column {given!r} (given by {option}); "
                               f"its columns: {shown}")
        if found is not None and found != standard:
            renames[found] = standard
    replaced = [c for c in renames.values() if c in frame]
    frame = frame.drop(columns=replaced).rename(columns=renames)
    frame.attrs["column_names"] = {standard: given for given, standard in renames.items()}
    return frame


def find_column(columns: Iterable[Any], name: str) -> str | None:
    """Of ``columns`` (names), ``name``, else the only one that is ``name`` in another case
    (``ID_STR`` for ``id_str``), else None."""
    columns = list(columns)
    if name in columns:
        return name
    same = [c for c in columns if isinstance(c, str) and c.lower() == name.lower()]
    return same[0] if len(same) == 1 else None


def read_catalog(
    path: str | Path, id_column: str | None = None, file_column: str | None = None
) -> pd.DataFrame:
    """A catalog file (or a folder of images, see :func:`read_catalog_source`) as a
    DataFrame, its id and image-path columns given their standard names.

    ``id_column`` becomes ``id_str`` and ``file_column`` ``file_loc`` (see
    :func:`rename_columns`). ``attrs`` keep the file's name and folder, so that
    :func:`load_catalog` names the file in messages and reads relative image paths
    from its folder, as for the file itself.

    Raises:
        CatalogError: naming the file when it cannot be read or lacks a named column.

    Example:
        >>> frame = read_catalog("sdss.csv", id_column="objid")  # doctest: +SKIP
    """
    if isinstance(path, str | os.PathLike):
        path = user_path(path)
    named = [c for c in (id_column, file_column) if c is not None]
    frame = rename_columns(read_catalog_source(path, named), str(path), id_column, file_column)
    frame.attrs.update(source=str(path), base_dir=str(Path(path).parent))
    return frame


def load_catalog(
    source: str | Path | pd.DataFrame,
    schema: Schema | str | None = None,
    *,
    base_dir: str | Path | None = None,
    check_images: bool = True,
    drop_missing_images: bool = False,
) -> pd.DataFrame:
    """Read a catalog and check it is ready for training or prediction.

    Args:
        source: a table file (see :func:`read_table`), a folder of image files (see
            :func:`read_catalog_source`) or a DataFrame.
        schema: decision tree (name, YAML path or Schema) whose vote columns
            must be valid counts; None to skip vote checks (unlabelled catalogs).
            Questions with no columns at all are added with 0 votes, with one
            :class:`GalmorphWarning` naming them.
        base_dir: folder that relative ``file_loc`` paths start from (default:
            the catalog file's folder; for a DataFrame, its file's folder when
            :func:`read_catalog` read it, else the working directory).
        check_images: check that every image file exists.
        drop_missing_images: drop rows whose image is missing (with a warning
            saying how many) instead of failing; failing anyway if none exist.

    Returns:
        A new DataFrame with a RangeIndex and all original columns, ``id_str``
        as text, ``file_loc`` as absolute paths and vote columns as int64;
        ``attrs["questions_without_columns"]`` names the schema's questions that had no
        vote columns (added with 0 votes).

    Raises:
        CatalogError: listing every problem found, with the first offending rows.

    Example:
        >>> cat = load_catalog("catalog.csv", "gz2", drop_missing_images=True)  # doctest: +SKIP
    """
    frame, name, root = _source_frame(source, base_dir)
    frame, summary = inspect_catalog(
        frame, schema, name, root, check_images=check_images, drop=drop_missing_images
    )
    if summary.errors:
        if len(summary.errors) == 1:
            raise CatalogError(f"{name}: {summary.errors[0]}")
        listed = "\n".join(f"  - {e}" for e in summary.errors)
        raise CatalogError(f"{name} has {len(summary.errors)} problems:\n{listed}")
    for message in summary.warnings:
        warnings.warn(f"{name}: {message}", GalmorphWarning, stacklevel=2)
    frame.attrs["questions_without_columns"] = list(summary.questions_absent)
    return frame


def _source_frame(
    source: CatalogSource, base_dir: str | Path | None
) -> tuple[pd.DataFrame, str, Path]:
    """A catalog's rows, its name in messages, and the folder its relative paths start from."""
    if isinstance(source, pd.DataFrame):
        root = Path(base_dir or source.attrs.get("base_dir") or Path.cwd())
        return source, source.attrs.get("source", "catalog"), root
    frame = read_catalog(source)  # a TypeError for what is not a path
    source = user_path(source)
    return frame, str(source), Path(base_dir) if base_dir is not None else source.parent


def summarize_catalog(
    path: CatalogSource, schema: Schema | str | None, *, drop_missing_images: bool = False,
    decode_images: bool = False,
) -> CatalogSummary:
    """Check a catalog (a file, folder or DataFrame, as :func:`load_catalog` takes) like
    :func:`load_catalog`, gathering problems instead of raising.

    With ``decode_images`` every image is also read, as the jobs will read it
    (:func:`~galmorph.data.image_checks.read_images`): corrupt files are problems too,
    and the summary counts the image sizes. Without a ``schema`` the vote columns
    are not checked (a catalog to predict or embed needs none).

    Raises only when the file cannot be read at all (CatalogError) or the
    schema is unknown (SchemaError).

    Example:
        >>> summary = summarize_catalog("catalog.csv", "gz2")  # doctest: +SKIP
        >>> summary.usable, summary.n_images_missing  # doctest: +SKIP
        (True, 0)
    """
    frame, name, root = _source_frame(path, None)
    _, summary = inspect_catalog(
        frame,
        schema,
        name,
        root,
        check_images=True,
        drop=drop_missing_images,
        decode_images=decode_images,
    )
    return summary

