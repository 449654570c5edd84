"""The web app over HTTP (FastAPI's test client): the page and its scripts, browsing,
filters and sorts, images, searches, a partitioned folder served as one file.

The map, selections and galaxy pages are in test_web_map.py, labelling in
test_web_labels.py, the serve command and errors in test_web_serve.py; ``gallery`` and
``client`` are in conftest.py.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import galmorph.cli.serve as serve_cli
from galmorph.cli import main
from galmorph.web.app import SECURITY_HEADERS, STATIC, create_app
from galmorph.web.gallery import Gallery


def ids(web_files: dict[str, Path]) -> list[str]:
    return pd.read_csv(web_files["catalog"], dtype={"id_str": str})["id_str"].tolist()


def test_page_and_header(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "<script src=\"/static/app.js\"" in page.text and "<script>" not in page.text
    for name, value in SECURITY_HEADERS.items():
        assert page.headers[name] == value
    named = set()  # every script of the two pages is served, and every script is named
    for html in ("index.html", "galaxy.html"):
        scripts = re.findall(r'<script src="([^"]+)"', (STATIC / html).read_text())
        assert scripts, html
        for script in scripts:
            assert client.get(script).status_code == 200, (html, script)
        named.update(scripts)
    assert named == {f"/static/{p.name}" for p in STATIC.glob("*.js")}
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
    shown = client.get("/api/galaxies", params={"sort": "-bar", "per_page": 3}).json()
    assert [g["sorted"] for g in shown["galaxies"]] == [  # each card shows what orders it
        {"name": "bar", "value": pytest.approx(sorted(bar)[-i])} for i in (1, 2, 3)]
    assert "sorted" not in client.get("/api/galaxies").json()["galaxies"][0]

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
