"""Partitioned runs as a survey user meets them: stale outputs of failed partitions, table
files that are not parquet, an output folder that is a copy of the catalog, a scheduler
without workers, the progress of a Dask run, and what the manifest's job depends on."""

from __future__ import annotations

import logging
import shutil
import signal
import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from galmorph.exceptions import CatalogError, GalmorphError, GalmorphWarning
from galmorph.inference import dask_run, hpc
from galmorph.inference.dask_run import dask_client, run_partitions
from galmorph.inference.manifest import MANIFEST_NAME, Manifest, PartitionRecord
from galmorph.inference.partition_task import PartitionJob, job_model
from galmorph.inference.partitions import check_output_dir, find_partitions

pytestmark = pytest.mark.timeout(300)

OPTIONS = {"device": "cpu", "backend": "torch", "num_workers": 0, "progress": False,
           "views": 1}


@pytest.fixture
def catalog(tmp_path: Path, demo_dir: Path, demo_catalog: pd.DataFrame) -> Path:
    """6 demo galaxies in 2 partitions, ``a.parquet`` and ``b.parquet``, images beside."""
    root = tmp_path / "cat"
    (root / "images").mkdir(parents=True)
    frame = demo_catalog.head(6)[["id_str", "file_loc", "ra", "dec"]]
    for loc in frame["file_loc"]:
        shutil.copyfile(demo_dir / loc, root / loc)
    frame.iloc[:3].to_parquet(root / "a.parquet", index=False)
    frame.iloc[3:].to_parquet(root / "b.parquet", index=False)
    return root


def _job(model: Path, out: Path, **kwargs: object) -> PartitionJob:
    return PartitionJob("predict", str(model), job_model(str(model)).checksum, out, OPTIONS,
                        **kwargs)  # type: ignore[arg-type]


def test_a_partition_that_now_fails_loses_its_output_of_an_earlier_run(
    catalog: Path, tmp_path: Path, untrained_model: Path
) -> None:
    job = _job(untrained_model, tmp_path / "out")
    assert run_partitions(find_partitions(catalog), job).computed == ["a.parquet", "b.parquet"]
    changed = pd.read_parquet(catalog / "a.parquet")
    changed.loc[0, "id_str"] = "NEW"
    changed.loc[1, "file_loc"] = "images/gone.jpg"
    changed.to_parquet(catalog / "a.parquet", index=False)

    summary = run_partitions(find_partitions(catalog), job)

    assert list(summary.failed) == ["a.parquet"] and "row 1" in summary.failed["a.parquet"]
    assert not (job.out_dir / "a.parquet").exists()  # its old rows are not read as current
    assert sorted(pd.read_parquet(job.out_dir)["id_str"]) == sorted(
        pd.read_parquet(catalog / "b.parquet")["id_str"])
    assert list(Manifest(job.out_dir, job.fingerprint()).records) == ["b.parquet"]


def test_table_files_beside_the_partitions_are_named_not_dropped_silently(
    catalog: Path,
) -> None:
    pd.read_parquet(catalog / "b.parquet").to_csv(catalog / "c.csv", index=False)
    (catalog / "partition_info.csv").write_text("Norder,Npix\n")
    (catalog / "dataset" / "Norder=0").mkdir(parents=True)
    shutil.move(catalog / "a.parquet", catalog / "dataset" / "Norder=0" / "a.parquet")
    shutil.move(catalog / "c.csv", catalog / "dataset" / "Norder=0" / "c.csv")

    with pytest.warns(GalmorphWarning, match=r"1 table file.*left out.*Norder=0/c\.csv"):
        found = find_partitions(catalog)
    assert [p.relative for p in found] == ["dataset/Norder=0/a.parquet"]
    with warnings.catch_warnings():  # a HATS catalog's metadata beside its pixels is not one
        warnings.simplefilter("error", GalmorphWarning)
        (catalog / "dataset" / "Norder=0" / "c.csv").unlink()
        find_partitions(catalog)


def test_a_folder_of_csv_files_names_them(tmp_path: Path) -> None:
    (tmp_path / "p1.csv").write_text("id_str,file_loc\na,a.jpg\n")
    (tmp_path / "p2.fits").write_bytes(b"")

    with pytest.raises(CatalogError, match=r"no parquet files.*2 other table file\(s\): "
                                           r"p1\.csv, p2\.fits.*convert them"):
        find_partitions(tmp_path)


