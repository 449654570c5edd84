"""Before the first score: what the ranking, the map's colours and Retrain answer."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from galmorph.web.app import create_app
from galmorph.web.gallery import NO_LABELS, Gallery
from galmorph.web.map_view import MapView


@pytest.fixture
def fresh(web_files: dict[str, Path], tmp_path: Path) -> TestClient:
    """A new labelling session (active learning, 4 galaxies a batch) with a map."""
    import shutil

    shutil.copyfile(web_files["embeddings"], tmp_path / "emb.parquet")
    gallery = Gallery(tmp_path / "emb.parquet", session=tmp_path / "hunt.db", batch_size=4)
    gallery.map_view = MapView.load(gallery, method="pca")
    yield TestClient(create_app(gallery), raise_server_exceptions=False)
    gallery.close()


def test_no_ranking_before_the_first_score(fresh: TestClient) -> None:
    info = fresh.get("/api/info").json()
    assert (info["n_labels"], info["ranking_needs_labels"]) == (0, True)
    assert info["max_upload"] == 10 * 1024**2
    for path in ("/api/anomaly/ranking", "/export/ranking.csv"):
        answer = fresh.get(path)
        assert answer.status_code == 409 and answer.json()["detail"] == NO_LABELS, path
        assert "galmorph anomaly" not in answer.text
    colour = fresh.get("/api/map/colour", params={"by": "interest"})
    assert colour.status_code == 409 and colour.json()["detail"] == NO_LABELS
    assert fresh.get("/api/map/colour", params={"by": "score"}).status_code == 200

    batch = fresh.get("/api/anomaly/batch").json()
    fresh.post("/api/anomaly/label", json={"id": batch["galaxies"][0]["id"], "score": 4})
    assert fresh.get("/api/info").json()["n_labels"] == 1
    ranked = fresh.get("/api/anomaly/ranking", params={"limit": 3}).json()
    assert ranked["galaxies"][0]["id"] == batch["galaxies"][0]["id"]
    table = pd.read_csv(io.BytesIO(fresh.get("/export/ranking.csv").content))
    assert len(table) == 40


def test_retrain_without_scores_keeps_the_batch(fresh: TestClient) -> None:
    batch = fresh.get("/api/anomaly/batch").json()
    assert batch["retrained"] is False
    kept = fresh.post("/api/anomaly/retrain").json()
    assert kept["retrained"] is False and kept["batch"] == batch["batch"]
    assert [g["id"] for g in kept["galaxies"]] == [g["id"] for g in batch["galaxies"]]
    fresh.post("/api/anomaly/label", json={"id": batch["galaxies"][1]["id"], "score": 2})
    new = fresh.post("/api/anomaly/retrain").json()
    assert new["retrained"] is True and new["batch"] == batch["batch"] + 1
