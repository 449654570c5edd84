"""Partitioned catalogs run in this process, no Dask cluster: the manifest's skipping of
complete partitions, and the checks made before any work (output folder, scheduler address).

The partitioned catalog and the job are in ``_dask_parts.py``; runs on a real Dask
cluster are tested in ``test_dask_run_cluster.py``.
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from tests.inference._dask_parts import (
    OPTIONS,
    PARTS,
    PER_PART,
    _job,
    _outputs,
    partitioned_catalog,
)

from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.inference.dask_run import dask_client, run_partitions
from galmorph.inference.manifest import Manifest
from galmorph.inference.partition_task import PartitionJob, job_model
from galmorph.inference.partitions import Partition, find_partitions

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def catalog(tmp_path: Path, demo_dir: Path, demo_catalog: pd.DataFrame) -> list[Partition]:
    """12 demo galaxies in 4 partitions of a HATS-like layout; images in ``cat/images``."""
    return partitioned_catalog(tmp_path, demo_dir, demo_catalog)


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
