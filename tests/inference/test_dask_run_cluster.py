"""Partitioned catalogs on a real Dask cluster (2 worker processes on 127.0.0.1).

Tasks are wrapped (``task=``) to kill their worker with SIGKILL, fail, or count
themselves; the wrappers are closures, which Dask ships to the workers by value.
The partitioned catalog and the job are in ``_dask_parts.py``; the manifest's
skipping of complete partitions in this process is tested in ``test_dask_run_local.py``.
"""

from __future__ import annotations

import os
import signal
import warnings
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from tests.inference._dask_parts import (
    N_PARTS,
    OPTIONS,
    PARTS,
    PER_PART,
    _job,
    _outputs,
    partitioned_catalog,
)

from galmorph.exceptions import GalmorphWarning
from galmorph.inference.dask_run import Task, dask_client, run_partitions
from galmorph.inference.embed import embed_catalog
from galmorph.inference.manifest import Manifest
from galmorph.inference.partition_task import PartitionJob, run_partition
from galmorph.inference.partitions import Partition, read_partition
from galmorph.inference.predict import predict_catalog

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    with dask_client(workers=2) as started:
        yield started


@pytest.fixture
def catalog(tmp_path: Path, demo_dir: Path, demo_catalog: pd.DataFrame) -> list[Partition]:
    """12 demo galaxies in 4 partitions of a HATS-like layout; images in ``cat/images``."""
    return partitioned_catalog(tmp_path, demo_dir, demo_catalog)


def _logged(task: Task, log: Path) -> Task:
    """``task``, noting each partition it is run on in ``log``, a line each."""
    def logged(partition: Partition, job: PartitionJob):  # noqa: ANN202
        with open(log, "a") as handle:
            handle.write(partition.relative + "\n")
        return task(partition, job)

    return logged


def _log_lines(log: Path) -> list[str]:
    return sorted(log.read_text().splitlines()) if log.exists() else []


@pytest.mark.parametrize("kind", ["predict", "embed"])
def test_partitioned_outputs_equal_the_single_process_table(
    client, catalog: list[Partition], tmp_path: Path, untrained_model: Path, kind: str
) -> None:
    job = _job(untrained_model, tmp_path / "out", kind)

    summary = run_partitions(catalog, job, client=client)

    assert (summary.computed, summary.skipped, summary.failed) == (PARTS, [], {})
    assert summary.rows_written == N_PARTS * PER_PART
    whole = pd.concat([read_partition(p)[0] for p in catalog], ignore_index=True)
    compute = predict_catalog if kind == "predict" else embed_catalog
    expected = compute(whole, untrained_model, **OPTIONS)
    pd.testing.assert_frame_equal(_outputs(job.out_dir), expected, check_exact=False, rtol=1e-5)
    assert sorted(Manifest(job.out_dir, job.fingerprint()).records) == PARTS


def _kills_its_worker_once(victim: str, marker: Path) -> Task:
    """run_partition, after which the first run on ``victim`` SIGKILLs its worker (whose
    process id goes to ``marker``)."""
    def task(partition: Partition, job: PartitionJob):  # noqa: ANN202
        result = run_partition(partition, job)
        if partition.relative == victim and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    return task


def test_a_killed_workers_partition_is_done_by_another(
    client, catalog: list[Partition], tmp_path: Path, untrained_model: Path
) -> None:
    job = _job(untrained_model, tmp_path / "out")
    marker, log = tmp_path / "killed", tmp_path / "runs.log"
    task = _logged(_kills_its_worker_once(PARTS[1], marker), log)

    summary = run_partitions(catalog, job, client=client, task=task)

    killed = int(marker.read_text())  # a worker was killed, after writing its output
    assert killed not in client.run(os.getpid).values()
    assert _log_lines(log) == sorted([*PARTS, PARTS[1]])  # that partition ran again
    assert (summary.computed, summary.failed) == (PARTS, {})
    ids = _outputs(job.out_dir)["id_str"]
    inputs = pd.concat([pd.read_parquet(p.path) for p in catalog])["id_str"]
    assert ids.is_unique and sorted(ids) == sorted(inputs)
    assert sorted(Manifest(job.out_dir, job.fingerprint()).records) == PARTS


def _fails_on(names: set[str]) -> Task:
    def task(partition: Partition, job: PartitionJob):  # noqa: ANN202
        if partition.relative in names:
            raise RuntimeError(f"interrupted before {partition.relative}")
        return run_partition(partition, job)

    return task


