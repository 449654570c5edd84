"""Predict or embed a partitioned catalog, one task per partition, on a Dask cluster.

:func:`run_partitions` skips the partitions the output's manifest
(:mod:`galmorph.inference.manifest`) records as complete for the same rows and
model, then runs :func:`galmorph.inference.partition_task.run_partition` on each
of the others:

* on a Dask cluster (``client``, ``scheduler`` address, or ``workers`` processes
  of a :class:`distributed.LocalCluster` on 127.0.0.1 started here, one thread
  each, no dashboard: :func:`galmorph.inference.hpc.dask_client`): one task per
  partition, submitted with ``pure=False``.
  Dask's scheduler hands partitions to workers as they free up and gives those of
  a worker that dies to another one; a task that raises an unexpected error is
  tried ``retries`` more times. Workers decode images in their own process
  (``num_workers=0``) and show no progress bars; this process shows one of the
  partitions done (option ``progress``), and warns when the cluster has no workers
  yet. The workers of a cluster started elsewhere need one thread each (``dask
  worker --nthreads 1``): a process runs one partition at a time (a warning says
  when they have more);
* with none of those, in this process, one partition after another (no Dask).

Local workers are started with Python's ``spawn``: a script that calls
:func:`run_partitions` needs the usual ``if __name__ == "__main__":`` guard.

This process only lists the partitions and reads their id columns (to check the
manifest); results come back as small :class:`PartitionResult` records, and the
manifest is rewritten as they arrive. A partition that fails (a bad row, a
corrupt image) is reported in :attr:`RunSummary.failed` (its output of an earlier run,
if any, is deleted: it no longer matches the partition) and the others go on; one
without rows in :attr:`RunSummary.empty` (nothing is written for it). A complete
partition whose rows were skipped for a missing image (``drop_missing_images``) is
done again once one of those images is there (this process checks the image files of
such partitions only). The outputs of partitions that were read from the same catalog
folder but are no longer in it (a re-partitioned catalog) are deleted, with a warning;
those read from another folder (a catalog done in pieces) are kept.

Example:
    >>> parts = find_partitions("hats_cat/dataset")  # doctest: +SKIP
    >>> job = PartitionJob("embed", "gz2-starter", sha, Path("emb"), {"views": 1})  # doctest: +SKIP
    >>> summary = run_partitions(parts, job, workers=8)  # doctest: +SKIP
    >>> len(summary.computed), len(summary.skipped), summary.failed  # doctest: +SKIP
    (3072, 0, {})
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.inference.hpc import dask_client
from galmorph.inference.manifest import Manifest, PartitionRecord
from galmorph.inference.partition_task import PartitionJob, PartitionResult, run_partition
from galmorph.inference.partitions import (
    Partition,
    check_output_dir,
    read_ids,
    read_partition,
)
from galmorph.inference.resumable import ids_digest

if TYPE_CHECKING:
    from distributed import Client, Future
    from rich.progress import Progress

#: What runs on one partition: :func:`run_partition`, or a function that calls it.
Task = Callable[[Partition, PartitionJob], PartitionResult]


@dataclass
class RunSummary:
    """What a run did: partitions (paths under the root) computed, skipped as complete,
    failed (with why; ``unreadable``: those that failed on an image that cannot be read)
    and empty (no rows: nothing written), and the rows read and written of those computed
    (fewer written where galaxies without a readable image were left out)."""

    out_dir: Path
    computed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    empty: list[str] = field(default_factory=list)
    rows_written: int = 0
    rows_read: int = 0
    unreadable: list[str] = field(default_factory=list)


def _images_back(partition: Partition, job: PartitionJob, record: PartitionRecord) -> bool:
    """Whether some rows the record says were skipped (for a missing image) have it now
    (rows left out as unreadable are not read again: delete the output to redo them)."""
    if record.rows_written >= record.rows:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GalmorphWarning)  # the rows still skipped
        try:
            frame, _ = read_partition(partition, id_column=job.id_column,
                                      file_column=job.file_column, drop_missing_images=True)
        except GalmorphError:
            return True  # its task says what is wrong
    return len(frame) > record.rows_written + record.rows_unreadable


def _pending(partitions: Sequence[Partition], job: PartitionJob, manifest: Manifest,
             summary: RunSummary) -> list[Partition]:
    """The partitions to compute (those with rows skipped for a missing image that is
    there now included); complete ones go to ``summary.skipped``, unreadable ones to
    ``summary.failed``."""
    todo = []
    for partition in partitions:
        if partition.relative in manifest.records:
            try:
                ids = read_ids(partition, job.id_column)
            except GalmorphError as err:
                _fail(partition.relative, str(err), manifest, summary)
                continue
            if manifest.is_complete(partition.relative, len(ids), ids_digest(ids),
                                    job.model_sha256) and not _images_back(
                    partition, job, manifest.records[partition.relative]):
                summary.skipped.append(partition.relative)
                continue
            manifest.forget(partition.relative)  # stale: its output is made again
        todo.append(partition)
    return todo


def _drop_gone(partitions: Sequence[Partition], manifest: Manifest) -> None:
    """Delete, with a warning, the outputs of partitions gone from the catalog."""
    if not partitions:
        return
    root = partitions[0].root
    gone = manifest.drop_gone(root, {partition.relative for partition in partitions})
    if gone:
        manifest.save()
        many = len(gone) > 1
        warnings.warn(
            f"removed the output{'s' if many else ''} of {len(gone)} partition"
            f"{'s' if many else ''} no longer in {root} (re-partitioned or deleted), e.g. "
            f"{manifest.out_dir / gone[0]}: {'their' if many else 'its'} galaxies would "
            "otherwise be read twice with those of the new partitions",
            GalmorphWarning, stacklevel=3)


def _fail(relative: str, message: str, manifest: Manifest, summary: RunSummary) -> None:
    """Note a failed partition, and delete its output of an earlier run: that was made from
    the partition as it was, and would be read with the folder as if it were current."""
    summary.failed[relative] = message
    manifest.forget(relative)
    (manifest.out_dir / relative).unlink(missing_ok=True)


def _note(result: PartitionResult, job: PartitionJob, manifest: Manifest,
          summary: RunSummary, root: Path) -> None:
    for message in result.warnings:
        warnings.warn(message, GalmorphWarning, stacklevel=3)
    if result.error is not None:
        _fail(result.relative, result.error, manifest, summary)
        if result.unreadable_image:
            summary.unreadable.append(result.relative)
        return
    if result.rows == 0:  # nothing written, nothing to record
        summary.empty.append(result.relative)
        return
    manifest.record(result.relative, PartitionRecord(
        result.rows, result.ids_sha256, job.model_sha256, result.rows_written, str(root),
        result.rows_unreadable))
    summary.computed.append(result.relative)
    summary.rows_written += result.rows_written
    summary.rows_read += result.rows


def _warn_if_threaded(client: Client) -> None:
    """Warn when the cluster's workers run more than one thread each.

    A worker of N threads runs N partitions at once in one process: each loads its
    images and runs PyTorch on the same cores, so none goes faster, memory use grows N
    times, and the warnings of partitions run side by side can be lost.
    """
    threads = client.nthreads()
    threaded = {address: n for address, n in threads.items() if n > 1}
    if threaded:
        warnings.warn(
            f"{len(threaded)} of the {len(threads)} Dask workers run more than one thread "
            f"(up to {max(threaded.values())}): a worker runs a partition per thread, in one "
            "process, on the same cores; start workers with one thread each "
            "(dask worker --nthreads 1, or LocalCluster(threads_per_worker=1))",
            GalmorphWarning, stacklevel=4)


def _warn_if_no_workers(client: Client) -> None:
    """Warn when the cluster has no worker yet: its partitions wait, without a word, until
    one joins (a scheduler started alone, or SLURM jobs still queued)."""
    if not client.scheduler_info().get("workers"):
        warnings.warn(
            f"the Dask scheduler at {client.scheduler.address} has no workers yet: the "
            "partitions wait until some join (start them with dask worker ADDRESS --nthreads "
            "1, or cluster.scale(jobs=N))", GalmorphWarning, stacklevel=4)


def _partition_progress(enabled: bool, total: int) -> Progress:
    """A progress bar of partitions done, on stderr (the workers show none)."""
    from galmorph.inference.progress import progress_bar

    progress = progress_bar("partitions", enabled)
    progress.add_task("Computing", total=total)
    return progress


def _on_dask(client: Client, todo: Sequence[Partition], job: PartitionJob, task: Task,
             retries: int, manifest: Manifest, summary: RunSummary) -> None:
    from distributed import as_completed

    _warn_if_threaded(client)
    _warn_if_no_workers(client)
    shown = bool(job.options.get("progress", True))
    job = replace(job, options={**job.options, "num_workers": 0, "progress": False})
    futures = {client.submit(task, partition, job, pure=False, retries=retries): partition
               for partition in todo}
    with _partition_progress(shown, len(todo)) as progress:
        for batch in as_completed(futures).batches():
            _note_batch(batch, futures, job, manifest, summary)
            progress.advance(progress.task_ids[0], len(batch))


def _note_batch(batch: Sequence[Future], futures: dict[Future, Partition], job: PartitionJob,
                manifest: Manifest, summary: RunSummary) -> None:
    """Note the results of finished tasks, release them and save the manifest."""
    for future in batch:
        partition = futures.pop(future)
        try:
            result = future.result()
        except Exception as err:  # retries spent, or its workers kept dying (KilledWorker)
            _fail(partition.relative, f"{partition.path}: {type(err).__name__}: {err}",
                  manifest, summary)
        else:
            _note(result, job, manifest, summary, partition.root)
        future.release()
    manifest.save()


def run_partitions(
    partitions: Sequence[Partition],
    job: PartitionJob,
    *,
    client: Client | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    task: Task = run_partition,
    retries: int = 1,
) -> RunSummary:
    """Compute every partition not yet complete in ``job.out_dir`` (see the module docs).

    Args:
        partitions: from :func:`galmorph.inference.partitions.find_partitions`.
        job: what to compute, and where it goes.
        client: a connected :class:`distributed.Client` to run on.
        scheduler: address of a Dask scheduler to connect to (``tcp://host:8786``).
        workers: worker processes of a local cluster to start (ignored with
            ``client`` or ``scheduler``). None of the three: run in this process.
        task: the function run on each partition (a wrapper of :func:`run_partition`
            may add to it).
        retries: more tries of a task that raised something else than a
            :class:`GalmorphError` (a worker that dies does not count).

    Returns:
        The partitions computed, skipped, failed and empty (sorted), and the rows written.

    Raises:
        GalmorphError: when ``job.out_dir`` is a file or inside the catalog's folder.
    """
    job = replace(job, out_dir=check_output_dir(partitions, job.out_dir))
    manifest = Manifest(job.out_dir, job.fingerprint())
    summary = RunSummary(Path(job.out_dir))
    _drop_gone(partitions, manifest)
    todo = _pending(partitions, job, manifest, summary)
    if todo and client is not None:
        _on_dask(client, todo, job, task, retries, manifest, summary)
    elif todo and (scheduler is not None or workers is not None):
        with dask_client(scheduler, workers) as started:
            _on_dask(started, todo, job, task, retries, manifest, summary)
    else:
        for partition in todo:
            _note(task(partition, job), job, manifest, summary, partition.root)
            manifest.save()
    summary.computed.sort()
    summary.skipped.sort()
    summary.empty.sort()
    summary.failed = dict(sorted(summary.failed.items()))
    return summary
