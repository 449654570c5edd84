"""One partition, predicted or embedded in this process: the same table and metadata as the
single-file path, and failures that name the partition and row instead of raising."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from galmorph.inference.embed import embed_catalog
from galmorph.inference.embeddings import read_embedding_info
from galmorph.inference.outputs import read_metadata
from galmorph.inference.partition_task import PartitionJob, job_model, run_partition
from galmorph.inference.partitions import Partition, find_partitions, read_partition
from galmorph.inference.predict import predict_catalog
from galmorph.inference.resumable import ids_digest

OPTIONS = {"device": "cpu", "backend": "torch", "num_workers": 0, "progress": False}


@pytest.fixture
def partition(tmp_path: Path, demo_dir: Path, demo_catalog: pd.DataFrame) -> Partition:
    """4 demo galaxies in ``cat/dataset/Npix=7.parquet``, images in ``cat/images``."""
    frame = demo_catalog.head(4)[["id_str", "file_loc", "ra", "dec"]]
    (tmp_path / "cat" / "images").mkdir(parents=True)
    for loc in frame["file_loc"]:
        shutil.copyfile(demo_dir / loc, tmp_path / "cat" / loc)
    (tmp_path / "cat" / "dataset").mkdir()
    frame.to_parquet(tmp_path / "cat" / "dataset" / "Npix=7.parquet", index=False)
    (found,) = find_partitions(tmp_path / "cat")
    return found


def _job(model: Path, out: Path, kind: str = "predict", **fields: object) -> PartitionJob:
    return PartitionJob(kind, str(model), job_model(str(model)).checksum, out,
                        {**OPTIONS, **fields.pop("options", {})}, **fields)  # type: ignore[arg-type]


def test_a_predicted_partition_is_the_single_file_table(partition: Partition, tmp_path: Path,
                                                       untrained_model: Path) -> None:
    job = _job(untrained_model, tmp_path / "out", options={"mc_samples": 2, "views": 4})
    leftover = tmp_path / "out" / "dataset" / ".Npix=7.parquet.x1y2.tmp"  # of a killed worker
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"PAR1 half")

    result = run_partition(partition, job)

    frame, ids = read_partition(partition)
    expected = predict_catalog(frame, untrained_model, mc_samples=2, views=4, **OPTIONS)
    written = pd.read_parquet(tmp_path / "out" / "dataset" / "Npix=7.parquet")
    pd.testing.assert_frame_equal(written, expected, check_exact=False, rtol=1e-5)
    assert read_metadata(partition.output(job.out_dir)) == expected.attrs["galmorph"]
    assert (result.relative, result.rows, result.rows_written) == ("dataset/Npix=7.parquet", 4, 4)
    assert result.ids_sha256 == ids_digest(ids) and result.error is None
    assert sorted(p.name for p in leftover.parent.iterdir()) == ["Npix=7.parquet"]


def test_an_embedded_partition_is_an_embeddings_file(partition: Partition, tmp_path: Path,
                                                    untrained_model: Path) -> None:
    job = _job(untrained_model, tmp_path / "out", "embed", options={"views": 1})

    assert run_partition(partition, job).error is None

    frame, _ = read_partition(partition)
    expected = embed_catalog(frame, untrained_model, views=1, **OPTIONS)
    path = partition.output(job.out_dir)
    pd.testing.assert_frame_equal(pd.read_parquet(path), expected, check_exact=False, rtol=1e-5)
    info, rows = read_embedding_info(path)
    assert rows == 4 and info.model["sha256"] == job.model_sha256 and info.views == 1


def test_the_model_is_loaded_once_per_process(untrained_model: Path) -> None:
    assert job_model(str(untrained_model)) is job_model(str(untrained_model), None, "cpu")


def test_another_model_than_the_jobs_fails_the_partition(partition: Partition, tmp_path: Path,
                                                        untrained_model: Path) -> None:
    job = PartitionJob("predict", str(untrained_model), "0" * 64, tmp_path / "out", OPTIONS)

    result = run_partition(partition, job)

    assert result.error is not None and "SHA-256" in result.error
    assert str(partition.path) in result.error
    assert not (tmp_path / "out").exists()


def test_a_model_file_changed_since_it_was_loaded_is_loaded_again(
    partition: Partition, tmp_path: Path, untrained_model: Path
) -> None:
    import hashlib

    import torch

    path = tmp_path / "model.pt"
    shutil.copyfile(untrained_model, path)
    assert job_model(str(path)).checksum == job_model(str(untrained_model)).checksum
    payload = torch.load(path, map_location="cpu", weights_only=False)
    key = next(k for k, v in payload["state_dict"].items() if v.is_floating_point())
    payload["state_dict"][key] += 1
    torch.save(payload, path)
    checksum = hashlib.sha256(path.read_bytes()).hexdigest()

    result = run_partition(partition, PartitionJob("predict", str(path), checksum,
                                                   tmp_path / "out", OPTIONS))

    assert result.error is None
    assert job_model(str(path)).checksum == checksum


@pytest.mark.parametrize("workers", [0, 1])
def test_a_corrupt_image_names_the_partition_and_galaxy(partition: Partition, tmp_path: Path,
                                                    untrained_model: Path, workers: int) -> None:
    frame = pd.read_parquet(partition.path)
    (partition.root / frame.at[1, "file_loc"]).write_bytes(b"not a jpeg")

    result = run_partition(partition, _job(untrained_model, tmp_path / "out",
                                           options={"num_workers": workers}))

    assert result.error is not None
    assert result.error.startswith(f"{partition.path}: galaxy {frame.at[1, 'id_str']}: ")
    assert "corrupt" in result.error or "cannot identify" in result.error
    assert len(result.error.splitlines()) == 1  # a loader worker's traceback is dropped
    assert not (tmp_path / "out").exists()


def test_skipped_rows_come_back_as_warnings(partition: Partition, tmp_path: Path,
                                           untrained_model: Path) -> None:
    frame = pd.read_parquet(partition.path)
    (partition.root / frame.at[3, "file_loc"]).unlink()
    job = _job(untrained_model, tmp_path / "out", drop_missing_images=True)

    result = run_partition(partition, job)

    assert (result.rows, result.rows_written, result.error) == (4, 3, None)
    assert len(result.warnings) == 1 and "skipping 1 of 4 rows" in result.warnings[0]
    assert result.ids_sha256 == ids_digest(frame["id_str"])
    written = pd.read_parquet(partition.output(job.out_dir))
    assert written["id_str"].tolist() == frame["id_str"].head(3).tolist()


@pytest.mark.parametrize("kind", ["predict", "embed"])
def test_a_partition_without_rows_writes_nothing_and_is_no_failure(
    partition: Partition, tmp_path: Path, untrained_model: Path, kind: str
) -> None:
    pd.read_parquet(partition.path).head(0).to_parquet(partition.path, index=False)
    earlier = partition.output(tmp_path / "out")  # of a run when it had rows
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"PAR1")

    result = run_partition(partition, _job(untrained_model, tmp_path / "out", kind))

    assert (result.rows, result.rows_written, result.error) == (0, 0, None)
    assert result.warnings == (f"{partition.path} has no rows: no output is written for it",)
    assert not earlier.exists()


def test_the_fingerprint_keeps_what_changes_results() -> None:
    job = PartitionJob("embed", "m.pt", "ab", Path("out"),
                       {"views": 8, "stages": [2], "batch_size": 7, "device": "cuda",
                        "num_workers": 3, "progress": True, "backend": "onnx"})

    assert job.fingerprint() == {"kind": "embed", "model_sha256": "ab", "views": 8,
                                 "stages": [2]}
    with pytest.raises(ValueError, match="kind"):
        PartitionJob("evaluate", "m.pt", "ab", Path("out"))
