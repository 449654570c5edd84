"""Partitioned catalogs on a real Dask cluster (2 worker processes on 127.0.0.1), and the
manifest's skipping of complete partitions in this process.

Tasks are wrapped (``task=``) to kill their worker with SIGKILL, fail, or count
themselves; the wrappers are closures, which Dask ships to the workers by value.
"""

from __future__ import annotations

import os
import shutil
import signal
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.inference.dask_run import Task, dask_client, run_partitions
from galmorph.inference.embed import embed_catalog
from galmorph.inference.manifest import Manifest
from galmorph.inference.partition_task import PartitionJob, job_model, run_partition
from galmorph.inference.partitions import Partition, find_partitions, read_partition
from galmorph.inference.predict import predict_catalog

pytestmark = pytest.mark.timeout(300)

OPTIONS = {"device": "cpu", "backend": "torch", "num_workers": 0, "progress": False,
           "views": 1}
N_PARTS, PER_PART = 4, 3
PARTS = [f"dataset/Norder=0/Dir=0/Npix={i}.parquet" for i in range(N_PARTS)]


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    with dask_client(workers=2) as started:
        yield started


@pytest.fixture
def catalog(tmp_path: Path, demo_dir: Path, demo_catalog: pd.DataFrame) -> list[Partition]:
    """12 demo galaxies in 4 partitions of a HATS-like layout; images in ``cat/images``."""
    root = tmp_path / "cat"
    (root / "images").mkdir(parents=True)
    frame = demo_catalog.head(N_PARTS * PER_PART)[["id_str", "file_loc", "ra", "dec"]]
    for loc in frame["file_loc"]:
        shutil.copyfile(demo_dir / loc, root / loc)
    for i, name in enumerate(PARTS):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        frame.iloc[i * PER_PART:(i + 1) * PER_PART].to_parquet(root / name, index=False)
    return find_partitions(root)


def _job(model: Path, out: Path, kind: str = "predict") -> PartitionJob:
    return PartitionJob(kind, str(model), job_model(str(model)).checksum, out, OPTIONS)


def _outputs(out: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(out / name) for name in PARTS], ignore_index=True)


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


# ------------------------------------------------------------ in this process, no Dask
def test_a_partition_whose_input_or_output_changed_is_done_again(
    catalog: list[Partition], tmp_path: Path, untrained_model: Path
) -> None:
    job = _job(untrained_model, tmp_path / "out")
    assert run_partitions(catalog, job).computed == PARTS
    edited = pd.read_parquet(catalog[0].path)
    edited.iloc[::-1].to_parquet(catalog[0].path, index=False)  # the same rows, reordered
    (job.out_dir / PARTS[3]).unlink()
    manifest = Manifest(job.out_dir, job.fingerprint())
    manifest.forget(PARTS[2])  # its output is there, but not recorded as complete
    manifest.save()

    again = run_partitions(catalog, job)

    assert (again.computed, again.skipped) == ([PARTS[0], PARTS[2], PARTS[3]], [PARTS[1]])
    first = _outputs(job.out_dir)["id_str"].head(PER_PART)
    assert first.tolist() == edited["id_str"][::-1].tolist()


def test_another_model_or_option_does_every_partition_again(
    catalog: list[Partition], tmp_path: Path, untrained_model: Path, other_model_file: Path
) -> None:
    job = _job(untrained_model, tmp_path / "out")
    run_partitions(catalog, job)

    other_model = run_partitions(catalog, _job(other_model_file, tmp_path / "out"))
    other_views = run_partitions(catalog, PartitionJob(
        "predict", str(other_model_file), job_model(str(other_model_file)).checksum, job.out_dir,
        {**OPTIONS, "views": 4}))

    assert (other_model.computed, other_model.skipped) == (PARTS, [])
    assert (other_views.computed, other_views.skipped) == (PARTS, [])


def test_an_empty_partition_is_reported_and_never_failed(
    catalog: list[Partition], tmp_path: Path, untrained_model: Path
) -> None:
    pd.read_parquet(catalog[1].path).head(0).to_parquet(catalog[1].path, index=False)
    job = _job(untrained_model, tmp_path / "out")

    with pytest.warns(GalmorphWarning, match=f"{catalog[1].path} has no rows"):
        first = run_partitions(catalog, job)
    with pytest.warns(GalmorphWarning, match="has no rows"):
        again = run_partitions(catalog, job)

    expected = [PARTS[0], PARTS[2], PARTS[3]]
    assert (first.computed, first.empty, first.failed) == (expected, [PARTS[1]], {})
    assert (again.skipped, again.empty, again.failed) == (expected, [PARTS[1]], {})
    assert first.rows_written == 3 * PER_PART
    assert sorted(Manifest(job.out_dir, job.fingerprint()).records) == expected
    assert not (job.out_dir / PARTS[1]).exists()


