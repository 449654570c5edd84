"""``galmorph validate`` on a partitioned catalog: each partition checked as a catalog,
problems named by partition file, ids repeated across partitions caught, and totals
(rows, images, votes) the same as for the catalog in one file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from galmorph.cli import main
from galmorph.data.catalog import summarize_catalog
from galmorph.inference.partition_checks import check_partitions
from galmorph.inference.partitions import find_partitions


@pytest.fixture
def catalog(tmp_path: Path, demo_dir: Path, demo_catalog: pd.DataFrame) -> pd.DataFrame:
    """12 demo galaxies with their votes, images copied to ``tmp_path/images``."""
    frame = demo_catalog.head(12).copy()
    (tmp_path / "images").mkdir()
    for loc in frame["file_loc"]:
        shutil.copyfile(demo_dir / loc, tmp_path / loc)
    return frame


def _partition(tmp_path: Path, frame: pd.DataFrame, sizes: tuple[int, ...] = (5, 7)) -> Path:
    """``frame`` cut into ``tmp_path/cat/part=N.parquet`` files (paths from ``tmp_path``)."""
    folder = tmp_path / "cat"
    folder.mkdir()
    start = 0
    for number, size in enumerate(sizes):
        part = frame.iloc[start:start + size].assign(file_loc=lambda f: "../" + f["file_loc"])
        part.to_parquet(folder / f"part={number}.parquet", index=False)
        start += size
    return folder


def test_totals_are_those_of_the_catalog_in_one_file(tmp_path: Path,
                                                     catalog: pd.DataFrame) -> None:
    folder = _partition(tmp_path, catalog)
    summary, files = check_partitions(find_partitions(folder), "gz2", progress=False)
    catalog.to_csv(tmp_path / "whole.csv", index=False)
    whole = summarize_catalog(tmp_path / "whole.csv", "gz2")
    assert summary.usable and not summary.errors
    assert (summary.n_rows, summary.n_images_found, summary.n_images_missing) == (12, 12, 0)
    assert summary.image_shapes == {(128, 128, 3): 12}
    assert (summary.votes_question, summary.votes_median, summary.votes_min,
            summary.votes_max) == (whole.votes_question, whole.votes_median,
                                   whole.votes_min, whole.votes_max)
    assert len(files) == 12 and files.str.endswith(".jpg").all()


def test_ids_in_two_partitions_are_named_with_their_files(tmp_path: Path,
                                                          catalog: pd.DataFrame) -> None:
    twice = pd.concat([catalog, catalog.iloc[[1]]], ignore_index=True)
    folder = _partition(tmp_path, twice, (5, 8))  # row 1 again in the second partition
    summary, _ = check_partitions(find_partitions(folder), progress=False)
    (error,) = summary.errors
    assert error.startswith(f"1 galaxy id is in more than one partition ({catalog.at[1, 'id_str']}"
                            " in part=0.parquet, part=1.parquet)")


def test_problems_are_named_by_partition_and_the_rest_still_checked(
    tmp_path: Path, catalog: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _partition(tmp_path, catalog)
    (tmp_path / catalog.at[7, "file_loc"]).write_bytes(b"")  # in part=1
    (folder / "part=2.parquet").write_bytes(b"not parquet")
    assert main(["validate", str(folder)]) == 1
    out = capsys.readouterr().out
    assert f"{folder} (3 partitions)" in out and "Not usable: 2 problems" in out
    assert "part=1.parquet: 1 image file cannot be read: row 2" in out
    assert "(--skip-bad-images)" in out and "part=2.parquet: " in out
    assert main(["validate", str(folder), "--quick"]) == 1  # images not read: one problem
    assert "Not usable: 1 problem" in capsys.readouterr().out


def test_a_usable_one_suggests_folder_outputs_on_dask(
    tmp_path: Path, catalog: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _partition(tmp_path, catalog)
    assert main(["validate", str(folder), "--quick"]) == 0
    out = capsys.readouterr().out
    assert "Ready to use: 12 galaxies" in out
    assert f"galmorph predict {folder} -o predictions --workers 2" in out


def test_the_same_problem_in_every_partition_is_said_once(tmp_path: Path,
                                                          catalog: pd.DataFrame) -> None:
    folder = _partition(tmp_path, catalog.drop(columns="t01_smooth_or_features_a01_smooth_count"),
                        (4, 4, 4))
    summary, _ = check_partitions(find_partitions(folder), "gz2", progress=False)
    (error,) = [e for e in summary.errors if "t01_smooth_or_features" in e]
    assert error.endswith("(in 3 partitions: part=0.parquet, part=1.parquet, part=2.parquet)")