def test_a_rerun_computes_only_the_missing_partitions(
    client, catalog: list[Partition], tmp_path: Path, untrained_model: Path
) -> None:
    job = _job(untrained_model, tmp_path / "out")
    log = tmp_path / "runs.log"
    first = run_partitions(catalog, job, client=client, task=_fails_on({PARTS[0], PARTS[2]}),
                           retries=0)
    kept = {name: (job.out_dir / name).stat().st_mtime_ns for name in first.computed}

    second = run_partitions(catalog, job, client=client, task=_logged(run_partition, log))
    third = run_partitions(catalog, job, client=client, task=_logged(run_partition, log))

    assert first.computed == [PARTS[1], PARTS[3]]
    assert list(first.failed) == [PARTS[0], PARTS[2]]
    assert "RuntimeError: interrupted before" in first.failed[PARTS[0]]
    assert (second.computed, second.skipped) == ([PARTS[0], PARTS[2]], [PARTS[1], PARTS[3]])
    assert (third.computed, third.skipped) == ([], PARTS)
    assert _log_lines(log) == [PARTS[0], PARTS[2]]  # the tasks run, over both re-runs
    assert kept == {name: (job.out_dir / name).stat().st_mtime_ns for name in kept}
    assert len(_outputs(job.out_dir)) == N_PARTS * PER_PART


def _fails_once(marker: Path) -> Task:
    def task(partition: Partition, job: PartitionJob):  # noqa: ANN202
        if partition.relative == PARTS[3] and not marker.exists():
            marker.touch()
            raise OSError("a passing hiccup")
        return run_partition(partition, job)

    return task


def test_an_unexpected_error_is_tried_again(
    client, catalog: list[Partition], tmp_path: Path, untrained_model: Path
) -> None:
    summary = run_partitions(catalog, _job(untrained_model, tmp_path / "out"), client=client,
                             task=_fails_once(tmp_path / "failed"))

    assert (tmp_path / "failed").exists()
    assert (summary.computed, summary.failed) == (PARTS, {})


def test_a_corrupt_image_fails_its_partition_only(
    client, catalog: list[Partition], tmp_path: Path, untrained_model: Path
) -> None:
    bad = pd.read_parquet(catalog[2].path)
    (catalog[2].root / bad.at[1, "file_loc"]).write_bytes(b"\xff\xd8 truncated")
    job = _job(untrained_model, tmp_path / "out")

    summary = run_partitions(catalog, job, client=client)

    assert summary.computed == [PARTS[0], PARTS[1], PARTS[3]]
    assert list(summary.failed) == [PARTS[2]]
    assert summary.failed[PARTS[2]].startswith(
        f"{catalog[2].path}: galaxy {bad.at[1, 'id_str']}: ")
    assert not (job.out_dir / PARTS[2]).exists()
    assert sorted(Manifest(job.out_dir, job.fingerprint()).records) == summary.computed


def test_a_local_cluster_gives_its_workers_one_thread_and_takes_the_limit_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Dask's nanny sets OMP_NUM_THREADS=1 here for the workers it spawns; left there,
    every program started from this process afterwards would compute on one core."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("GALMORPH_KEPT", "as it was")

    with dask_client(workers=1) as started:
        assert set(started.run(os.environ.get, "OMP_NUM_THREADS").values()) == {"1"}

    assert "OMP_NUM_THREADS" not in os.environ
    assert os.environ["GALMORPH_KEPT"] == "as it was"


def test_workers_of_several_threads_are_warned_about(
    catalog: list[Partition], tmp_path: Path, untrained_model: Path
) -> None:
    from distributed import Client, LocalCluster

    with (LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                       dashboard_address=None) as cluster,
          Client(cluster) as threaded,
          pytest.warns(GalmorphWarning, match=r"1 of the 1 Dask workers run more than one "
                                               r"thread \(up to 2\).*--nthreads 1")):
        summary = run_partitions(catalog[:1], _job(untrained_model, tmp_path / "out"),
                                 client=threaded)

    assert summary.computed == PARTS[:1]


def test_workers_of_one_thread_raise_no_warning(
    client, catalog: list[Partition], tmp_path: Path, untrained_model: Path
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", GalmorphWarning)
        summary = run_partitions(catalog[:1], _job(untrained_model, tmp_path / "out"),
                                 client=client)

    assert summary.computed == PARTS[:1]
