"""Labelling over HTTP (FastAPI's test client): scores, retraining, the ranking and the
exports of a session, and what the app says without one."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from galmorph.anomaly.session import AnomalySession
from galmorph.web.app import create_app
from galmorph.web.gallery import Gallery


@pytest.fixture
def labelling(web_files: dict[str, Path], tmp_path: Path) -> tuple[TestClient, Path]:
    session = tmp_path / "hunt.db"
    gallery = Gallery(web_files["embeddings"], session=session, batch_size=4)
    yield TestClient(create_app(gallery), raise_server_exceptions=False), session
    gallery.close()


def test_lying_content_length_is_refused(client: TestClient) -> None:
    answer = client.post("/api/anomaly/label", content=b"{}",
                         headers={"content-length": "abc", "content-type": "application/json"})
    assert answer.status_code == 400 and "Content-Length" in answer.json()["detail"]


def test_labelling_without_a_session_says_how(client: TestClient) -> None:
    answer = client.get("/api/anomaly/batch")
    assert answer.status_code == 409 and "--session" in answer.json()["detail"]
    assert client.post("/api/anomaly/label", json={"id": "x", "score": 2}).status_code == 409


def test_label_retrain_rank_export(labelling: tuple[TestClient, Path],
                                   web_files: dict[str, Path]) -> None:
    client, session_file = labelling
    batch = client.get("/api/anomaly/batch").json()
    assert batch["method"] == "cold-start" and len(batch["galaxies"]) == 4
    chosen = [g["id"] for g in batch["galaxies"]]
    for galaxy, score in zip(chosen, (5, 0, 3, 1), strict=True):
        answer = client.post("/api/anomaly/label", json={"id": galaxy, "score": score})
        assert answer.status_code == 200
    assert answer.json()["n_labels"] == 4
    again = client.get("/api/anomaly/batch").json()  # the same batch, now scored
    assert [g["score"] for g in again["galaxies"]] == [5, 0, 3, 1]
    assert client.post("/api/anomaly/label", json={"id": chosen[0], "score": 7}).status_code == 422
    unknown = client.post("/api/anomaly/label", json={"id": "nobody", "score": 2})
    assert unknown.status_code == 404
    new = client.post("/api/anomaly/retrain").json()
    assert new["batch"] == batch["batch"] + 1 and new["method"] == "active"
    assert not set(chosen) & {g["id"] for g in new["galaxies"]}
    ranking = client.get("/api/anomaly/ranking", params={"limit": 40}).json()["galaxies"]
    assert ranking[0]["id"] == chosen[0] and ranking[0]["labelled"]
    assert sum(g["labelled"] for g in ranking) == 4
    labels = pd.read_csv(io.BytesIO(client.get("/export/labels.csv").content),
                         dtype={"id_str": str})
    assert dict(zip(labels["id_str"], labels["score"], strict=True)) == dict(
        zip(chosen, (5.0, 0.0, 3.0, 1.0), strict=True))
    assert {"ra", "dec", "labelled_at"} <= set(labels.columns)
    ranked = client.get("/export/ranking.csv")
    assert "attachment" in ranked.headers["content-disposition"]
    table = pd.read_csv(io.BytesIO(ranked.content), dtype={"id_str": str})
    assert len(table) == 40 and "file_loc" not in table.columns
    with AnomalySession.open(session_file) as session:  # the CLI's session file
        assert session.store.labels()[chosen[0]] == 5


def test_scores_all_of_one_value_are_noticed_on_the_page(labelling: tuple[TestClient, Path]
                                                        ) -> None:
    client, _ = labelling
    batch = client.get("/api/anomaly/batch").json()
    assert batch["notice"] is None  # nothing scored yet
    chosen = [g["id"] for g in batch["galaxies"]]
    for galaxy in chosen[:3]:
        client.post("/api/anomaly/label", json={"id": galaxy, "score": 0})
    retrained = client.post("/api/anomaly/retrain").json()
    assert retrained["retrained"] and "all 3 scores given are 0" in retrained["notice"]
    ranking = client.get("/api/anomaly/ranking").json()
    assert ranking["notice"] == retrained["notice"]
    client.post("/api/anomaly/label", json={"id": chosen[3], "score": 4})
    assert client.get("/api/anomaly/ranking").json()["notice"] is None
