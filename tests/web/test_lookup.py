"""The Search tab's "Galaxy id" box: ids in any case, and positions "RA Dec" in degrees."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from galmorph.search.id_lookup import IdLookup
from galmorph.web.app import create_app
from galmorph.web.gallery import Gallery
from galmorph.web.lookup import parse_position


@pytest.fixture(scope="module")
def client(web_files: dict[str, Path]) -> TestClient:
    gallery = Gallery(web_files["embeddings"], predictions=web_files["predictions"])
    yield TestClient(create_app(gallery), raise_server_exceptions=False)
    gallery.close()


@pytest.fixture(scope="module")
def catalog(web_files: dict[str, Path]) -> pd.DataFrame:
    return pd.read_csv(web_files["catalog"], dtype={"id_str": str})


def _similar(client: TestClient, text: str, k: int = 3) -> tuple[int, dict]:
    answer = client.get(f"/api/similar/{quote(text, safe='')}", params={"k": k})
    return answer.status_code, answer.json()


@pytest.mark.parametrize(("text", "expected"), [
    ("0.81208 -0.03825", (0.81208, -0.03825)), (" 150.1 , +2.2 ", (150.1, 2.2)),
    ("1e1\t-5", (10.0, -5.0)), ("J000314.90-000217.7", None), ("1 2 3", None),
    ("nan 1", None), ("inf 2", None), ("150.1", None), ("", None),
])
def test_positions_are_two_numbers(text: str, expected: tuple[float, float] | None) -> None:
    assert parse_position(text) == expected


def test_a_position_finds_the_nearest_galaxy(client: TestClient, catalog: pd.DataFrame) -> None:
    galaxy = catalog.iloc[6]
    status, data = _similar(client, f"{galaxy['ra']:.5f} {galaxy['dec']:.5f}")
    assert status == 200, data
    assert data["query"]["id"] == galaxy["id_str"]
    assert data["query"]["position"]["separation_arcsec"] < 0.1
    assert len(data["neighbours"]) == 3 and galaxy["id_str"] not in {
        g["id"] for g in data["neighbours"]}
    same = _similar(client, f"{galaxy['ra']},{galaxy['dec']}")[1]
    assert same["query"]["id"] == galaxy["id_str"]

    status, data = _similar(client, "400 0")
    assert status == 400 and "not a sky position" in data["detail"]
    far = (galaxy["ra"] + 180) % 360
    status, data = _similar(client, f"{far} {-galaxy['dec']}")
    assert status == 404 and "no galaxy within" in data["detail"]


def test_ids_are_found_in_any_case(client: TestClient, catalog: pd.DataFrame) -> None:
    galaxy = catalog["id_str"][4]
    for text in (galaxy.lower(), galaxy.upper(), galaxy):
        status, data = _similar(client, text)
        assert status == 200 and data["query"]["id"] == galaxy, text
    status, data = _similar(client, "no-such-galaxy")
    assert status == 404
    assert data["detail"].startswith("no galaxy 'no-such-galaxy' in this catalog")
    assert "RA and Dec in degrees" in data["detail"]
    assert client.get("/api/galaxy/" + quote(galaxy.lower())).status_code == 404  # exact there


def test_ids_that_differ_only_in_case_are_not_guessed() -> None:
    import numpy as np

    ids = IdLookup(np.array(["Abc", "ABC", "xyz"]))
    assert ids.row("abc") is None and ids.row("ABC") == 1  # as written: that one
    assert ids.row("XYZ") == 2 and ids.row("nothing") is None
    assert ids.rows(["xyz", "Abc", "nope"]) == [2, 0, None]


def test_several_ids_find_the_galaxies_like_all_of_them(
        client: TestClient, catalog: pd.DataFrame, web_files: dict[str, Path]) -> None:
    from galmorph.search.examples import like_examples
    from galmorph.search.search import SimilaritySearch

    first, second = catalog["id_str"][4], catalog["id_str"][9]
    status, data = _similar(client, f"{first.lower()}, {second} ,", k=5)
    assert status == 200, data
    assert data["query"]["id"] == f"{first}, {second}"
    assert [g["id"] for g in data["query"]["examples"]] == [first, second]
    assert data["query"]["combine"] == "centroid"
    search = SimilaritySearch(web_files["embeddings"])
    expected = like_examples(search, [first, second], 5).neighbours
    assert [g["id"] for g in data["neighbours"]] == expected["id_str"].tolist()
    assert [g["like"] for g in data["neighbours"]] == expected["nearest_example"].tolist()
    assert {first, second}.isdisjoint(g["id"] for g in data["neighbours"])
    status, data = _similar(client, f"{first}, nope, {second}", k=5)  # left out, as on the CLI
    assert status == 200 and [g["id"] for g in data["query"]["examples"]] == [first, second]
    assert data["query"]["notes"] == ["not in this catalog, left out: 'nope'."]
    assert [g["id"] for g in data["neighbours"]] == expected["id_str"].tolist()
    status, data = _similar(client, "nope, nada")
    assert status == 404 and data["detail"] == "none of 'nope', 'nada' is in this catalog"
    status, data = _similar(client, " , ,")
    assert status == 404 and data["detail"].startswith("no galaxy ' , ,' in this catalog")
    status, data = _similar(client, f"{first} ,")  # one id and a stray comma: that galaxy
    assert status == 200 and data["query"]["id"] == first and "examples" not in data["query"]
    ra, dec = catalog["ra"][6], catalog["dec"][6]  # two numbers with a comma: a position
    assert _similar(client, f"{ra:.5f}, {dec:.5f}")[1]["query"]["id"] == catalog["id_str"][6]


def test_numeric_ids_with_a_comma_are_ids_not_a_position(web_files: dict[str, Path],
                                                         tmp_path: Path) -> None:
    """SDSS objids (or Gaia source_ids) as ids: two of them are examples, not RA and Dec."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(web_files["embeddings"])
    ids = table["id_str"].to_pylist()
    ids[:2] = ["587722981741363200", "587722981741363201"]
    renamed = table.set_column(table.column_names.index("id_str"), "id_str",
                               pa.array(ids, pa.string()))
    pq.write_table(renamed, tmp_path / "emb.parquet")
    gallery = Gallery(tmp_path / "emb.parquet")
    try:
        client = TestClient(create_app(gallery), raise_server_exceptions=False)
        status, data = _similar(client, "587722981741363200, 587722981741363201", k=4)
        assert status == 200, data
        assert [g["id"] for g in data["query"]["examples"]] == ids[:2]
        assert len(data["neighbours"]) == 4
    finally:
        gallery.close()
