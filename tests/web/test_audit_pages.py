"""What the pages are sent for galaxies whose predictions are partly missing (NaN)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from galmorph.web.app import create_app
from galmorph.web.gallery import Gallery
from galmorph.web.summary import PredictionSummary


def test_a_question_without_predictions_is_left_out_of_the_summary() -> None:
    summary = PredictionSummary(pd.DataFrame({
        "id_str": ["a", "b"],
        "t01_smooth_or_features_asked": [1.0, 1.0],
        "t01_smooth_or_features_a01_smooth_fraction": [np.nan, 0.8],
        "t01_smooth_or_features_a02_features_or_disk_fraction": [np.nan, 0.2],
        "t02_edgeon_asked": [0.9, 0.9],
        "t02_edgeon_a04_yes_fraction": [0.3, np.nan],
        "t02_edgeon_a05_no_fraction": [0.7, 0.4],
    }), "p.csv")
    assert summary("a") == [{"question": "t02_edgeon", "answer": "no", "text": "edge-on: no",
                             "fraction": 0.7}]
    assert [s["text"] for s in summary("b")] == ["smooth", "edge-on: no"]


def test_cards_of_galaxies_with_missing_predictions_have_numbers(
        web_files: dict[str, Path], tmp_path: Path) -> None:
    """Every summary fraction sent is a number: the page formats each with toFixed."""
    frame = pd.read_parquet(web_files["predictions"])
    smooth = [c for c in frame.columns if c.startswith("t01_") and c.endswith("_fraction")]
    frame.loc[0, smooth] = np.nan  # one question without predictions
    frame.loc[1, frame.columns[1:]] = np.nan  # a galaxy without any
    frame.to_parquet(tmp_path / "predictions.parquet", index=False)
    gallery = Gallery(web_files["embeddings"], predictions=tmp_path / "predictions.parquet")
    client = TestClient(create_app(gallery))
    galaxies = client.get("/api/galaxies", params={"per_page": 40}).json()["galaxies"]
    detail = client.get(f"/api/galaxy/{frame['id_str'][0]}", params={"k": 39}).json()
    for galaxy in [*galaxies, detail["galaxy"], *detail["neighbours"]]:
        for item in galaxy["summary"]:
            assert isinstance(item["fraction"], float) and math.isfinite(item["fraction"]), galaxy
    assert galaxies[1]["summary"] == []
    assert "t01_smooth_or_features" not in [s["question"] for s in galaxies[0]["summary"]]
    gallery.close()
