"""Partitioned catalogs: one catalog cut into parquet files, read one partition at a time.

A partitioned catalog is a folder of parquet files at any depth, e.g. a HATS
catalog's ``dataset/Norder=N/Dir=D/Npix=P.parquet`` files, or a glob such as
``'cat/**/*.parquet'``. Its *root* is the folder given (for a glob, the folder
before the first component with a wildcard): partitions are named by their path
relative to it, outputs mirror those paths (:meth:`Partition.output`), and a
relative ``file_loc`` is read from it. Files and folders whose names start with
``.`` or ``_`` (temporary files, ``_metadata``) are not partitions, as in pyarrow.

Catalogs without ``id_str`` or ``file_loc`` (HATS catalogs have neither) name
their columns: ``read_partition(p, id_column="objid", file_column="cutout")``;
a column already called ``id_str`` (or ``file_loc``) then gives way to the named one.

Examples
--------
>>> from galmorph.inference.partitions import find_partitions, is_partitioned
>>> is_partitioned("catalog.csv")
False
>>> parts = find_partitions("hats_cat/dataset")  # doctest: +SKIP
>>> parts[0].relative, parts[0].output("out")  # doctest: +SKIP
('Norder=0/Dir=0/Npix=4.parquet', PosixPath('out/Norder=0/Dir=0/Npix=4.parquet'))
"""

from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from galmorph.data.catalog import find_column, rename_columns
from galmorph.data.defaults import FORMATS
from galmorph.data.image_folder import holds_images
from galmorph.data.table_files import read_table
from galmorph.data.validation import inspect_catalog
from galmorph.exceptions import CatalogError, GalmorphError, GalmorphWarning
from galmorph.inference.manifest import MANIFEST_NAME

#: Characters that make a catalog argument a glob pattern.
GLOB_CHARS = "*?["
#: File ending of partitions.
SUFFIX = ".parquet"
#: Name prefixes of files and folders that are never partitions.
IGNORED_PREFIXES = (".", "_")


@dataclass(frozen=True)
class Partition:
    """One file of a partitioned catalog.

    Attributes:
        root: the catalog's root folder (absolute).
        relative: the file's path under ``root``, with ``/`` separators.
    """

    root: Path
    relative: str

    @property
    def path(self) -> Path:
        return self.root / self.relative

    def output(self, out_dir: str | Path) -> Path:
        """Where this partition's results go in ``out_dir``: the same relative path."""
        return Path(out_dir) / self.relative


def is_partitioned(source: str | Path) -> bool:
    """Whether a catalog argument names a partitioned catalog: a glob, or a folder, but
    for one of image files with no parquet file (a catalog of its images, see
    :func:`~galmorph.data.catalog.read_catalog_source`). A path that is not there and
    names a table file of another kind (``cat[1].csv``) is a missing file, not a glob."""
    path = Path(source)
    if path.is_dir():
        has_parquet = next(path.rglob(f"*{SUFFIX}"), None) is not None
        return has_parquet or not holds_images(path)
    other_table = path.name.lower().endswith(tuple(e for e in FORMATS if e != SUFFIX))
    return not path.exists() and not other_table and any(c in str(source) for c in GLOB_CHARS)


def _glob_root(pattern: str) -> Path:
    """The folder before the first path component with a wildcard."""
    fixed = []
    for part in Path(pattern).parts:
        if any(c in part for c in GLOB_CHARS):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


#: Folders of a HATS catalog's partitions start with this (``Norder=N/Dir=D/Npix=P``).
HATS_ORDER_PREFIX = "Norder="


#: File that makes a folder a HATS collection (a catalog with its margin and index catalogs).
HATS_COLLECTION_FILE = "collection.properties"


def _refuse_collection(folder: Path, text: str) -> None:
    """Raise for a HATS collection's folder: its margin catalogs repeat galaxies of the
    main one, which would be predicted twice.

    Raises:
        CatalogError: naming the main catalog's folder (``hats_primary_table_url``).
    """
    properties = folder / HATS_COLLECTION_FILE
    if not properties.is_file():
        return
    main = next((line.split("=", 1)[1].strip() for line in properties.read_text().splitlines()
                 if line.split("=", 1)[0].strip() == "hats_primary_table_url"), "CATALOG")
    raise CatalogError(
        f"{text} is a HATS collection ({properties}): its margin catalogs repeat galaxies of "
        f"its main catalog, which would be done twice; give the main catalog's folder, "
        f"{Path(text) / main}")