def test_rows_skipped_for_a_missing_image_are_done_once_it_is_back(
    catalog: list[Partition], tmp_path: Path, untrained_model: Path
) -> None:
    frame = pd.read_parquet(catalog[2].path)
    image = catalog[2].root / frame.at[1, "file_loc"]
    kept = image.read_bytes()
    image.unlink()
    job = replace(_job(untrained_model, tmp_path / "out"), drop_missing_images=True)
    with pytest.warns(GalmorphWarning, match="skipping 1 of 3 rows"):
        run_partitions(catalog, job)

    still_missing = run_partitions(catalog, job)
    image.write_bytes(kept)
    back = run_partitions(catalog, job)

    assert (still_missing.computed, still_missing.skipped) == ([], PARTS)
    assert (back.computed, back.skipped) == ([PARTS[2]], [PARTS[0], PARTS[1], PARTS[3]])
    assert pd.read_parquet(job.out_dir / PARTS[2])["id_str"].tolist() == frame["id_str"].tolist()


def test_outputs_of_partitions_gone_from_a_repartitioned_catalog_are_removed(
    catalog: list[Partition], tmp_path: Path, untrained_model: Path
) -> None:
    """Before, their galaxies stayed in the output, read again beside the new partitions."""
    job = _job(untrained_model, tmp_path / "out")
    run_partitions(catalog, job)
    root = catalog[0].root
    merged = "dataset/Norder=1/Dir=0/Npix=0.parquet"
    (root / merged).parent.mkdir(parents=True)
    pd.concat([pd.read_parquet(p.path) for p in catalog[:2]]).to_parquet(root / merged)
    for partition in catalog[:2]:
        partition.path.unlink()

    with pytest.warns(GalmorphWarning, match=r"removed the outputs of 2 partitions no longer "
                                             r"in .*cat \(re-partitioned or deleted\)"):
        summary = run_partitions(find_partitions(root), job)

    assert (summary.computed, summary.skipped) == ([merged], PARTS[2:])
    assert sorted(Manifest(job.out_dir, job.fingerprint()).records) == sorted([merged, *PARTS[2:]])
    assert not (job.out_dir / PARTS[0]).exists() and not (job.out_dir / PARTS[1]).exists()
    assert (job.out_dir / PARTS[2]).exists()


def test_partitions_done_from_another_folder_are_kept(
    catalog: list[Partition], tmp_path: Path, untrained_model: Path
) -> None:
    """A catalog done in pieces (one folder, then another, into one output) keeps each."""
    job = _job(untrained_model, tmp_path / "out")
    run_partitions(catalog[:2], job)
    other = tmp_path / "other"
    shutil.copytree(catalog[0].root, other)
    for name in PARTS[:2]:
        (other / name).unlink()

    with warnings.catch_warnings():
        warnings.simplefilter("error", GalmorphWarning)
        summary = run_partitions(find_partitions(other), job)

    assert summary.computed == PARTS[2:]
    assert sorted(Manifest(job.out_dir, job.fingerprint()).records) == PARTS
    assert all((job.out_dir / name).exists() for name in PARTS)


@pytest.fixture
def other_model_file(tmp_path: Path, untrained_model: Path) -> Path:
    """The untrained model with one weight changed: another checksum."""
    import torch

    payload = torch.load(untrained_model, map_location="cpu", weights_only=False)
    key = next(k for k, v in payload["state_dict"].items() if v.is_floating_point())
    payload["state_dict"][key] = payload["state_dict"][key] + 1
    torch.save(payload, tmp_path / "other.pt")
    return tmp_path / "other.pt"


def test_an_output_inside_the_catalog_is_refused_before_any_work(
    catalog: list[Partition], untrained_model: Path
) -> None:
    job = _job(untrained_model, catalog[0].root / "dataset" / "out")

    with pytest.raises(GalmorphError, match="inside the catalog's folder"):
        run_partitions(catalog, job)
    assert not job.out_dir.exists()


def _no_client(*args: object, **kwargs: object) -> None:
    raise AssertionError("a Dask client was started")


def test_an_unreachable_scheduler_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    address = "tcp://127.0.0.1:9"  # the discard port: nothing listens there
    monkeypatch.setattr("distributed.Client", _no_client)
    with (
        pytest.raises(GalmorphError, match=f"cannot reach the Dask scheduler at {address}"),
        dask_client(address, timeout=1),
    ):
        pass


@pytest.mark.parametrize(
    "address", ["nonsense", "127.0.0.1", "htp://head:8786", "tcp://head:port"])
def test_a_scheduler_address_that_is_not_one_is_a_clear_error(
    address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # told before Dask starts a client (and its event-loop thread, slow on a busy machine)
    monkeypatch.setattr("distributed.Client", _no_client)
    with (
        pytest.raises(GalmorphError, match=f"'{address}' is not a Dask scheduler's address"),
        dask_client(address, timeout=1),
    ):
        pass
