"""A fine-tuned classifier's predictions in the web app: ``prob_<class>`` columns whose class
names are not plain names (``prob_not ring``, ``prob_S0/Sa``) are loaded, filtered (in
backquotes), sorted and coloured by, and named as a filter must spell them. A regressor's
``prediction`` is served too."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from galmorph.models.tasks import classification_columns
from galmorph.web.app import create_app
from galmorph.web.gallery import Gallery
from galmorph.web.query import FilterError
from galmorph.web.table import GalaxyTable

#: Class names of every kind: spaces, a slash, digits first, a hyphen, a dot.
CLASSES = ["not ring", "S0/Sa", "0", "1", "edge-on", "v1.2"]
#: Their columns as a filter spells them.
TYPED = ["`prob_not ring`", "`prob_S0/Sa`", "prob_0", "prob_1", "prob_edge-on", "prob_v1.2"]


def class_predictions(ids: list[str], seed: int = 0) -> pd.DataFrame:
    """What ``galmorph predict`` writes for a classifier of :data:`CLASSES` (random logits)."""
    logits = np.random.default_rng(seed).normal(size=(len(ids), len(CLASSES), 1))
    columns = classification_columns(logits, SimpleNamespace(metadata={"classes": CLASSES}))
    return pd.DataFrame({"id_str": ids, **columns})


def test_a_classifiers_columns_are_filtered_and_sorted_by_any_class_name() -> None:
    ids = [f"G{i:02d}" for i in range(30)]
    predictions = class_predictions(ids)
    table = GalaxyTable(np.array(ids), predictions=predictions.sample(frac=1, random_state=0))
    assert table.names() == [] and table.predicted == [f"prob_{c}" for c in CLASSES]
    assert table.predicted_names() == TYPED
    ring, s0 = predictions["prob_not ring"], predictions["prob_S0/Sa"]
    chosen = table.select("`prob_not ring` > 0.2 and not `prob_S0/Sa` >= 0.1")
    assert chosen.tolist() == np.flatnonzero((ring > 0.2) & ~(s0 >= 0.1)).tolist()
    for column, name in zip(predictions.columns[1:7], TYPED, strict=True):
        values = predictions[column].to_numpy()
        assert table.select(f"{name} > 0.15").tolist() == np.flatnonzero(values > 0.15).tolist()
        descending = np.argsort(-values, kind="stable").tolist()
        assert table.select("", f"-{name}").tolist() == descending
        np.testing.assert_array_equal(table.values(name), values)
    assert table.select("", "-prob_not ring").tolist() == table.select(
        "", "-`prob_not ring`").tolist()  # a sort needs no backquotes, and may have them
    np.testing.assert_array_equal(table.values("prob_not ring"), ring)


def test_unknown_names_are_listed_as_they_must_be_typed() -> None:
    ids = ["a", "b"]
    table = GalaxyTable(np.array(ids), predictions=class_predictions(ids))
    with pytest.raises(FilterError) as caught:
        table.select("prob_not_ring > 0.5")
    assert ("did you mean `prob_not ring`?" in str(caught.value)
            and f"names are the predicted columns ({', '.join(TYPED)})" in str(caught.value))
    with pytest.raises(FilterError, match="unknown name 'prob_S0' in sort; did you mean "
                                          "prob_0 or `prob_S0/Sa` or prob_1?"):
        table.select("", "-prob_S0")
    with pytest.raises(FilterError, match="after 'prob_not' at character 10, found 'ring': "
                                          "put a name with spaces or other characters in "
                                          "backquotes"):
        table.select("prob_not ring > 0.5")


@pytest.fixture(scope="module")
def classified(web_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[TestClient, pd.DataFrame]:
    """``galmorph serve EMB --predictions P`` of a classifier's predictions, with a PCA map."""
    from galmorph.web.map_view import MapView

    root = tmp_path_factory.mktemp("classified")
    shutil.copyfile(web_files["embeddings"], root / "emb.parquet")  # the map is cached beside
    ids = pd.read_parquet(web_files["embeddings"], columns=["id_str"])["id_str"].tolist()
    predictions = class_predictions(ids, seed=1)
    predictions.to_parquet(root / "classes.parquet")
    gallery = Gallery(root / "emb.parquet", predictions=root / "classes.parquet")
    gallery.map_view = MapView.load(gallery, method="pca")
    yield TestClient(create_app(gallery), raise_server_exceptions=False), predictions
    gallery.close()


