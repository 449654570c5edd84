"""``serve --predictions`` with the folder that a partitioned ``galmorph predict`` writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from galmorph.cli import main
from galmorph.exceptions import GalmorphError
from galmorph.inference.manifest import MANIFEST_NAME
from galmorph.web import Gallery, create_app

CPU = ["--device", "cpu", "--num-workers", "0", "--no-progress", "--backend", "torch"]


@pytest.fixture(scope="module")
def prediction_folder(web_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
                      ) -> Path:
    """Predictions of the web galaxies, made from their catalog cut into 2 partitions."""
    root = tmp_path_factory.mktemp("partitioned")
    frame = pd.read_csv(web_files["catalog"], dtype={"id_str": str})
    frame["file_loc"] = [str(web_files["root"] / loc) for loc in frame["file_loc"]]
    (root / "cat").mkdir()
    frame.iloc[:25].to_parquet(root / "cat" / "a.parquet", index=False)
    frame.iloc[25:].to_parquet(root / "cat" / "b.parquet", index=False)
    assert main(["predict", str(root / "cat"), "-m", str(web_files["model"]), "-o",
                 str(root / "preds"), *CPU]) == 0
    return root / "preds"


def test_a_partitioned_predict_folder_serves_as_the_single_file_does(
    web_files: dict[str, Path], prediction_folder: Path
) -> None:
    pd.read_parquet(web_files["predictions"]).head(3).to_parquet(
        prediction_folder / "stale.parquet")  # not in the manifest: not read
    apps = [create_app(Gallery(web_files["embeddings"], predictions=p))
            for p in (web_files["predictions"], prediction_folder)]
    single, folder = (TestClient(app) for app in apps)
    assert folder.get("/api/info").json() == single.get("/api/info").json()
    page = {"page": 1, "per_page": 40, "sort": "-p_t01_smooth_or_features_a01_smooth"}
    assert (folder.get("/api/galaxies", params=page).json()
            == single.get("/api/galaxies", params=page).json())


def test_other_folders_are_refused_naming_them(
    web_files: dict[str, Path], prediction_folder: Path, tmp_path: Path
) -> None:
    with pytest.raises(GalmorphError, match=f"{tmp_path} is a folder without {MANIFEST_NAME}"):
        Gallery(web_files["embeddings"], predictions=tmp_path)
    embedded = tmp_path / "emb"
    cut = tmp_path / "cat"
    cut.mkdir()
    frame = pd.read_csv(web_files["catalog"], dtype={"id_str": str})
    frame["file_loc"] = [str(web_files["root"] / loc) for loc in frame["file_loc"]]
    frame.to_parquet(cut / "a.parquet", index=False)
    assert main(["embed", str(cut), "-m", str(web_files["model"]), "-o", str(embedded),
                 *CPU]) == 0
    with pytest.raises(GalmorphError, match="holds the output of galmorph embed, not of "
                                            "galmorph predict"):
        Gallery(web_files["embeddings"], predictions=embedded)
