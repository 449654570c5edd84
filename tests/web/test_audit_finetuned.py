"""``galmorph serve`` with a fine-tuned classifier, as the fine-tuning tutorial makes one:
its predictions start a labelling session, its numbered classes say they are classes, a
``--model`` that is not the embeddings' is refused before the server listens, and a few
answers that named files or command-line flags the page cannot use."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from galmorph.cli import main
from galmorph.exceptions import GalmorphWarning
from galmorph.web.app import create_app
from galmorph.web.gallery import Gallery
from galmorph.web.summary import PredictionSummary


def ring_predictions(ids: list[str]) -> pd.DataFrame:
    """What ``galmorph predict`` writes for the tutorial's ring classifier (classes 0 and 1)."""
    ring = np.linspace(0.05, 0.95, len(ids))
    return pd.DataFrame({"id_str": ids, "prob_0": 1 - ring, "prob_1": ring,
                         "predicted_label": (ring > 0.5).astype(int)})


@pytest.fixture
def rings(web_files: dict[str, Path], tmp_path: Path) -> Path:
    """The ring classifier's predictions of the 40 web galaxies."""
    ids = pd.read_parquet(web_files["embeddings"], columns=["id_str"])["id_str"].tolist()
    ring_predictions(ids).to_parquet(tmp_path / "rings.parquet", index=False)
    return tmp_path / "rings.parquet"


def test_a_classifiers_predictions_start_a_labelling_session(
        web_files: dict[str, Path], rings: Path, tmp_path: Path) -> None:
    """They have no star-or-artefact fraction: the session starts without artefact flags
    (saying so) instead of refusing with advice about an option serve does not have."""
    with pytest.warns(GalmorphWarning, match=r"predictions .*rings.parquet have no "
                                             "star-or-artefact fraction"):
        gallery = Gallery(web_files["embeddings"], predictions=rings,
                          session=tmp_path / "hunt.db", batch_size=4)
    client = TestClient(create_app(gallery))
    batch = client.get("/api/anomaly/batch").json()
    assert len(batch["galaxies"]) == 4
    for galaxy, score in zip(batch["galaxies"], (4, 1), strict=False):
        answer = client.post("/api/anomaly/label", json={"id": galaxy["id"], "score": score})
        assert answer.status_code == 200
    assert client.post("/api/anomaly/retrain").json()["retrained"]
    gallery.close()


def test_galaxy_zoo_predictions_still_flag_artefacts(web_files: dict[str, Path],
                                                     tmp_path: Path) -> None:
    gallery = Gallery(web_files["embeddings"], predictions=web_files["predictions"],
                      session=tmp_path / "hunt.db", batch_size=4)
    assert gallery.session.settings.artefact_column == (
        "t01_smooth_or_features_a03_star_or_artifact_fraction")
    gallery.close()


def test_a_numbered_class_says_it_is_a_class() -> None:
    """A bare ``1 0.79`` on a card beside the 0–5 score buttons reads as a score."""
    numbered = PredictionSummary(ring_predictions(["a", "b"]), "p.parquet")
    assert [s["text"] for s in numbered("a")] == ["class: 0"]
    assert [s["text"] for s in numbered("b")] == ["class: 1"]
    named = PredictionSummary(pd.DataFrame({"id_str": ["a"], "prob_ring": [0.9],
                                            "prob_not ring": [0.1]}), "p.parquet")
    assert [s["text"] for s in named("a")] == ["ring"]


def test_serve_refuses_a_model_that_did_not_make_the_embeddings(
        web_files: dict[str, Path], bn_model: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: the server started and every search by uploaded image failed, telling the user
    to pass the model with --model, which they had done."""
    import uvicorn

    def listen(*args: object, **kwargs: object) -> None:
        raise AssertionError("the server started with a model that did not make the embeddings")

    monkeypatch.setattr(uvicorn, "run", listen)
    shutil.copyfile(web_files["embeddings"], tmp_path / "emb.parquet")
    code = main(["serve", str(tmp_path / "emb.parquet"), "--model", str(bn_model),
                 "--no-map", "--port", "0"])
    error = capsys.readouterr().err
    assert code != 0
    assert f"--model {bn_model}" in error and "is not the model" in error
    assert "--predictions P.parquet" in error and "galmorph embed" in error


def test_serve_takes_the_embeddings_own_model(web_files: dict[str, Path]) -> None:
    from galmorph.cli.serve import _check_model

    gallery = Gallery(web_files["embeddings"])
    _check_model(gallery, str(web_files["model"]))  # no error
    gallery.close()


def test_an_unreadable_image_is_not_sent_with_its_path(web_files: dict[str, Path],
                                                       tmp_path: Path) -> None:
    """Images are served by id only: a 404 must not tell the browser where the files are."""
    catalog = pd.read_csv(web_files["catalog"])
    catalog["file_loc"] = [str(web_files["root"] / loc) for loc in catalog["file_loc"]]
    (tmp_path / "broken.fits").write_bytes(b"SIMPLE  = not a FITS file")
    catalog.loc[0, "file_loc"] = str(tmp_path / "broken.fits")
    catalog.to_csv(tmp_path / "catalog.csv", index=False)
    gallery = Gallery(web_files["embeddings"], catalog=tmp_path / "catalog.csv")
    answer = TestClient(create_app(gallery)).get(f"/images/{catalog['id_str'][0]}")
    assert answer.status_code == 404
    assert str(tmp_path) not in answer.text and "broken.fits" not in answer.text
    assert f"the image file of galaxy {catalog['id_str'][0]!r} cannot be read" in answer.text
    gallery.close()


def test_a_position_near_a_galaxy_suggests_what_the_page_can_do(
        web_files: dict[str, Path]) -> None:
    gallery = Gallery(web_files["embeddings"])
    first = gallery.describe(0)
    near = f"{first['ra']:.6f} {first['dec'] + 0.002:.6f}"  # 7.2 arcsec away
    answer = TestClient(create_app(gallery)).get(f"/api/similar/{near}")
    assert answer.status_code == 404
    detail = answer.json()["detail"]
    assert f"the nearest is {first['id']}" in detail and "type its id" in detail
    assert "--match-radius" not in detail
    gallery.close()


@pytest.mark.parametrize("score", [b"NaN", b"Infinity", b"-Infinity"])
def test_a_score_that_is_not_a_finite_number_is_named_so(
        web_files: dict[str, Path], tmp_path: Path, score: bytes) -> None:
    gallery = Gallery(web_files["embeddings"], session=tmp_path / "hunt.db", batch_size=4)
    body = b'{"id": "%s", "score": %s}' % (str(gallery.ids[0]).encode(), score)
    answer = TestClient(create_app(gallery)).post(
        "/api/anomaly/label", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["detail"] == "score: Input should be a finite number"
    gallery.close()


def test_serve_warns_when_the_embeddings_model_is_not_there(
        web_files: dict[str, Path], tmp_path: Path) -> None:
    """Before: the server started silently and every search by uploaded image failed."""
    import warnings

    from galmorph.cli.serve import _check_recorded_model

    gallery = Gallery(web_files["embeddings"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_recorded_model(gallery)  # the model is where the file says: no warning
    gone = str(tmp_path / "moved" / "model.pt")
    gallery.embeddings.info.model.update(spec=gone, path=gone)
    with pytest.warns(GalmorphWarning, match=r"is not there: searches by uploaded image will "
                                             r"fail until galmorph serve is given it with "
                                             r"--model MODEL"):
        _check_recorded_model(gallery)
    gallery.close()
