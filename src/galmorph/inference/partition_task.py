"""One partition of a partitioned catalog, predicted or embedded into its output file.

:func:`run_partition` is the unit of work of :mod:`galmorph.inference.dask_run`:
it reads one partition (:func:`galmorph.inference.partitions.read_partition`),
runs the single-file code path on it (:func:`galmorph.inference.predict.predict_catalog`
or :func:`galmorph.inference.embed.embed_catalog`) and writes the table
atomically with the same metadata as a single-file output. Memory holds one
partition. The model is loaded once per process (:func:`job_model`), so a Dask
worker loads it for its first partition and reuses it for the next ones.

A partition without rows is not an error: nothing is written for it (a file an
earlier run wrote for it is removed), with a warning, and its result has 0 rows.

Errors caused by the input (a bad row, a corrupt image, another model) do not
raise: they come back in :attr:`PartitionResult.error`, naming the partition
file and the row, so that the other partitions go on and a failed one is not
retried. GalmorphWarnings (e.g. rows skipped for a missing image, galaxies left out
for an unreadable one) come back in :attr:`PartitionResult.warnings`, naming the
partition file.

Example:
    >>> sha = job_model("gz2-starter").checksum  # doctest: +SKIP
    >>> job = PartitionJob("predict", "gz2-starter", sha, Path("out"))  # doctest: +SKIP
    >>> run_partition(find_partitions("cat")[0], job).rows_written  # doctest: +SKIP
    812
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from galmorph.exceptions import (
    GalmorphError,
    GalmorphWarning,
    ImageError,
    ModelError,
    user_message,
)
from galmorph.inference.partitions import Partition, count_rows, read_partition
from galmorph.inference.resumable import ids_digest, remove_leftovers

if TYPE_CHECKING:
    import pandas as pd

    from galmorph.models.checkpoint import LoadedModel

#: Kinds of output a job makes.
KINDS = ("predict", "embed")
#: Options that change how fast results come, not what they are (left out of the manifest).
SPEED_OPTIONS = ("batch_size", "num_workers", "device", "progress", "backend")


@dataclass(frozen=True)
class PartitionJob:
    """What to do with every partition; sent to the workers with each partition.

    Attributes:
        kind: ``predict`` or ``embed``.
        model: the model as :func:`galmorph.models.checkpoint.load_model` takes it
            (name, path, ``hf_hub:``), loaded by each worker.
        model_sha256: the model file's SHA-256; a worker whose model differs fails.
        out_dir: the output folder (partitions' files mirror the input's).
        options: keyword arguments of ``predict_catalog`` / ``embed_catalog``
            (e.g. ``views``, ``mc_samples``, ``device``).
        image: an external encoder's image settings (``load_model``'s ``image``).
        id_column, file_column: the catalog's id and image-path columns, when not
            ``id_str`` and ``file_loc``.
        drop_missing_images: skip rows whose image file is missing, with a warning.
        skip_unreadable_images: leave out galaxies whose image cannot be read, with a
            warning (neither changes another galaxy's result, so neither is in the
            :meth:`fingerprint`).
    """

    kind: str
    model: str
    model_sha256: str
    out_dir: Path
    options: Mapping[str, Any] = field(default_factory=dict)
    image: Mapping[str, Any] | None = None
    id_column: str | None = None
    file_column: str | None = None
    drop_missing_images: bool = False
    skip_unreadable_images: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

    def fingerprint(self) -> dict[str, Any]:
        """What the results depend on besides the rows (the manifest's ``job``): the
        options but for speed, and the image column and external encoder's image settings
        when given (the same ids with other images or another crop are other results)."""
        kept = {k: v for k, v in self.options.items() if k not in SPEED_OPTIONS}
        given = {"file_column": self.file_column,
                 "image": dict(self.image) if self.image else None}
        return {"kind": self.kind, "model_sha256": self.model_sha256, **kept,
                **{k: v for k, v in given.items() if v is not None}}


@dataclass(frozen=True)
class PartitionResult:
    """What became of one partition.

    Attributes:
        relative: the partition's path under the root.
        rows: rows of the input partition; ids_sha256: SHA-256 of its ids.
        rows_written: rows of the output (fewer when rows were skipped).
        rows_unreadable: rows left out because their image could not be read.
        error: why it failed (None: its output is written, unless it has no rows).
        unreadable_image: whether it failed on an image that cannot be read.
        warnings: GalmorphWarning messages raised while doing it.
    """

    relative: str
    rows: int = 0
    ids_sha256: str = ""
    rows_written: int = 0
    error: str | None = None
    rows_unreadable: int = 0
    unreadable_image: bool = False
    warnings: tuple[str, ...] = ()


@functools.lru_cache(maxsize=2)
def _load(model: str, image: str, device: str) -> LoadedModel:
    from galmorph.models.checkpoint import load_model
    from galmorph.models.device import resolve_device

    return load_model(model, resolve_device(device), image=json.loads(image))


def job_model(model: str, image: Mapping[str, Any] | None = None,
              device: str = "cpu") -> LoadedModel:
    """The model, loaded once per process and device (later calls return the same one)."""
    return _load(model, json.dumps(dict(image) if image else None, sort_keys=True), device)


def _compute(frame: pd.DataFrame, loaded: LoadedModel, job: PartitionJob) -> pd.DataFrame:
    if job.kind == "predict":
        from galmorph.inference.predict import predict_catalog

        return predict_catalog(frame, loaded, skip_unreadable_images=job.skip_unreadable_images,
                               **job.options)
    from galmorph.inference.embed import embed_catalog

    return embed_catalog(frame, loaded, skip_unreadable_images=job.skip_unreadable_images,
                         **job.options)


def _naming(message: str, partition: Partition) -> str:
    """``message`` (an error's or a warning's), starting with the partition file unless
    it names it already."""
    return message if str(partition.path) in message else f"{partition.path}: {message}"


def _process(partition: Partition, job: PartitionJob) -> PartitionResult:
    ids: list[object] = []
    output = partition.output(job.out_dir)
    try:
        if count_rows(partition) == 0:
            output.unlink(missing_ok=True)  # of an earlier run, when it had rows
            warnings.warn(f"{partition.path} has no rows: no output is written for it",
                          GalmorphWarning, stacklevel=2)
            return PartitionResult(partition.relative, 0, ids_digest([]))
        device = str(job.options.get("device", "cpu"))
        loaded = job_model(job.model, job.image, device)
        if loaded.checksum != job.model_sha256:  # the file may have changed since: load again
            _load.cache_clear()
            loaded = job_model(job.model, job.image, device)
        if loaded.checksum != job.model_sha256:
            raise ModelError(f"this worker's model {job.model} ({loaded.path}) has SHA-256 "
                             f"{loaded.checksum[:12]}..., not {job.model_sha256[:12]}... as "
                             "where the job started: give every worker the same model file")
        frame, stored_ids = read_partition(partition, id_column=job.id_column,
                                           file_column=job.file_column,
                                           drop_missing_images=job.drop_missing_images)
        ids = stored_ids.tolist()
        table = _compute(frame, loaded, job)
    except GalmorphError as err:
        return PartitionResult(partition.relative, len(ids), ids_digest(ids),
                               error=_naming(user_message(err), partition),
                               unreadable_image=isinstance(err, ImageError))
    from galmorph.inference.outputs import write_table

    remove_leftovers(output)  # of a worker killed while writing it
    write_table(table, output, table.attrs["galmorph"])
    return PartitionResult(partition.relative, len(ids), ids_digest(ids), len(table),
                           rows_unreadable=len(frame) - len(table))


def run_partition(partition: Partition, job: PartitionJob) -> PartitionResult:
    """Predict or embed one partition into ``partition.output(job.out_dir)`` (atomically).

    Other errors than :class:`GalmorphError` (a bug, a full disk) raise, and Dask
    retries the partition.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GalmorphWarning)
        result = _process(partition, job)
    for other in caught:
        if not issubclass(other.category, GalmorphWarning):
            warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    messages = [_naming(str(w.message), partition) for w in caught
                if issubclass(w.category, GalmorphWarning)]
    return replace(result, warnings=tuple(messages))
