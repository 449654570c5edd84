"""The web app over HTTP (FastAPI's test client): pages, images, searches, labels, safety."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from galmorph.anomaly.session import AnomalySession
from galmorph.cli import main
from galmorph.exceptions import GalmorphError
from galmorph.web.app import SECURITY_HEADERS, create_app
from galmorph.web.gallery import Gallery


@pytest.fixture(scope="module")
def gallery(web_files: dict[str, Path]) -> Gallery:
    gallery = Gallery(web_files["embeddings"], predictions=web_files["predictions"])
    yield gallery
    gallery.close()


@pytest.fixture(scope="module")
def client(gallery: Gallery) -> TestClient:
    return TestClient(create_app(gallery, max_upload=200_000), raise_server_exceptions=False)


@pytest.fixture
def labelling(web_files: dict[str, Path], tmp_path: Path) -> tuple[TestClient, Path]:
    session = tmp_path / "hunt.db"
    gallery = Gallery(web_files["embeddings"], session=session, batch_size=4)
    yield TestClient(create_app(gallery), raise_server_exceptions=False), session
    gallery.close()


def ids(web_files: dict[str, Path]) -> list[str]:
    return pd.read_csv(web_files["catalog"], dtype={"id_str": str})["id_str"].tolist()


def test_page_and_header(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "<script src=\"/static/app.js\"" in page.text and "<script>" not in page.text
    for name, value in SECURITY_HEADERS.items():
        assert page.headers[name] == value
    assert client.get("/static/app.js").status_code == 200
    info = client.get("/api/info").json()
    assert info["n_galaxies"] == 40 and info["has_predictions"] and not info["has_session"]


def test_browse_pages_and_filter(client: TestClient, web_files: dict[str, Path]) -> None:
    names = ids(web_files)
    first = client.get("/api/galaxies", params={"page": 1, "per_page": 15}).json()
    last = client.get("/api/galaxies", params={"page": 3, "per_page": 15}).json()
    assert (first["total"], first["pages"]) == (40, 3)
    assert [g["id"] for g in first["galaxies"]] == names[:15]
    assert [g["id"] for g in last["galaxies"]] == names[30:]
    galaxy = first["galaxies"][0]
    assert {"ra", "dec", "summary", "has_image"} <= set(galaxy)
    assert 1 <= len(galaxy["summary"]) <= 3
    assert "file_loc" not in galaxy  # paths never leave the server
    wanted = names[7][3:9]
    found = client.get("/api/galaxies", params={"q": wanted.lower()}).json()["galaxies"]
    assert names[7] in [g["id"] for g in found]
    assert all(wanted.lower() in g["id"].lower() for g in found)
    assert client.get("/api/galaxies", params={"per_page": 10_000}).status_code == 422


def test_images_by_id_only(client: TestClient, web_files: dict[str, Path]) -> None:
    galaxy = ids(web_files)[0]
    catalog = pd.read_csv(web_files["catalog"], dtype={"id_str": str})
    answer = client.get(f"/images/{galaxy}")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
    assert answer.content == (web_files["root"] / catalog["file_loc"][0]).read_bytes()
    for attack in ("/images/../../etc/passwd", "/images/..%2F..%2Fetc%2Fpasswd",
                   "/images/%2Fetc%2Fpasswd", f"/images/{web_files['catalog']}",
                   "/images/images%2F" + Path(catalog["file_loc"][0]).name):
        assert client.get(attack).status_code == 404, attack


def test_fits_images_are_rendered(web_files: dict[str, Path], tmp_path: Path) -> None:
    import numpy as np
    from astropy.io import fits

    frame = pd.read_csv(web_files["catalog"], dtype={"id_str": str})
    fits_file = tmp_path / "first.fits"
    fits.PrimaryHDU(np.random.default_rng(0).random((3, 20, 20), dtype=np.float32)).writeto(
        fits_file)
    frame["file_loc"] = [str(fits_file)] + [str(web_files["root"] / p)
                                            for p in frame["file_loc"][1:]]
    frame.to_csv(tmp_path / "c.csv", index=False)
    gallery = Gallery(web_files["embeddings"], catalog=tmp_path / "c.csv")
    answer = TestClient(create_app(gallery)).get(f"/images/{frame['id_str'][0]}")
    assert answer.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(answer.content)).size == (20, 20)


def test_similar_by_id(client: TestClient, web_files: dict[str, Path]) -> None:
    galaxy = ids(web_files)[3]
    data = client.get(f"/api/similar/{galaxy}", params={"k": 5}).json()
    assert data["query"]["id"] == galaxy
    found = [g["id"] for g in data["neighbours"]]
    assert len(found) == 5 and galaxy not in found
    distances = [g["distance"] for g in data["neighbours"]]
    assert distances == sorted(distances)
    missing = client.get("/api/similar/NOT-A-GALAXY")
    assert missing.status_code == 404 and "NOT-A-GALAXY" in missing.json()["detail"]
    assert client.get(f"/api/similar/{galaxy}", params={"k": 0}).status_code == 422


def test_similar_to_an_uploaded_image(client: TestClient, web_files: dict[str, Path]) -> None:
    catalog = pd.read_csv(web_files["catalog"], dtype={"id_str": str})
    image = (web_files["root"] / catalog["file_loc"][5]).read_bytes()
    answer = client.post("/api/similar-image", files={"file": ("mine.jpg", image)},
                         data={"k": "3"})
    assert answer.status_code == 200, answer.text
    found = answer.json()["neighbours"]
    assert found[0]["id"] == catalog["id_str"][5] and found[0]["distance"] < 1e-4
    assert len(found) == 3


@pytest.mark.parametrize(("name", "content", "status", "message"), [
    ("notes.txt", b"hello", 400, "not a jpg, png or FITS"),
    ("broken.jpg", b"\xff\xd8\xff\xe0 not really", 400, "not a readable image"),
    ("empty.png", b"", 400, "empty"),
    ("huge.png", b"\x89PNG" + bytes(300_000), 413, "larger than"),  # refused unread
    ("big.png", b"\x89PNG" + bytes(210_000), 413, "larger than"),  # within the framing slack
])
def test_bad_uploads_get_a_message(client: TestClient, name: str, content: bytes, status: int,
                                   message: str) -> None:
    answer = client.post("/api/similar-image", files={"file": (name, content)})
    assert answer.status_code == status
    assert message in answer.json()["detail"]


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


def test_internal_errors_have_no_stack_trace(gallery: Gallery, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(gallery, "page", broken)
    answer = TestClient(create_app(gallery), raise_server_exceptions=False).get("/api/galaxies")
    assert answer.status_code == 500
    assert answer.json() == {"detail": "internal error (RuntimeError)"}


def test_catalog_without_common_galaxies_is_refused(web_files: dict[str, Path],
                                                    tmp_path: Path) -> None:
    frame = pd.read_csv(web_files["catalog"])
    frame["id_str"] = "other-" + frame["id_str"].astype(str)
    frame["file_loc"] = [str(web_files["root"] / p) for p in frame["file_loc"]]
    frame.to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(Exception, match="shares no id_str"):
        Gallery(web_files["embeddings"], catalog=tmp_path / "other.csv")


def test_serve_command_binds_locally(web_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    assert main(["serve", str(web_files["embeddings"]), "--port", "8123"]) == 0
    assert calls[0]["host"] == "127.0.0.1" and calls[0]["port"] == 8123
    assert "http://127.0.0.1:8123/" in capsys.readouterr().out
    assert main(["serve", str(web_files["embeddings"]), "--host", "0.0.0.0"]) == 0
    assert "other computers" in capsys.readouterr().out
    assert main(["serve", str(web_files["root"] / "missing.parquet")]) == 2


def test_a_partitioned_folder_is_served_without_labelling(
        web_files: dict[str, Path], client: TestClient, tmp_path: Path,
        split_embeddings: Callable[[Path, Path, list[int]], Path],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn

    folder = split_embeddings(web_files["embeddings"], tmp_path / "emb", [15, 10, 15])
    parts = TestClient(create_app(Gallery(folder, predictions=web_files["predictions"])))
    assert parts.get("/api/info").json() == client.get("/api/info").json()
    page = {"page": 2, "per_page": 12}
    assert (parts.get("/api/galaxies", params=page).json()
            == client.get("/api/galaxies", params=page).json())
    for galaxy in ids(web_files)[::9]:
        assert (parts.get(f"/api/similar/{galaxy}", params={"k": 6}).json()
                == client.get(f"/api/similar/{galaxy}", params={"k": 6}).json())
    assert parts.get("/api/anomaly/batch").status_code == 409
    with pytest.raises(GalmorphError, match="labelling .--session. needs a single embeddings "
                                            "file.*without --session"):
        Gallery(folder, session=tmp_path / "hunt.db")
    assert not (tmp_path / "hunt.db").exists()

    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: None)
    capsys.readouterr()
    assert main(["serve", str(folder)]) == 0
    assert "galmorph: 40 galaxies at http://127.0.0.1:8000/" in capsys.readouterr().out