def _is_partition(path: Path, root: Path) -> bool:
    relative = path.relative_to(root)
    return (path.name.endswith(SUFFIX) and path.is_file()
            and not any(p.startswith(IGNORED_PREFIXES) for p in relative.parts))


def _other_tables(root: Path, partitions: Sequence[Path]) -> list[Path]:
    """Table files that are not partitions (CSV, FITS, ``.pq``...) in the folders of
    ``partitions`` (all of ``root`` when there are none); names starting with ``.`` or
    ``_`` aside."""
    endings = tuple(end for end in FORMATS if end != SUFFIX)
    found = ([path for folder in {p.parent for p in partitions} for path in folder.iterdir()]
             if partitions else root.rglob("*"))
    return sorted(
        path for path in found
        if path.name.lower().endswith(endings) and path.is_file()
        and not any(p.startswith(IGNORED_PREFIXES) for p in path.relative_to(root).parts))


def _warn_other_tables(root: Path, partitions: Sequence[Path], text: str) -> None:
    """Warn of table files beside the partitions that are not read (their galaxies would be
    missing from the results without a word), or raise when there are only such files.

    Raises:
        CatalogError: when the folder holds no partition but other table files.
    """
    others = _other_tables(root, partitions)
    if not others:
        return
    shown = ", ".join(PurePosixPath(p.relative_to(root)).as_posix() for p in others[:3])
    more = f" and {len(others) - 3} more" if len(others) > 3 else ""
    why = (f"only {SUFFIX} files are partitions of a partitioned catalog: convert them "
           f"(pandas.read_csv(f).to_parquet(...)) or move them out of {text}")
    if not partitions:
        raise CatalogError(f"no parquet files ({SUFFIX}) found in {text} (or its subfolders), "
                           f"but {len(others)} other table file(s): {shown}{more}; {why}")
    warnings.warn(f"{len(others)} table file(s) in {text} are not {SUFFIX} files and are "
                  f"left out, with their galaxies: {shown}{more}; {why}",
                  GalmorphWarning, stacklevel=3)


def find_partitions(source: str | Path) -> list[Partition]:
    """The partitions of a folder (parquet files at any depth) or glob, sorted by path.

    In a folder holding a HATS catalog, only the files under ``Norder=*`` folders are
    partitions (not the one-row-per-pixel ``data_thumbnail.parquet`` beside them). Other
    table files (CSV, FITS, ``.pq``) beside the partitions are left out with a warning.

    Raises:
        CatalogError: when ``source`` is neither a folder nor a glob, is a HATS
            collection's folder (give its main catalog's), or no parquet file is found
            (naming the other table files of a folder that has only those).
    """
    text = str(source)
    if Path(text).is_dir():
        root = Path(os.path.abspath(text))
        _refuse_collection(root, text)
        found = root.rglob(f"*{SUFFIX}")
        where = f"in {text} (or its subfolders)"
    elif is_partitioned(text):
        root = Path(os.path.abspath(_glob_root(text)))
        found = (Path(os.path.abspath(p)) for p in glob.glob(text, recursive=True))
        where = f"matching {text}"
    else:
        raise CatalogError(f"{text} is neither a folder of parquet files nor a glob pattern")
    paths = sorted({p for p in found if _is_partition(p, root)})
    if Path(text).is_dir():
        pixels = [p for p in paths if any(part.startswith(HATS_ORDER_PREFIX)
                                          for part in p.relative_to(root).parts)]
        paths = pixels or paths  # a HATS catalog: its pixels, not data_thumbnail.parquet
        _warn_other_tables(root, paths, text)
    if not paths:
        raise CatalogError(f"no parquet files ({SUFFIX}) found {where}"
                           + (", and no images" if Path(text).is_dir() else ""))
    return [Partition(root, PurePosixPath(p.relative_to(root)).as_posix()) for p in paths]