def test_an_output_folder_holding_a_copy_of_the_catalog_is_refused(
    catalog: Path, tmp_path: Path, untrained_model: Path
) -> None:
    partitions = find_partitions(catalog)
    copy = shutil.copytree(catalog, tmp_path / "copy")

    with pytest.raises(GalmorphError, match=r"copy/a\.parquet and 1 more.*not written by "
                                            "galmorph.*overwrite"):
        run_partitions(partitions, _job(untrained_model, copy))
    assert pd.read_parquet(copy / "a.parquet").equals(pd.read_parquet(catalog / "a.parquet"))


def test_an_output_folder_of_galmorph_files_without_a_manifest_is_taken(
    catalog: Path, tmp_path: Path, untrained_model: Path
) -> None:
    """As a run killed after writing an output and before saving its manifest leaves it."""
    job = _job(untrained_model, tmp_path / "out")
    partitions = find_partitions(catalog)
    run_partitions(partitions, job)
    (job.out_dir / MANIFEST_NAME).unlink()
    (job.out_dir / "b.parquet").unlink()

    assert check_output_dir(partitions, job.out_dir) == job.out_dir
    assert run_partitions(partitions, job).computed == ["a.parquet", "b.parquet"]


def test_the_image_column_and_encoder_settings_are_part_of_the_job(tmp_path: Path) -> None:
    job = PartitionJob("embed", "m.pt", "ab", tmp_path, {"views": 1})
    other_images = PartitionJob("embed", "m.pt", "ab", tmp_path, {"views": 1},
                                file_column="cutout_fits")
    other_crop = PartitionJob("embed", "m.pt", "ab", tmp_path, {"views": 1},
                              image={"input_size": 224, "mean": (0.5,) * 3})

    assert job.fingerprint() == {"kind": "embed", "model_sha256": "ab", "views": 1}
    assert other_images.fingerprint()["file_column"] == "cutout_fits"
    assert other_crop.fingerprint()["image"]["input_size"] == 224
    manifest = Manifest(tmp_path, job.fingerprint())
    manifest.record("p.parquet", PartitionRecord(3, "cd", "ab", 3))
    manifest.save()
    (tmp_path / "p.parquet").write_bytes(b"")
    for changed in (other_images, other_crop):  # the same ids, other results: not complete
        assert not Manifest(tmp_path, changed.fingerprint()).is_complete(
            "p.parquet", 3, "cd", "ab")
    assert Manifest(tmp_path, job.fingerprint()).is_complete("p.parquet", 3, "cd", "ab")


def test_a_scheduler_without_workers_is_warned_of() -> None:
    from distributed import Client, LocalCluster

    with (LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster,
          Client(cluster) as client,
          pytest.warns(GalmorphWarning, match="has no workers yet.*wait")):
        dask_run._warn_if_no_workers(client)


def test_a_dask_run_shows_its_partitions_progress(
    catalog: Path, tmp_path: Path, untrained_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = replace(_job(untrained_model, tmp_path / "out"),
                  options={**OPTIONS, "progress": True})
    with dask_client(workers=1) as client, warnings.catch_warnings():
        warnings.simplefilter("error", GalmorphWarning)  # it has a worker
        summary = run_partitions(find_partitions(catalog), job, client=client)

    assert summary.computed == ["a.parquet", "b.parquet"]
    shown = capsys.readouterr().err
    assert "partitions" in shown and "2/2" in shown


def test_local_workers_leave_ctrl_c_to_this_process() -> None:
    """Ctrl-C reaches every process of the terminal: the workers ignore it (no traceback of
    theirs), this process gets it and closes them."""
    before = signal.getsignal(signal.SIGINT)
    with dask_client(workers=1) as client:
        # a function of the standard library: a test module's would not import on a worker
        handlers = client.run(signal.getsignal, signal.SIGINT)
        assert list(handlers.values()) == [signal.SIG_IGN]
        assert signal.getsignal(signal.SIGINT) is before


def test_the_nanny_does_not_warn_of_workers_slow_to_exit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    nanny = logging.getLogger("distributed.nanny")
    with caplog.at_level(logging.WARNING, "distributed.nanny"):
        with hpc._slow_exits_quiet():
            nanny.warning("Worker process still alive after 4.0 seconds, killing")
            nanny.warning("something else")
        nanny.warning("Worker process still alive after 4.0 seconds, killing")

    assert [r.getMessage()[:20] for r in caplog.records] == ["something else",
                                                              "Worker process still"]
