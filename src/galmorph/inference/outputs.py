"""Write result tables atomically, in the format their file name asks for, with metadata.

:func:`write_table` writes a DataFrame as parquet (``.parquet``), CSV (``.csv``),
ECSV (``.ecsv``: CSV with its column types and metadata in a YAML header, which
astropy and TOPCAT read) or a FITS binary table (``.fits``). The table goes to a
temporary file in the same folder, which then replaces the target in one step: readers
never see a half-written file, and a failure or Ctrl-C leaves any earlier file untouched
and no temporary file behind (a process killed outright, e.g. by SIGKILL, leaves
only a hidden ``.NAME.*.tmp`` file, never a partial ``NAME``).
:func:`write_table_chunks` does the same for a table given as consecutive row
chunks, streaming parquet and CSV so that memory holds one chunk at a time.

The ``metadata`` (e.g. the model's name, version and checksum) is stored as:

* parquet: key/value pairs of the file's schema metadata;
* FITS: header keywords of the table HDU (``HIERARCH`` cards for long names), and the
  same again as ``HISTORY`` lines (``galmorph_model = gz2-starter``), which TOPCAT shows
  among the table's parameters (it does not read ``HIERARCH`` cards); a value too long
  for one card (the model's sha256) is in the ``HISTORY`` lines only (see
  :mod:`galmorph.inference.fits_tables`);
* ECSV: the ``meta`` of its YAML header;
* CSV: a JSON object in the file ``NAME.csv.meta.json`` beside it (see
  :func:`metadata_sidecar`), so that the CSV file is plain: one header row, then the
  rows, as TOPCAT/STILTS, ``astropy.table.Table.read``, pandas and spreadsheets expect.
  Earlier galmorph versions wrote it as leading ``# key: value`` lines of the CSV
  file; :func:`read_metadata` reads both.

To read it back use :func:`read_metadata`, or the format's own tools::

    pyarrow.parquet.read_schema("out.parquet").metadata     # bytes keys and values
    astropy.io.fits.getheader("out.fits", 1)["galmorph_model"]
    json.loads(Path("out.csv.meta.json").read_text())["galmorph_model"]
    pandas.read_csv("out.csv", dtype={"id_str": str})  # the table; ids stay text

Example
-------
>>> import pandas as pd
>>> frame = pd.DataFrame({"id_str": ["J1"], "ring_fraction": [0.25]})
>>> write_table(frame, "out.csv", {"galmorph_model": "gz2-starter"})  # doctest: +SKIP
PosixPath('out.csv')
>>> read_metadata("out.csv")  # doctest: +SKIP
{'galmorph_model': 'gz2-starter'}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from galmorph.exceptions import GalmorphError
from galmorph.files import atomic_target, user_path
from galmorph.inference.fits_tables import fits_metadata, write_fits_table

#: Output table formats by file-name extension (lower case).
OUTPUT_FORMATS: dict[str, str] = {".parquet": "parquet", ".csv": "csv", ".ecsv": "ecsv",
                                  ".fits": "fits"}
#: Formats :func:`write_table_chunks` gathers in memory and writes at the end.
_GATHERED = {"fits", "ecsv"}



def check_not_folder(path: str | Path, example: str) -> None:
    """Refuse an output file name that is an existing folder, suggesting ``example`` in it.

    Raises:
        GalmorphError: when ``path`` is a folder.
    """
    if user_path(path).is_dir():
        raise GalmorphError(f"cannot write {path}: it is a folder; name the output file, "
                            f"e.g. {Path(path) / example}")


def output_format(path: str | Path, example: str = "predictions.parquet") -> str:
    """The format (``parquet``, ``csv`` or ``fits``) of an output file name.

    ``example`` is the file name suggested inside ``path`` when that is a folder.

    Raises:
        GalmorphError: naming the supported extensions when ``path`` has another, and
            when ``path`` is a folder.
    """
    check_not_folder(path, example)
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        what = f"extension {suffix!r}" if suffix else "no extension"
        raise GalmorphError(
            f"cannot write {path}: {what}; name the output file .parquet, .csv, .ecsv "
            "or .fits"
        )
    return OUTPUT_FORMATS[suffix]


def _write_parquet(frame: pd.DataFrame, path: Path, metadata: Mapping[str, str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    merged = {**(table.schema.metadata or {})}
    merged.update({k.encode(): v.encode() for k, v in metadata.items()})
    pq.write_table(table.replace_schema_metadata(merged), path)


def _write_ecsv(frame: pd.DataFrame, path: Path, metadata: Mapping[str, str],
                descriptions: Mapping[str, str] | None = None) -> None:
    """ECSV; ``descriptions`` of columns in its header."""
    from astropy.table import Table

    table = Table.from_pandas(frame)
    table.meta.update(metadata)
    for name, text in (descriptions or {}).items():
        if name in table.colnames:
            table[name].description = text
    table.write(path, format="ascii.ecsv", overwrite=True)


def _write_csv(frame: pd.DataFrame, path: Path, metadata: Mapping[str, str]) -> None:
    """Plain CSV; ``metadata`` goes to the sidecar file (see :func:`_target`)."""
    frame.to_csv(path, index=False)


def metadata_sidecar(path: str | Path) -> Path:
    """The JSON file that holds the metadata of the CSV table ``path``: ``NAME.csv.meta.json``."""
    path = user_path(path)
    return path.with_name(path.name + ".meta.json")


@contextmanager
def _target(path: Path, fmt: str, metadata: Mapping[str, str]) -> Iterator[Path]:
    """:func:`atomic_target` for ``path``; for CSV, once the block succeeds, the
    metadata sidecar is replaced (atomically) just before the table, or removed when
    there is no metadata, so that no earlier run's metadata is left beside the table."""
    with atomic_target(path) as tmp:
        yield tmp
        if fmt != "csv":
            return
        sidecar = metadata_sidecar(path)
        if not metadata:
            sidecar.unlink(missing_ok=True)
            return
        with atomic_target(sidecar) as tmp_sidecar:
            tmp_sidecar.write_text(json.dumps(dict(metadata), indent=1) + "\n")


