"""The web app over HTTP (FastAPI's test client): pages, images, searches, labels, safety."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import galmorph.cli.serve as serve_cli
from galmorph.anomaly.session import AnomalySession
from galmorph.cli import main
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
    assert '<link rel="icon" href="/static/favicon.svg"' in page.text
    icon = client.get("/favicon.ico")  # asked for by browsers that do not read the link
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.content == client.get("/static/favicon.svg").content
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

    # the whole selection as CSV: ids, positions and every predicted answer, in order
    chosen = {"where": "bar > 0.3", "sort": "-spiral"}
    export = client.get("/export/galaxies.csv", params=chosen)
    assert export.status_code == 200 and "galaxies.csv" in export.headers["content-disposition"]
    table = pd.read_csv(io.BytesIO(export.content), dtype={"id_str": str})
    every = client.get("/api/galaxies", params={**chosen, "per_page": 200}).json()
    assert table["id_str"].tolist() == [g["id"] for g in every["galaxies"]]
    assert list(table.columns[:3]) == ["id_str", "ra", "dec"] and "t03_bar" not in table
    assert (table["bar"] > 0.3).all() and table["spiral"].is_monotonic_decreasing
    assert len(table.columns) == 3 + len(client.get("/api/info").json()["answers"])
    assert client.get("/export/galaxies.csv", params={"where": "bar >"}).status_code == 400


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
    assert "preview" not in answer.json()["query"]  # the browser shows a jpg itself
    assert answer.json()["query"]["notes"] == []  # an image like the model's own


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
    monkeypatch.setattr(serve_cli, "check_can_listen", lambda host, port: port)
    assert main(["serve", str(web_files["embeddings"]), "--port", "8123",
                 "--map-method", "pca"]) == 0
    assert calls[0]["host"] == "127.0.0.1" and calls[0]["port"] == 8123
    assert "http://127.0.0.1:8123/" in capsys.readouterr().out
    assert main(["serve", str(web_files["embeddings"]), "--host", "0.0.0.0", "--no-map"]) == 0
    assert "other computers" in capsys.readouterr().out
    assert main(["serve", str(web_files["root"] / "missing.parquet")]) == 2


def test_a_local_server_answers_to_local_names_only(
        web_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    apps = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: apps.append(app))
    monkeypatch.setattr(serve_cli, "check_can_listen", lambda host, port: port)
    for host in ("127.0.0.1", "0.0.0.0"):
        assert main(["serve", str(web_files["embeddings"]), "--host", host, "--no-map"]) == 0
    local, everywhere = (TestClient(app, base_url="http://127.0.0.1:8000") for app in apps)
    for name in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "LOCALHOST"):
        assert local.get("/api/info", headers={"host": name}).status_code == 200, name
    # another site's name pointing here (DNS rebinding) is not this server's
    refused = local.get("/api/info", headers={"host": "attacker.example:8000"})
    assert refused.status_code == 400 and "not attacker.example" in refused.json()["detail"]
    assert local.get("/api/info", headers={"host": "[::1"}).status_code == 400  # malformed
    assert everywhere.get("/api/info", headers={"host": "galaxies.lab:8000"}).status_code == 200


def test_a_partitioned_folder_is_served_and_labelled_as_the_file_is(
        web_files: dict[str, Path], client: TestClient, tmp_path: Path,
        split_embeddings: Callable[[Path, Path, list[int]], Path],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn

    folder = split_embeddings(web_files["embeddings"], tmp_path / "emb", [15, 10, 15])
    parts = TestClient(create_app(Gallery(folder, predictions=web_files["predictions"]),
                                  max_upload=200_000))  # as `client`
    assert parts.get("/api/info").json() == client.get("/api/info").json()
    page = {"page": 2, "per_page": 12}
    assert (parts.get("/api/galaxies", params=page).json()
            == client.get("/api/galaxies", params=page).json())
    for galaxy in ids(web_files)[::9]:
        assert (parts.get(f"/api/similar/{galaxy}", params={"k": 6}).json()
                == client.get(f"/api/similar/{galaxy}", params={"k": 6}).json())
    assert parts.get("/api/anomaly/batch").status_code == 409
    hunt = TestClient(create_app(Gallery(folder, session=tmp_path / "hunt.db")))
    batch = hunt.get("/api/anomaly/batch").json()["galaxies"]
    assert len(batch) > 0 and all(g["id"] in ids(web_files) for g in batch)
    labelled = hunt.post("/api/anomaly/label", json={"id": batch[0]["id"], "score": 4})
    assert labelled.json()["n_labels"] == 1 and (tmp_path / "hunt.db").is_file()

    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: None)
    monkeypatch.setattr(serve_cli, "check_can_listen", lambda host, port: port)
    capsys.readouterr()
    assert main(["serve", str(folder), "--map-method", "pca"]) == 0
    assert "galmorph: 40 galaxies at http://127.0.0.1:8000/" in capsys.readouterr().out


# ---------------------------------------------------------------- map and galaxy pages
SCRIPT_ID = '<script>window.owned=1</script>/../x'


@pytest.fixture(scope="module")
def mapped(web_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[TestClient, Gallery]:
    """The 40 galaxies, one renamed to ``SCRIPT_ID``, with predictions and a PCA map."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from galmorph.web.map_view import MapView

    root = tmp_path_factory.mktemp("mapped")
    for name in ("embeddings", "predictions"):
        table = pq.read_table(web_files[name])
        renamed = table["id_str"].to_pylist()
        renamed[1] = SCRIPT_ID
        table = table.set_column(table.schema.get_field_index("id_str"), "id_str",
                                 pa.array(renamed))
        pq.write_table(table, root / web_files[name].name)
    gallery = Gallery(root / "emb.parquet", predictions=root / "predictions.parquet")
    gallery.map_view = MapView.load(gallery, method="pca")
    yield TestClient(create_app(gallery), raise_server_exceptions=False), gallery
    gallery.close()


