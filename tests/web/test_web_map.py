"""The map and galaxy pages over HTTP (FastAPI's test client): points and colours,
selections and their export, a galaxy's page, and an id full of markup kept as text."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from galmorph.web.app import create_app
from galmorph.web.gallery import Gallery

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
    answer = app.get("/api/map/selection", params={"polygon": everything}).json()
    assert answer["count"] == 40
    shown = [galaxy["id"] for galaxy in answer["galaxies"]]
    assert len(set(shown)) == 12 and shown == sorted(shown, key=gallery.ids.tolist().index)
    assert shown != gallery.ids[:12].tolist()  # drawn at random, not the first rows
    assert answer == app.get("/api/map/selection", params={"polygon": everything}).json()
    assert set(answer["galaxies"][0]) >= {"id", "has_image", "ra", "dec", "summary"}
    few = app.get("/api/map/selection", params={"polygon": everything, "show": 50}).json()
    assert [galaxy["id"] for galaxy in few["galaxies"]] == gallery.ids.tolist()
    assert app.get("/api/map/selection",
                   params={"polygon": everything, "show": 10_000}).status_code == 422
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