_WRITERS: dict[str, Callable[[pd.DataFrame, Path, Mapping[str, str]], None]] = {
    "parquet": _write_parquet,
    "fits": write_fits_table,
    "csv": _write_csv,
    "ecsv": _write_ecsv,
}
#: Formats that keep column descriptions (FITS ``TCOMMn``, ECSV's header).
_DESCRIBED = {"fits": write_fits_table, "ecsv": _write_ecsv}


def _write(fmt: str, frame: pd.DataFrame, path: Path, metadata: Mapping[str, str],
           descriptions: Mapping[str, str] | None) -> None:
    """Write with the format's writer, with ``descriptions`` where it keeps them."""
    if descriptions and fmt in _DESCRIBED:
        _DESCRIBED[fmt](frame, path, metadata, descriptions)
    else:
        _WRITERS[fmt](frame, path, metadata)


def _clean_metadata(metadata: Mapping[str, object] | None) -> dict[str, str]:
    return {str(k): " ".join(str(v).split()) for k, v in (metadata or {}).items()}


def write_table(
    frame: pd.DataFrame, path: str | Path, metadata: Mapping[str, object] | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> Path:
    """Write ``frame`` atomically in the format of ``path``'s extension, with ``metadata``.

    Args:
        frame: the table; its index is not written.
        path: ``.parquet``, ``.csv``, ``.ecsv`` or ``.fits`` file; missing folders are
            created.
        metadata: key/value pairs stored in the file (values become one-line
            strings; keys should be letters, digits and ``_``; FITS writes keys of
            up to 8 characters as standard, upper-case keywords).
        descriptions: what columns hold, by name: FITS (``TCOMMn``) and ECSV files
            keep them, and TOPCAT and astropy show them; other formats leave them out.

    Raises:
        GalmorphError: for an unknown extension, before anything is written.
        TypeError: when ``frame`` is not a DataFrame or ``metadata`` not a mapping.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"write_table writes a pandas DataFrame, not a {type(frame).__name__}")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a mapping of keys to values, not a "
                        f"{type(metadata).__name__}")
    path = user_path(path)
    fmt = output_format(path)
    meta = _clean_metadata(metadata)
    with _target(path, fmt, meta) as tmp:
        _write(fmt, frame, tmp, meta, descriptions)
    return path


def write_table_chunks(
    chunks: Iterable[pd.DataFrame],
    path: str | Path,
    metadata: Mapping[str, object] | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> tuple[Path, int]:
    """Write a table given as consecutive row chunks, like :func:`write_table`.

    Parquet and CSV are streamed: memory holds one chunk at a time, whatever the
    number of rows (each chunk becomes a parquet row group). FITS and ECSV tables
    are gathered in memory and written at the end, with ``descriptions``. Every chunk
    must have the first chunk's columns, in order. The file appears, complete, only
    once the last chunk is written.

    Returns:
        The path and the number of rows written.

    Raises:
        GalmorphError: for an unknown extension (before reading any chunk), or
            when there are no chunks.
    """
    path = user_path(path)
    fmt = output_format(path)
    meta = _clean_metadata(metadata)
    rows = 0
    with _target(path, fmt, meta) as tmp:
        if fmt in _GATHERED:
            frames = list(chunks)
            if frames:
                _write(fmt, pd.concat(frames, ignore_index=True), tmp, meta, descriptions)
            rows = sum(len(f) for f in frames)
        elif fmt == "csv":
            with open(tmp, "w", newline="") as handle:
                for number, chunk in enumerate(chunks):
                    chunk.to_csv(handle, index=False, header=number == 0)
                    rows += len(chunk)
        else:
            rows = _stream_parquet(chunks, tmp, meta)
        if not rows:
            raise GalmorphError(f"no rows to write to {path}")
    return path, rows


def _stream_parquet(chunks: Iterable[pd.DataFrame], path: Path, metadata: Mapping[str, str]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    rows = 0
    try:
        for chunk in chunks:
            table = pa.Table.from_pandas(chunk, schema=schema, preserve_index=False)
            if writer is None:
                merged = {**(table.schema.metadata or {})}
                merged.update({k.encode(): v.encode() for k, v in metadata.items()})
                schema = table.schema.with_metadata(merged)
                table = table.replace_schema_metadata(merged)
                writer = pq.ParquetWriter(path, schema)
            writer.write_table(table)
            rows += len(chunk)
    finally:
        if writer is not None:
            writer.close()
    return rows


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata :func:`write_table` stored in a file, as strings.

    For FITS this is every header keyword of the table HDU that does not describe the
    table's columns, and the entries of its ``HISTORY`` lines that have no keyword
    (:func:`~galmorph.inference.fits_tables.fits_metadata`). For CSV it is the
    leading ``# key: value`` lines where the file starts with ``#`` (as earlier
    versions wrote it), else the sidecar
    :func:`metadata_sidecar` names (``{}`` when there is none).
    """
    path = user_path(path)
    fmt = output_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        stored = pq.read_schema(path).metadata or {}
        return {k.decode(): v.decode() for k, v in stored.items() if k != b"pandas"}
    if fmt == "fits":
        return fits_metadata(path)
    if fmt == "ecsv":
        return _ecsv_metadata(path)
    meta: dict[str, str] = {}
    with open(path, encoding="utf-8-sig") as handle:
        for line in handle:
            if not line.startswith("# "):
                break
            key, _, value = line[2:].rstrip("\n").partition(": ")
            meta[key] = value
    sidecar = metadata_sidecar(path)
    if meta or not sidecar.is_file():
        return meta
    try:
        stored = json.loads(sidecar.read_text(encoding="utf-8"))
    except ValueError as err:  # UnicodeDecodeError included
        raise GalmorphError(f"cannot read the metadata of {path}: {sidecar} is not "
                            f"JSON ({err})") from err
    if not isinstance(stored, dict):
        raise GalmorphError(f"cannot read the metadata of {path}: {sidecar} holds a JSON "
                            f"{type(stored).__name__}, not an object of keys and values")
    return {str(k): str(v) for k, v in stored.items()}


def _ecsv_metadata(path: Path) -> dict[str, str]:
    """The ``meta`` of an ECSV file's YAML header (its ``# `` lines before the table)."""
    from astropy.io.misc import yaml

    lines = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            lines.append(line[2:] if line.startswith("# ") else line[1:])
    if not lines or not lines[0].startswith("%ECSV"):
        raise GalmorphError(f"{path} is not an ECSV file (it does not start with '# %ECSV')")
    try:
        header = yaml.load("".join(lines[1:]))
    except Exception as err:  # the YAML parser raises many types
        raise GalmorphError(f"cannot read the header of {path}: {err}") from None
    meta = header.get("meta", {}) if isinstance(header, dict) else {}
    return {str(k): str(v) for k, v in dict(meta).items()}
