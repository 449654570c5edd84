"""Galaxies whose image file cannot be read (empty, corrupt): one stops ``predict`` and
``embed`` with an error naming it, unless they are asked to leave such galaxies out
(``skip_unreadable_images``, ``--skip-bad-images``); the others' results are then the same
as without them, in every path (in-process, loader workers, chunks, Dask partitions)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from galmorph.cli import main
from galmorph.data.galaxy_dataset import predict_dataset
from galmorph.data.image_config import ImageConfig
from galmorph.exceptions import GalmorphWarning, ImageError
from galmorph.inference.dask_run import run_partitions
from galmorph.inference.distributed import _InferenceModule
from galmorph.inference.embed import embed_catalog
from galmorph.inference.evaluate import evaluate_catalog
from galmorph.inference.partition_task import PartitionJob, job_model, run_partition
from galmorph.inference.partitions import find_partitions
from galmorph.inference.predict import predict_catalog, predict_to_file
from galmorph.models.checkpoint import LoadedModel

FAST = {"num_workers": 0, "progress": False, "views": 1, "batch_size": 5}
BROKEN = (3, 8)  # positions of the galaxies whose image is broken


@pytest.fixture
def broken(tmp_path: Path, catalog: pd.DataFrame) -> pd.DataFrame:
    """The 12-galaxy catalog with index labels 100.., its images copied, those of rows
    3 (an empty file) and 8 (not an image) broken."""
    frame = catalog.copy()
    frame.index = frame.index + 100
    (tmp_path / "images").mkdir()
    frame["file_loc"] = [str(shutil.copyfile(p, tmp_path / "images" / Path(p).name))
                         for p in frame["file_loc"]]
    Path(frame["file_loc"].iloc[BROKEN[0]]).write_bytes(b"")
    Path(frame["file_loc"].iloc[BROKEN[1]]).write_bytes(b"<html>not found</html>")
    return frame


def _names(frame: pd.DataFrame) -> list[str]:
    return [frame["id_str"].iloc[i] for i in BROKEN]


def _readable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(index=frame.index[list(BROKEN)])


def test_an_unreadable_image_stops_prediction_naming_its_galaxy(
    broken: pd.DataFrame, loaded: LoadedModel
) -> None:
    galaxy = re.escape(_names(broken)[0])
    with pytest.raises(ImageError, match=f"galaxy {galaxy}: image file .* is empty"):
        predict_catalog(broken, loaded, **FAST)


@pytest.mark.parametrize("workers", [0, 1])
def test_skipped_galaxies_are_left_out_and_the_others_unchanged(
    broken: pd.DataFrame, loaded: LoadedModel, workers: int
) -> None:
    options = {**FAST, "num_workers": workers}
    with pytest.warns(GalmorphWarning) as caught:
        table = predict_catalog(broken, loaded, skip_unreadable_images=True, **options)
    expected = predict_catalog(_readable(broken), loaded, **options)
    pd.testing.assert_frame_equal(table, expected, check_exact=False, rtol=1e-5)
    assert list(table.index) == list(_readable(broken).index)  # the caller's labels
    (message,) = [str(w.message) for w in caught if "left out" in str(w.message)]
    assert message.startswith("left out 2 of 12 galaxies whose image cannot be read: ")
    first, second = _names(broken)
    assert f"galaxy {first}: image file" in message and "is empty" in message
    assert f"galaxy {second}: " in message and "corrupt or not an image" in message


def test_a_broken_first_image_does_not_stop_the_convention_check(
    broken: pd.DataFrame, loaded: LoadedModel
) -> None:
    Path(broken["file_loc"].iloc[0]).write_bytes(b"")
    with pytest.warns(GalmorphWarning, match="left out 3 of 12"):
        table = predict_catalog(broken, loaded, skip_unreadable_images=True, **FAST)
    assert len(table) == 9 and broken["id_str"].iloc[0] not in set(table["id_str"])


def test_chunks_written_leave_the_same_galaxies_out(
    tmp_path: Path, broken: pd.DataFrame, loaded: LoadedModel
) -> None:
    out = tmp_path / "p.parquet"
    with pytest.warns(GalmorphWarning) as caught:  # one warning for the whole catalog
        written = predict_to_file(broken, out, loaded, chunk_size=4, resume=True,
                                  skip_unreadable_images=True, **FAST)
    assert [str(w.message)[:31] for w in caught] == ["left out 2 of 12 galaxies whose"]
    assert written is not None and written.n_rows == 10
    expected = predict_catalog(_readable(broken), loaded, **FAST)
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected.reset_index(drop=True),
                                  check_exact=False, rtol=1e-5)


def test_nothing_is_written_when_no_image_can_be_read(
    tmp_path: Path, broken: pd.DataFrame, loaded: LoadedModel
) -> None:
    unreadable = broken.iloc[list(BROKEN)]
    out = tmp_path / "p.parquet"
    with (pytest.warns(GalmorphWarning, match="left out 2 of 2"),
          pytest.raises(ImageError, match="none of the 2 galaxies' images can be read")):
        predict_to_file(unreadable, out, loaded, skip_unreadable_images=True, **FAST)
    assert list(tmp_path.iterdir()) == [tmp_path / "images"]


def test_embeddings_and_their_pca_leave_the_galaxies_out(
    broken: pd.DataFrame, loaded: LoadedModel
) -> None:
    with pytest.warns(GalmorphWarning, match="left out 2 of 12"):
        raw = embed_catalog(broken, loaded, chunk_size=5, skip_unreadable_images=True, **FAST)
    expected = embed_catalog(_readable(broken), loaded, **FAST)
    pd.testing.assert_frame_equal(raw, expected, check_exact=False, rtol=1e-5)
    assert list(raw.index) == list(_readable(broken).index)
    with pytest.warns(GalmorphWarning, match="left out 2 of 12"):
        reduced = embed_catalog(broken, loaded, pca=3, chunk_size=5,
                                skip_unreadable_images=True, **FAST)
    features = reduced.filter(like="feat_").to_numpy()
    assert features.shape == (10, 3) and np.isfinite(features).all()


def test_blank_stand_ins_take_the_size_of_the_images_read(broken: pd.DataFrame) -> None:
    config = ImageConfig.for_sdss_gz2(size=32)
    dataset = predict_dataset(broken, config, finish_on_device=True, skip_unreadable=True)
    read, blank = dataset[BROKEN[0] - 1], dataset[BROKEN[0]]
    assert read["unreadable"] == "" and "is empty" in blank["unreadable"]
    assert blank["image"].shape == read["image"].shape and not blank["image"].any()


def test_processes_of_a_shared_run_return_nan_for_unreadable_rows() -> None:
    module = _InferenceModule(torch.nn.Identity(), lambda x: x.sum((1, 2, 3))[:, None], False,
                              lambda x: x)
    batch = {"image": torch.ones(3, 1, 2, 2), "index": torch.tensor([4, 5, 6]),
             "unreadable": ["", "galaxy b: image file b.jpg is empty", ""]}
    rows, values = module.predict_step(batch, 0)
    assert rows.tolist() == [4, 5, 6]
    np.testing.assert_array_equal(values[:, 0].numpy(), [4.0, np.nan, 4.0])
    assert module.unreadable == ["galaxy b: image file b.jpg is empty"]


def test_a_partition_job_leaves_the_galaxies_out(
    tmp_path: Path, broken: pd.DataFrame, model_path: Path
) -> None:
    (tmp_path / "cat").mkdir()
    broken.to_parquet(tmp_path / "cat" / "part=0.parquet", index=False)
    (partition,) = find_partitions(tmp_path / "cat")
    job = PartitionJob("predict", str(model_path), job_model(str(model_path)).checksum,
                       tmp_path / "out", {**FAST, "device": "cpu"},
                       skip_unreadable_images=True)
    result = run_partition(partition, job)
    assert (result.rows, result.rows_written, result.error) == (12, 10, None)
    assert any("left out 2 of 12" in w for w in result.warnings)
    refused = run_partition(partition, PartitionJob(
        "predict", str(model_path), job.model_sha256, tmp_path / "out2", job.options))
    assert refused.error is not None and _names(broken)[0] in refused.error


def test_a_rerun_does_not_redo_a_partition_for_its_unreadable_images(
    tmp_path: Path, broken: pd.DataFrame, model_path: Path
) -> None:
    (tmp_path / "cat").mkdir()
    broken.to_parquet(tmp_path / "cat" / "part=0.parquet", index=False)
    Path(broken["file_loc"].iloc[0]).unlink()  # and one missing
    partitions = find_partitions(tmp_path / "cat")
    job = PartitionJob("predict", str(model_path), job_model(str(model_path)).checksum,
                       tmp_path / "out", {**FAST, "device": "cpu"}, drop_missing_images=True,
                       skip_unreadable_images=True)
    with pytest.warns(GalmorphWarning, match="left out 2 of 11"):
        first = run_partitions(partitions, job)
    assert (first.computed, first.rows_written) == (["part=0.parquet"], 9)
    assert run_partitions(partitions, job).skipped == ["part=0.parquet"]
    shutil.copyfile(broken["file_loc"].iloc[1], broken["file_loc"].iloc[0])  # found again
    with pytest.warns(GalmorphWarning, match="left out 2 of 12"):
        assert run_partitions(partitions, job).rows_written == 10


def test_the_command_line_says_how_to_go_past_them(
    tmp_path: Path, broken: pd.DataFrame, model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = tmp_path / "catalog.csv"
    broken[["id_str", "file_loc"]].to_csv(catalog, index=False)
    common = ["-m", str(model_path), "--num-workers", "0", "--no-progress", "--views", "1"]
    assert main(["predict", str(catalog), "-o", str(tmp_path / "p.csv"), *common]) == 2
    assert "add --skip-bad-images" in capsys.readouterr().err
    (tmp_path / "images" / Path(broken["file_loc"].iloc[0]).name).unlink()  # missing too
    for command, out in (("predict", "p.csv"), ("embed", "e.parquet")):
        with pytest.warns(GalmorphWarning) as caught:
            assert main([command, str(catalog), "-o", str(tmp_path / out), *common,
                         "--skip-bad-images"]) == 0
        said = " ".join(str(w.message) for w in caught)
        assert "skipping 1 of 12 rows with a missing image file" in said
        assert "left out 2 of 11 galaxies whose image cannot be read" in said
    assert len(pd.read_csv(tmp_path / "p.csv", comment="#")) == 9
    assert len(pd.read_parquet(tmp_path / "e.parquet")) == 9
    unreadable = broken["file_loc"].iloc[BROKEN[1]]  # every galaxy's image, with the option given
    broken.assign(file_loc=unreadable).to_csv(catalog, index=False)
    for command in ("predict", "evaluate"):
        assert main([command, str(catalog), *(["-o", str(tmp_path / "all.csv")]
                                               if command == "predict" else []),
                     *common, "--skip-bad-images"]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert "none of the 12 galaxies' images can be read" in err
        assert "--skip-bad-images" not in err  # given already: no help


def test_evaluation_leaves_them_out_of_its_figures(
    broken: pd.DataFrame, loaded: LoadedModel
) -> None:
    with pytest.raises(ImageError, match="is empty"):
        evaluate_catalog(broken, loaded, **FAST)
    with pytest.warns(GalmorphWarning, match="left out 2 of 12"):
        skipped = evaluate_catalog(broken, loaded, skip_unreadable_images=True, **FAST)
    expected = evaluate_catalog(_readable(broken), loaded, **FAST)
    assert skipped["mean_nll"] == pytest.approx(expected["mean_nll"], rel=1e-5)
    assert skipped["n_galaxies"] == expected["n_galaxies"] == 10


def test_evaluate_on_the_command_line_skips_them_when_asked(
    tmp_path: Path, broken: pd.DataFrame, model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = tmp_path / "catalog.csv"
    broken.to_csv(catalog, index=False)
    common = ["evaluate", str(catalog), "-m", str(model_path), "--num-workers", "0",
              "--no-progress", "--views", "1"]
    assert main(common) == 2
    assert "add --skip-bad-images" in capsys.readouterr().err
    with pytest.warns(GalmorphWarning, match="left out 2 of 12"):
        assert main([*common, "--skip-bad-images"]) == 0


def test_a_partitioned_run_says_how_to_go_past_them(
    tmp_path: Path, broken: pd.DataFrame, model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cat").mkdir()
    broken[["id_str", "file_loc"]].to_parquet(tmp_path / "cat" / "part=0.parquet", index=False)
    common = ["predict", str(tmp_path / "cat"), "-o", str(tmp_path / "out"), "-m",
              str(model_path), "--num-workers", "0", "--no-progress", "--views", "1"]
    assert main(common) == 1
    assert "add --skip-bad-images" in capsys.readouterr().err
    with pytest.warns(GalmorphWarning, match="left out 2 of 12"):
        assert main([*common, "--skip-bad-images"]) == 0
    assert "(10 galaxies of 12; 2 left out: image missing or unreadable)" in (
        capsys.readouterr().out)
    assert len(pd.read_parquet(tmp_path / "out" / "part=0.parquet")) == 10
