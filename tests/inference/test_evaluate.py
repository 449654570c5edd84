"""Evaluation against volunteer votes (galmorph.inference.evaluate).

The tiny untrained model and demo galaxies come from ``tests/inference/conftest.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from galmorph.data.schemas import get_schema
from galmorph.exceptions import CatalogError, GalmorphError, GalmorphWarning
from galmorph.inference.evaluate import evaluate_catalog
from galmorph.models.checkpoint import LoadedModel, load_model

SCHEMA = get_schema("gz2")
N_GALAXIES = 12  # galaxies of the catalog fixture


def test_evaluate_catalog(catalog: pd.DataFrame, loaded: LoadedModel) -> None:
    with pytest.warns(GalmorphWarning, match="t10_arms_winding"):  # no t10/t11 columns
        result = evaluate_catalog(catalog, loaded, num_workers=0, progress=False)
    assert set(result["questions"]) == {q.name for q in SCHEMA.questions}
    assert result["n_galaxies"] == N_GALAXIES and result["n_samples"] == 1
    assert np.isfinite(result["mean_nll"]) and np.isfinite(result["baseline_mean_nll"])
    assert result["model"]["galmorph_model"] == "tiny"
    assert result["model"]["galmorph_views"] == "8"  # the default
    smooth = result["questions"]["t01_smooth_or_features"]
    assert {"nll", "mae", "accuracy_confident", "n_confident"} <= set(smooth)


def test_evaluate_needs_vote_columns(catalog: pd.DataFrame, loaded: LoadedModel) -> None:
    with pytest.raises(CatalogError, match="vote columns"):
        evaluate_catalog(catalog[["id_str", "file_loc"]], loaded, progress=False)


def test_evaluate_rejects_models_it_cannot_score(
    catalog: pd.DataFrame, loaded: LoadedModel
) -> None:
    other = LoadedModel(loaded.model, {**loaded.metadata, "task": "regression"}, loaded.path)
    with pytest.raises(GalmorphError, match="records no label column to evaluate it against"):
        evaluate_catalog(catalog, other, progress=False)
    other = LoadedModel(loaded.model, {**loaded.metadata, "task": "segmentation"}, loaded.path)
    with pytest.raises(GalmorphError, match="'segmentation' model: galmorph evaluates vote"):
        evaluate_catalog(catalog, other, progress=False)


def test_questions_without_training_votes_are_left_out(
    tmp_path, catalog: pd.DataFrame, model_path
) -> None:
    """A model that never saw t03 votes is not scored on them; the catalog's are ignored."""
    payload = torch.load(model_path, weights_only=False)
    payload["galmorph"]["questions_without_votes"] = ["t03_bar"]
    torch.save(payload, tmp_path / "no_bar.pt")
    with pytest.warns(GalmorphWarning, match="no training votes for t03_bar"):
        result = evaluate_catalog(catalog, load_model(tmp_path / "no_bar.pt"), views=1,
                                  num_workers=0, progress=False)
    assert "t03_bar" not in result["questions"]
    assert set(result["questions"]) == {q.name for q in SCHEMA.questions} - {"t03_bar"}
    full = evaluate_catalog(catalog, model_path, views=1, num_workers=0, progress=False)
    bar = full["questions"]["t03_bar"]["nll"]
    assert bar > 0
    # the summed NLL loses exactly the bar question's share
    assert result["mean_nll"] == pytest.approx(full["mean_nll"] - bar, rel=1e-6)


def _model_that_saw(tmp_path, model_path, ids) -> LoadedModel:
    """The tiny model, recording ``ids`` as its training galaxies."""
    from galmorph.data.id_sets import ID_HASH_SCHEME, encode_ids

    payload = torch.load(model_path, weights_only=False)
    payload["galmorph"]["training"]["split"] = {
        "id_hashes": {"scheme": ID_HASH_SCHEME, "train": encode_ids(ids)}}
    torch.save(payload, tmp_path / "saw.pt")
    return load_model(tmp_path / "saw.pt")


def test_galaxies_the_model_trained_on_are_counted_or_left_out(
    tmp_path, catalog: pd.DataFrame, model_path
) -> None:
    saw = _model_that_saw(tmp_path, model_path, catalog["id_str"].head(8))
    options = {"views": 1, "num_workers": 0, "progress": False}
    with pytest.warns(GalmorphWarning, match="8 of 12 galaxies were in tiny's training or "
                                             "validation split.*scores only the 4 others"):
        everything = evaluate_catalog(catalog, saw, **options)
    assert everything["n_galaxies"] == 12 and everything["n_seen"] == 8
    unseen = evaluate_catalog(catalog, saw, only_unseen=True, **options)
    assert unseen["n_galaxies"] == 4 and unseen["n_seen"] == 8 and unseen["only_unseen"]
    alone = evaluate_catalog(catalog.tail(4), saw, **options)
    assert alone["mean_nll"] == pytest.approx(unseen["mean_nll"], rel=1e-5)
    with pytest.raises(CatalogError, match="all 8 galaxies were in tiny's training"):
        evaluate_catalog(catalog.head(8), saw, only_unseen=True, **options)
    with pytest.warns(GalmorphWarning, match="all 8 galaxies were in tiny's training or "
                                             "validation split.*on galaxies it never saw"):
        evaluate_catalog(catalog.head(8), saw, **options)


def test_only_unseen_needs_a_model_that_records_its_galaxies(
    catalog: pd.DataFrame, loaded: LoadedModel
) -> None:
    with pytest.raises(GalmorphError, match="does not record the galaxies it was trained on"):
        evaluate_catalog(catalog, loaded, only_unseen=True, progress=False)
    result = evaluate_catalog(catalog, loaded, views=1, num_workers=0, progress=False)
    assert result["n_seen"] is None


def test_vote_columns_in_upper_case_are_read(catalog: pd.DataFrame, loaded: LoadedModel) -> None:
    """As FITS tables and TOPCAT write them: T01_SMOOTH_OR_FEATURES_A01_SMOOTH_COUNT."""
    votes = [c for c in catalog.columns if c.endswith("_count")]
    upper = catalog.rename(columns={c: c.upper() for c in votes})
    options = {"views": 1, "num_workers": 0, "progress": False}
    assert (evaluate_catalog(upper, loaded, **options)["mean_nll"]
            == pytest.approx(evaluate_catalog(catalog, loaded, **options)["mean_nll"]))
