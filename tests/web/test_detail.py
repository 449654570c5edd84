"""A galaxy's page data: answers grouped by question with intervals, neighbours, label history."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galmorph.web.detail import AnswerRows, answer_groups, galaxy_detail, label_history
from galmorph.web.gallery import Gallery, UnknownGalaxy
from galmorph.web.sky_links import sky_links


def test_answers_are_grouped_by_question_with_their_intervals() -> None:
    row = {
        "id_str": "g1", "ra": 150.0,
        "t01_smooth_or_features_asked": 1.0,
        "t01_smooth_or_features_a01_smooth_fraction": 0.7,
        "t01_smooth_or_features_a01_smooth_lower90": 0.55,
        "t01_smooth_or_features_a01_smooth_upper90": 0.8,
        "t01_smooth_or_features_a01_smooth_concentration": 12.0,
        "t01_smooth_or_features_a02_features_or_disk_fraction": 0.3,
        "t01_smooth_or_features_a02_features_or_disk_lower90": float("nan"),
        "t02_edgeon_asked": 0.3,
        "t02_edgeon_a04_yes_fraction": 0.1234567,
        "t02_edgeon_extra_asked": 0.2,  # a question whose name starts with another's
        "t02_edgeon_extra_a09_more_fraction": 0.4,
        "t09_empty_asked": 0.5,  # no answers: left out
    }
    groups = answer_groups(row)
    assert [g["question"] for g in groups] == ["t01_smooth_or_features", "t02_edgeon",
                                               "t02_edgeon_extra"]
    smooth = groups[0]
    assert (smooth["label"], smooth["asked"]) == ("smooth or features", 1.0)
    assert smooth["answers"] == [
        {"answer": "a01_smooth", "label": "smooth", "fraction": 0.7, "lower90": 0.55,
         "upper90": 0.8},
        {"answer": "a02_features_or_disk", "label": "features or disk", "fraction": 0.3,
         "lower90": None, "upper90": None},  # NaN and missing columns
    ]
    assert groups[1]["asked"] == 0.3 and groups[1]["label"] == "edge-on"
    assert [a["answer"] for a in groups[1]["answers"]] == ["a04_yes"]
    assert groups[1]["answers"][0]["fraction"] == 0.1235
    assert [a["label"] for a in groups[2]["answers"]] == ["more"]
    assert answer_groups({"id_str": "x", "ra": 1.0}) == []


def test_a_classifiers_classes_are_one_question_without_intervals() -> None:
    row = {"id_str": "g1", "prob_not ring": np.float32(0.25), "prob_S0/Sa": 0.75,
           "predicted_label": "S0/Sa", "prob_": 1.0}  # "prob_" alone names no class
    assert answer_groups(row) == [{
        "question": "class", "label": "class", "asked": None,
        "answers": [{"answer": "prob_not ring", "label": "not ring", "fraction": 0.25,
                     "lower90": None, "upper90": None},
                    {"answer": "prob_S0/Sa", "label": "S0/Sa", "fraction": 0.75,
                     "lower90": None, "upper90": None}]}]


def test_answer_rows_find_a_galaxy_by_id() -> None:
    table = pd.DataFrame({"id_str": ["a", "b", "a"], "q_asked": [1.0, 0.5, 0.0],
                          "q_yes_fraction": [0.2, 0.9, 0.6]})
    rows = AnswerRows(table)
    assert rows("b")[0]["answers"][0]["fraction"] == 0.9
    assert rows("a")[0]["asked"] == 1.0  # the first row of a repeated id
    assert rows("nobody") == []


@pytest.fixture
def gallery(web_files: dict[str, Path], tmp_path: Path) -> Gallery:
    shutil.copyfile(web_files["embeddings"], tmp_path / "emb.parquet")
    gallery = Gallery(tmp_path / "emb.parquet", predictions=web_files["predictions"],
                      session=tmp_path / "hunt.db", batch_size=4)
    yield gallery
    gallery.close()


def test_a_galaxy_page_has_answers_neighbours_and_history(gallery: Gallery,
                                                          web_files: dict[str, Path]) -> None:
    galaxy = str(gallery.ids[6])
    gallery.label(galaxy, 2)
    gallery.label(galaxy, 5)
    gallery.label(str(gallery.ids[7]), 1)
    detail = galaxy_detail(gallery, galaxy, k=5)
    assert detail["galaxy"]["id"] == galaxy and detail["galaxy"]["score"] == 5
    assert [g["id"] for g in detail["neighbours"]] == [
        g["id"] for g in gallery.similar(galaxy, 5)["neighbours"]]
    assert detail["has_session"] and [(h["score"], h["previous"], h["source"])
                                      for h in detail["history"]] == [(2, None, "user"),
                                                                      (5, 2, "user")]
    assert all(h["labelled_at"] for h in detail["history"])

    predictions = pd.read_parquet(web_files["predictions"]).set_index("id_str").loc[galaxy]
    asked = [c.removesuffix("_asked") for c in predictions.index if c.endswith("_asked")]
    assert [q["question"] for q in detail["questions"]] == asked
    n_answers = sum(len(q["answers"]) for q in detail["questions"])
    assert n_answers == sum(c.endswith("_fraction") for c in predictions.index)
    bar = next(q for q in detail["questions"] if q["question"] == "t03_bar")
    assert bar["asked"] == pytest.approx(predictions["t03_bar_asked"], abs=1e-4)
    for answer in bar["answers"]:
        stem = f"t03_bar_{answer['answer']}"
        assert answer["fraction"] == pytest.approx(predictions[f"{stem}_fraction"], abs=1e-4)
        assert answer["lower90"] == pytest.approx(predictions[f"{stem}_lower90"], abs=1e-4)
        assert answer["upper90"] == pytest.approx(predictions[f"{stem}_upper90"], abs=1e-4)
        assert answer["lower90"] <= answer["upper90"]
    assert label_history(gallery, str(gallery.ids[0])) == []
    ra, dec = detail["galaxy"]["ra"], detail["galaxy"]["dec"]
    assert [link["name"] for link in detail["links"]] == ["Legacy Surveys", "SDSS", "SIMBAD",
                                                          "NED"]
    assert f"ra={ra:.6f}&dec={dec:.6f}" in detail["links"][0]["url"]
    with pytest.raises(UnknownGalaxy, match="nobody"):
        galaxy_detail(gallery, "nobody")


def test_a_galaxy_page_without_predictions_or_session(web_files: dict[str, Path]) -> None:
    gallery = Gallery(web_files["embeddings"])
    detail = galaxy_detail(gallery, str(gallery.ids[0]), k=3)
    assert detail["questions"] == [] and detail["history"] == []
    assert not detail["has_session"] and len(detail["neighbours"]) == 3
    assert np.isfinite([g["distance"] for g in detail["neighbours"]]).all()


@pytest.mark.parametrize(("ra", "dec"), [(None, 1.0), (10.0, None), (float("nan"), 1.0),
                                         (400.0, 1.0), (10.0, -91.0)])
def test_no_sky_links_without_a_position_on_the_sky(ra: float | None, dec: float | None) -> None:
    assert sky_links(ra, dec) == []


def test_sky_links_search_near_the_position_at_every_archive() -> None:
    urls = {link["name"]: link["url"] for link in sky_links(359.5, -0.25)}
    assert urls["SDSS"] == ("https://skyserver.sdss.org/dr17/VisualTools/navi?ra=359.500000"
                            "&dec=-0.250000&scale=0.2")
    assert "Coord=359.500000+-0.250000&CooFrame=ICRS&Radius=10&" in urls["SIMBAD"]
    assert "coordinates=359.500000d+-0.250000d&radius=0.1667" in urls["NED"]
    assert urls["Legacy Surveys"].endswith("&layer=ls-dr10&zoom=16&mark=359.500000,-0.250000")
    north = sky_links(135.0, 59.1)[0]  # north of DR10's images: DR9's northern surveys
    assert "layer=ls-dr9&" in north["url"] and north["title"].endswith("(DR9)")
