"""Unsupervised baselines (isolation forest, LOF, re-weighted forest) and artefact flags."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from galmorph.anomaly.baselines import (
    artefact_flags,
    isolation_forest_scores,
    lof_scores,
    reweighted_scores,
)
from galmorph.exceptions import GalmorphError, GalmorphWarning


def test_isolation_forest_and_lof_find_an_outlier() -> None:
    x = np.random.default_rng(5).normal(size=(400, 3))
    x[17] = [8, 8, 8]
    assert int(np.argmax(isolation_forest_scores(x))) == 17
    assert int(np.argmax(lof_scores(x))) == 17


def test_lof_equals_scikit_learn_when_every_row_is_the_reference() -> None:
    from sklearn.neighbors import LocalOutlierFactor

    x = np.random.default_rng(6).normal(size=(300, 4)).astype(np.float32)
    reference = -LocalOutlierFactor(n_neighbors=20).fit(x).negative_outlier_factor_
    np.testing.assert_allclose(lof_scores(x, n_neighbors=20), reference, rtol=1e-4)


def test_reweighting_follows_the_researchers_scores(blobs: Callable) -> None:
    x, _ = blobs()
    anomaly = isolation_forest_scores(x)
    plain = reweighted_scores(anomaly, x, np.array([], dtype=int), np.array([]))
    assert plain.max() == pytest.approx(5.0) and plain.min() == pytest.approx(0.0)
    boring = reweighted_scores(anomaly, x, np.array([0, 1, 2]), np.array([0.0, 0.0, 0.0]))
    liked = reweighted_scores(anomaly, x, np.array([0, 1, 2]), np.array([5.0, 5.0, 5.0]))
    blob = np.arange(20)
    assert (boring[blob] < liked[blob]).all()
    # at a labelled galaxy (distance 0) the weight is 0.1 + 0.85 u / 5 with u its prediction
    assert liked[0] == pytest.approx(plain[0] * 0.95)


def test_artefact_flags_use_the_predicted_fraction() -> None:
    predictions = pd.DataFrame({
        "id_str": ["A", "B", "C"],
        "t01_smooth_or_features_a03_star_or_artifact_fraction": [0.9, 0.2, 0.5],
    })
    with pytest.warns(GalmorphWarning, match="1 of 4 galaxies have no"):
        flags, values, column = artefact_flags(predictions, ["A", "B", "C", "D"])
    assert flags.tolist() == [True, False, True, False]
    assert np.isnan(values[3]) and column.startswith("t01")
    flags, _, _ = artefact_flags(predictions, ["A", "B", "C"], threshold=0.95)
    assert not flags.any()
    with pytest.raises(GalmorphError, match="no column 'x'"):
        artefact_flags(predictions, ["A"], column="x")


def test_artefact_flags_errors_name_the_file_and_its_columns() -> None:
    predictions = pd.DataFrame({"id_str": ["A"], "rank": [1], "interest": [5.0]})
    with pytest.raises(GalmorphError, match=r"predictions file r\.csv has none of the artefact "
                       r"columns .*its columns: id_str, rank, interest"):
        artefact_flags(predictions, ["A"], source="predictions file r.csv")
    with pytest.raises(GalmorphError, match=r"r\.csv has no id_str column \(its columns: rank"):
        artefact_flags(predictions[["rank"]], ["A"], source="predictions file r.csv")
