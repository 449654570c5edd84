"""Evaluation against volunteer votes (galmorph.inference.evaluate).

The tiny untrained model and demo galaxies come from ``tests/inference/conftest.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galmorph.data.schemas import get_schema
from galmorph.exceptions import CatalogError, GalmorphError, GalmorphWarning
from galmorph.inference.evaluate import evaluate_catalog
from galmorph.models.checkpoint import LoadedModel

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


def test_evaluate_rejects_models_without_votes(
    catalog: pd.DataFrame, loaded: LoadedModel
) -> None:
    other = LoadedModel(loaded.model, {**loaded.metadata, "task": "regression"}, loaded.path)
    with pytest.raises(GalmorphError, match="regression"):
        evaluate_catalog(catalog, other, progress=False)