def _polygon(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"{x0},{y0},{x1},{y0},{x1},{y1},{x0},{y1}"


def test_map_points_and_colours(mapped: tuple[TestClient, Gallery], client: TestClient) -> None:
    import numpy as np

    app, gallery = mapped
    meta = app.get("/api/map/info").json()
    assert (meta["count"], meta["placed"], meta["method"]) == (40, 40, "pca")
    names = [c["name"] for c in meta["colours"]]
    assert names == app.get("/api/info").json()["answers"] and "bar" in names
    points = app.get("/api/map")
    assert points.headers["content-type"] == "application/octet-stream"
    xy = np.frombuffer(points.content, "<f4").reshape(-1, 2)
    assert xy.shape == (40, 2) and np.array_equal(xy, gallery.map_view.xy)
    assert meta["bounds"] == pytest.approx([*xy.min(axis=0), *xy.max(axis=0)])
    bar = np.frombuffer(app.get("/api/map/colour", params={"by": "bar"}).content, "<f4")
    np.testing.assert_array_equal(bar, gallery.table.values("bar"))
    unknown = app.get("/api/map/colour", params={"by": "nonsense"})
    assert unknown.status_code == 400 and "unknown name 'nonsense'" in unknown.json()["detail"]
    no_session = app.get("/api/map/colour", params={"by": "score"})
    assert no_session.status_code == 409 and "--session" in no_session.json()["detail"]
    assert app.get("/api/map/rows/1").json()["id"] == SCRIPT_ID
    assert app.get("/api/map/rows/40").status_code == 404
    assert app.get("/api/map/rows/-1").status_code == 404
    without = client.get("/api/map/info")  # a gallery served with --no-map
    assert without.status_code == 409 and "--no-map" in without.json()["detail"]


def test_selection_export(mapped: tuple[TestClient, Gallery]) -> None:
    app, gallery = mapped
    (x0, y0, x1, y1) = app.get("/api/map/info").json()["bounds"]
    everything = _polygon(x0 - 1, y0 - 1, x1 + 1, y1 + 1)
    assert app.get("/api/map/selection", params={"polygon": everything}).json() == {"count": 40}
    middle = (x0 + x1) / 2
    answer = app.get("/export/selection.csv", params={"polygon": _polygon(x0 - 1, y0 - 1,
                                                                          middle, y1 + 1)})
    assert answer.status_code == 200 and "selection.csv" in answer.headers["content-disposition"]
    table = pd.read_csv(io.BytesIO(answer.content), dtype={"id_str": str})
    expected = gallery.ids[gallery.map_view.xy[:, 0] <= middle].tolist()
    assert table["id_str"].tolist() == expected and 0 < len(expected) < 40
    assert {"x", "y", "ra", "dec"} <= set(table.columns) and "file_loc" not in table.columns
    for bad, message in (("", "no polygon"), ("0,0,1,1", "2 vertices"),
                         ("0,0,1,0,x,1", "'x' where a number belongs"),
                         ("0,0,1,0,1,1e999", "finite"), ("1" * 41_000, "longer than")):
        for path in ("/api/map/selection", "/export/selection.csv"):
            refused = app.get(path, params={"polygon": bad})
            assert refused.status_code == 400 and message in refused.json()["detail"], bad


def test_galaxy_pages(mapped: tuple[TestClient, Gallery]) -> None:
    from urllib.parse import quote

    app, gallery = mapped
    known = str(gallery.ids[4])
    page = app.get(f"/galaxy/{quote(known, safe='')}")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<script src="/static/galaxy.js" defer></script>' in page.text
    assert known not in page.text and page.headers["content-security-policy"]
    data = app.get(f"/api/galaxy/{quote(known, safe='')}", params={"k": 4}).json()
    assert data["galaxy"]["id"] == known and len(data["neighbours"]) == 4
    assert {q["question"] for q in data["questions"]} >= {"t01_smooth_or_features", "t03_bar"}
    assert data["history"] == [] and not data["has_session"]

    script = app.get(f"/galaxy/{quote(SCRIPT_ID, safe='')}")  # an id with markup and a /
    assert script.status_code == 200 and "owned" not in script.text
    assert script.text == page.text  # the same static page: no catalog text in it
    assert app.get(f"/api/galaxy/{quote(SCRIPT_ID, safe='')}").json()["galaxy"]["id"] == SCRIPT_ID
    assert app.get("/static/galaxy.js").status_code == 200

    unknown = app.get("/galaxy/%3Cb%3Enobody%3C%2Fb%3E")
    assert unknown.status_code == 404 and "nobody" not in unknown.text
    missing = app.get("/api/galaxy/nobody")
    assert missing.status_code == 404 and "nobody" in missing.json()["detail"]
    for attack in ("/galaxy/..%2F..%2Fetc%2Fpasswd", "/galaxy/%2Fetc%2Fpasswd",
                   "/api/galaxy/..%2F..%2Fetc%2Fpasswd", "/api/galaxy/%2Fetc%2Fpasswd",
                   "/galaxy/..%2Fstatic%2Fapp.js"):
        answer = app.get(attack)
        assert answer.status_code == 404 and "root:" not in answer.text, attack


def test_serve_computes_the_map_before_it_listens(
        web_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    import uvicorn

    from galmorph.inference.maps import map_path

    emb = tmp_path / "emb.parquet"
    shutil.copyfile(web_files["embeddings"], emb)
    apps = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: apps.append(app))
    monkeypatch.setattr(serve_cli, "check_can_listen", lambda host, port: port)
    assert main(["serve", str(emb), "--map-method", "pca"]) == 0
    out = capsys.readouterr().out
    assert "computing the PCA map of 40 galaxies" in out and map_path(emb).is_file()
    assert out.index("computing") < out.index("http://127.0.0.1:8000/")
    local = "http://127.0.0.1:8000"  # the server answers to local names only
    assert TestClient(apps[0], base_url=local).get("/api/map/info").json()["count"] == 40
    assert main(["serve", str(emb)]) == 0  # auto: the cached map
    assert "computing" not in capsys.readouterr().out
    assert main(["serve", str(emb), "--no-map"]) == 0
    assert TestClient(apps[2], base_url=local).get("/api/map/info").status_code == 409


# ---------------------------------------------------------------- browse filters and sorts
def _predicted(web_files: dict[str, Path], column: str) -> list[float]:
    table = pd.read_parquet(web_files["predictions"]).set_index("id_str")
    return table[column].reindex(ids(web_files)).tolist()


def _all_pages(client: TestClient, **params: object) -> list[str]:
    first = client.get("/api/galaxies", params={**params, "page": 1}).json()
    found = [g["id"] for g in first["galaxies"]]
    for page in range(2, first["pages"] + 1):
        found += [g["id"] for g in client.get("/api/galaxies",
                                              params={**params, "page": page}).json()["galaxies"]]
    return found


def test_browse_filters_and_sorts_by_predictions(client: TestClient,
                                                 web_files: dict[str, Path]) -> None:
    names = ids(web_files)
    bar = _predicted(web_files, "t03_bar_a06_bar_fraction")
    threshold = sorted(bar)[25]
    passing = [n for n, b in zip(names, bar, strict=True) if b > threshold]
    data = client.get("/api/galaxies", params={"where": f" bar > {threshold!r}",
                                               "per_page": 5}).json()
    assert (data["total"], data["pages"], data["per_page"]) == (14, 3, 5)
    assert (data["where"], data["sort"]) == (f"bar > {threshold!r}", "")
    assert _all_pages(client, where=f"bar > {threshold!r}", per_page=5) == passing

    by_bar = [n for _, n in sorted(zip(bar, names, strict=True), key=lambda p: -p[0])]
    assert _all_pages(client, sort="-bar", per_page=15) == by_bar
    assert _all_pages(client, sort="a06_bar", per_page=15) == by_bar[::-1]

    lower = _predicted(web_files, "t04_spiral_a08_spiral_lower90")
    upper = _predicted(web_files, "t04_spiral_a08_spiral_upper90")
    width = {n: u - lo for n, lo, u in zip(names, lower, upper, strict=True)}
    sure = sorted(passing, key=lambda n: width[n])
    params = {"where": f"bar > {threshold!r}", "sort": "spiral.uncertainty", "per_page": 4}
    assert _all_pages(client, **params) == sure
    chosen = sure[3][-2:]  # filter, sort and id text together
    assert _all_pages(client, **params, q=chosen) == [n for n in sure if chosen in n]
    empty = client.get("/api/galaxies", params={"where": "bar > 2"}).json()
    assert (empty["total"], empty["pages"], empty["galaxies"]) == (0, 1, [])
    assert client.get("/api/info").json()["answers"][:3] == ["smooth", "features_or_disk",
                                                            "star_or_artifact"]


@pytest.mark.parametrize(("params", "message"), [
    ({"where": "barr > 0.5"}, "unknown name 'barr' at character 1; did you mean bar"),
    ({"where": "no_bulge > 0.5"}, "'no_bulge' at character 1 could mean 2 answers: "
                                  "t05_bulge_prominence_a10_no_bulge, "
                                  "t09_bulge_shape_a27_no_bulge; "
                                  "write one of a10_no_bulge, a27_no_bulge"),
    ({"where": "bar >"}, "expected a number after '>' at character 6"),
    ({"where": "bar > 0.5 and"}, "expected a comparison such as bar > 0.6"),
    ({"where": "1 < 2"}, "expected a name after '<' at character 5, found '2': compare a name "
                         "with a number"),
    ({"where": "bar > spiral"}, "expected a number after '>' at character 7, found 'spiral'"),
    ({"where": "__import__('os').system('id')"}, "expected <, <=, > or >= after '__import__'"),
    ({"where": "open('/etc/passwd') > 0"}, "expected <, <=, > or >= after 'open'"),
    ({"where": "bar > 0.5; import os"}, "unexpected character ';' at character 10"),
    ({"where": "(" * 60 + "bar > 0" + ")" * 60}, "nests deeper than 50 levels"),
    ({"where": "<script>alert(1)</script>"}, "expected a comparison such as bar > 0.6"),
    ({"where": "id_str > 3"}, "'id_str' at character 1 is a text column"),
    ({"sort": "-barr"}, "unknown name 'barr' in sort; did you mean bar"),
    ({"sort": "no_bulge.uncertainty"}, "'no_bulge' in sort could mean 2 answers"),
    ({"sort": "ra.uncertainty"}, "only predicted answers have a 90% interval"),
])
def test_bad_filters_get_400_saying_why(client: TestClient, params: dict[str, str],
                                        message: str) -> None:
    answer = client.get("/api/galaxies", params=params)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/json"
    assert message in answer.json()["detail"]


def test_overlong_filters_are_refused_and_script_ids_stay_text(
        client: TestClient, mapped: tuple[TestClient, Gallery]) -> None:
    answer = client.get("/api/galaxies", params={"where": "bar > 0.5 " * 60})
    assert answer.status_code == 422 and "at most 500 characters" in answer.json()["detail"]
    app, _ = mapped
    answer = app.get("/api/galaxies", params={"q": "<script>", "where": "bar > -1",
                                              "sort": "-bar"})
    assert answer.headers["content-type"] == "application/json"
    assert [g["id"] for g in answer.json()["galaxies"]] == [SCRIPT_ID]  # a JSON string
    assert answer.headers["x-content-type-options"] == "nosniff"  # never read as HTML