def check_output_dir(partitions: Sequence[Partition], out_dir: str | Path) -> Path:
    """``out_dir`` as a folder for the partitions' outputs (absolute).

    Raises:
        GalmorphError: when it is a file, is named like a table file (``preds.parquet``)
            and is not yet a folder, is inside the catalog's root (a re-run would
            read the outputs as partitions), or is a folder without a manifest holding
            files galmorph did not write at the outputs' paths (a copy of the catalog).
    """
    out = Path(os.path.abspath(out_dir))
    if out.exists() and not out.is_dir():
        raise GalmorphError(f"the output {out_dir} is a file; give a folder for the partitions")
    ending = next((end for end in FORMATS if out.name.lower().endswith(end)), None)
    if ending is not None and not out.exists():  # a folder of an earlier run is taken as it is
        raise GalmorphError(
            f"the output {out_dir} names a table file, but the catalog is partitioned "
            f"({len(partitions)} parquet file{'' if len(partitions) == 1 else 's'}), and its "
            "results are written as a folder that mirrors it, one file per partition: "
            f"give a folder name, e.g. {str(out_dir)[:-len(ending)] or 'results'}")
    for root in {p.root for p in partitions}:
        if out == root or root in out.parents:
            raise GalmorphError(f"the output folder {out_dir} is inside the catalog's folder "
                                f"{root}; write it elsewhere")
    foreign = _foreign_outputs(partitions, out)
    if foreign:
        others = f" and {len(foreign) - 1} more files" if len(foreign) > 1 else ""
        raise GalmorphError(
            f"the output folder {out_dir} already holds {foreign[0]}{others}, not written by "
            f"galmorph (there is no {MANIFEST_NAME}), which the results would overwrite: "
            "give a new or empty folder")
    return out


def _foreign_outputs(partitions: Sequence[Partition], out: Path) -> list[Path]:
    """Files at the outputs' paths in a folder without a manifest (not a galmorph output
    folder) that galmorph did not write, e.g. a copy of the catalog."""
    import pyarrow.parquet as pq

    if not out.is_dir() or (out / MANIFEST_NAME).is_file():
        return []
    foreign = []
    for partition in partitions:
        path = partition.output(out)
        if not path.exists():
            continue
        try:
            written = b"galmorph_model" in (pq.read_schema(path).metadata or {})
        except Exception:  # pyarrow raises several types for a file that is not parquet
            written = False
        if not written:
            foreign.append(path)
    return foreign


def count_rows(partition: Partition) -> int:
    """The rows of a partition, from its parquet footer (no column is read).

    Raises:
        CatalogError: naming the file when it is not a readable parquet file.
    """
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(partition.path).metadata.num_rows)
    except Exception as err:  # pyarrow raises several types for a bad file
        raise CatalogError(f"cannot read {partition.path} as a parquet table: {err}") from None


def read_ids(partition: Partition, id_column: str | None = None) -> pd.Series:
    """The id column of a partition, read alone (as stored: not yet text); its name matches
    in any case, as :func:`~galmorph.data.catalog.read_catalog` matches it."""
    import pyarrow.parquet as pq

    column = id_column or "id_str"
    try:
        column = find_column(pq.read_schema(partition.path).names, column) or column
        table = pq.read_table(partition.path, columns=[column])
    except Exception as err:  # pyarrow raises several types for a bad file or column
        raise CatalogError(f"cannot read column {column!r} of {partition.path}: {err}") from None
    return table.column(column).to_pandas()


def read_partition(
    partition: Partition,
    *,
    id_column: str | None = None,
    file_column: str | None = None,
    drop_missing_images: bool = False,
) -> tuple[pd.DataFrame, pd.Series]:
    """Read and check one partition, like :func:`galmorph.data.catalog.load_catalog`.

    Returns:
        The catalog (``id_str`` as text, ``file_loc`` absolute, read from the root;
        rows with a missing image dropped, with a warning, when asked) and the
        ids as stored, before any row is dropped (what :func:`read_ids` reads).

    Raises:
        CatalogError: naming the partition file and its offending rows (numbered
            from 0 in the file).
    """
    source = str(partition.path)
    frame = rename_columns(read_table(partition.path), source, id_column, file_column)
    ids = frame["id_str"].copy() if "id_str" in frame else pd.Series([], dtype=object)
    frame, summary = inspect_catalog(frame, None, source, partition.root, check_images=True,
                                     drop=drop_missing_images)
    if summary.errors:
        listed = "\n".join(f"  - {e}" for e in summary.errors)
        raise CatalogError(f"{source}: {summary.errors[0]}" if len(summary.errors) == 1
                           else f"{source} has {len(summary.errors)} problems:\n{listed}")
    for message in summary.warnings:
        warnings.warn(f"{source}: {message}", GalmorphWarning, stacklevel=2)
    return frame, ids