def test_served_classifier_predictions(classified: tuple[TestClient, pd.DataFrame]) -> None:
    client, predictions = classified
    info = client.get("/api/info").json()
    assert info["has_predictions"] and (info["answers"], info["columns"]) == ([], TYPED)
    ring = predictions["prob_not ring"].to_numpy()
    page = client.get("/api/galaxies", params={"where": "`prob_not ring` > 0.2",
                                               "sort": "-`prob_not ring`", "per_page": 200})
    assert page.status_code == 200, page.text
    expected = predictions[ring > 0.2].sort_values("prob_not ring", ascending=False,
                                                   kind="stable")
    galaxies = page.json()["galaxies"]
    assert [g["id"] for g in galaxies] == expected["id_str"].tolist()
    top = galaxies[0]["summary"][0]  # the card says the most probable class
    row = expected.iloc[0]
    best = max(CLASSES, key=lambda c: row[f"prob_{c}"])
    assert (top["question"], top["text"]) == ("class", best)
    assert top["fraction"] == pytest.approx(row[f"prob_{best}"], abs=1e-3)

    bad = client.get("/api/galaxies", params={"where": "prob_S0/Sa > 0.5"})
    assert bad.status_code == 400 and "in backquotes" in bad.json()["detail"]

    colours = client.get("/api/map/info").json()["colours"]
    assert [c["name"] for c in colours] == TYPED
    assert [c["label"] for c in colours] == [f"prob_{c}" for c in CLASSES]
    for name in ("`prob_S0/Sa`", "prob_S0/Sa"):
        coloured = client.get("/api/map/colour", params={"by": name})
        assert coloured.status_code == 200, coloured.text
        np.testing.assert_array_equal(np.frombuffer(coloured.content, "<f4"),
                                      predictions["prob_S0/Sa"].to_numpy())

    detail = client.get(f"/api/galaxy/{predictions['id_str'][0]}").json()
    classes = detail["questions"][-1]
    assert (classes["question"], classes["asked"]) == ("class", None)
    assert [a["label"] for a in classes["answers"]] == CLASSES
    assert classes["answers"][0]["fraction"] == pytest.approx(ring[0], abs=1e-4)


def test_served_regressor_predictions(web_files: dict[str, Path], tmp_path: Path) -> None:
    shutil.copyfile(web_files["embeddings"], tmp_path / "emb.parquet")
    ids = pd.read_parquet(web_files["embeddings"], columns=["id_str"])["id_str"].tolist()
    values = np.random.default_rng(2).normal(10, 3, len(ids)).astype(np.float32)
    pd.DataFrame({"id_str": ids, "prediction": values}).to_parquet(tmp_path / "reg.parquet")
    gallery = Gallery(tmp_path / "emb.parquet", predictions=tmp_path / "reg.parquet")
    try:
        client = TestClient(create_app(gallery), raise_server_exceptions=False)
        assert client.get("/api/info").json()["columns"] == ["prediction"]
        page = client.get("/api/galaxies", params={"where": "prediction > 10",
                                                   "sort": "-prediction", "per_page": 200})
        assert page.status_code == 200, page.text
        galaxies = page.json()["galaxies"]
        assert len(galaxies) == int((values > 10).sum())
        top = int(np.argmax(values))
        assert galaxies[0]["id"] == ids[top]
        assert galaxies[0]["summary"] == [{"question": "prediction", "answer": "prediction",
                                           "text": "prediction",
                                           "fraction": round(float(values[top]), 3)}]
        group = client.get(f"/api/galaxy/{ids[top]}").json()["questions"][-1]
        assert group["value"] is True
        assert group["answers"][0]["fraction"] == pytest.approx(values[top], abs=1e-4)
    finally:
        gallery.close()
