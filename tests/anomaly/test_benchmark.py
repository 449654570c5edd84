"""The simulated-researcher benchmark: user scores, simulated sessions, the ceiling."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from galmorph.anomaly.benchmark import (
    benchmark,
    benchmark_setup,
    simulate,
    supervised_scores,
    user_scores,
)
from galmorph.exceptions import GalmorphError, GalmorphWarning


def test_user_scores_from_fractions_or_scores() -> None:
    assert user_scores(np.array([0.0, 0.09, 0.1, 0.69, 0.7, 1.0])).tolist() == [0, 0, 1, 3, 4, 5]
    assert user_scores(np.array([0.0, 2.0, 5.0])).tolist() == [0, 2, 5]
    with pytest.raises(GalmorphError, match="fractions"):
        user_scores(np.array([0.0, 7.0]))


def test_benchmark_finds_the_interesting_blob(tmp_path: Path, blobs: Callable,
                                             write_embeddings: Callable) -> None:
    x, scores = blobs(n=300)
    emb = write_embeddings(tmp_path / "emb.parquet", x)
    truth = pd.DataFrame({"id_str": [f"G{i:03d}" for i in range(300)],
                          "odd_fraction": scores / 5}).iloc[5:]  # 5 galaxies without truth
    with pytest.warns(GalmorphWarning, match="5 of 300 galaxies have no odd_fraction"):
        setup = benchmark_setup(emb, truth, "odd_fraction")
    assert setup.notes["n_galaxies"] == 295 and setup.notes["n_interesting"] == 15
    active = simulate("active", setup, n_labels=40, batch_size=10, seed=0)
    assert active["n_found"] == 15 and active["precision_at_50"] == pytest.approx(15 / 50)
    result = benchmark(setup, n_labels=30, repeats=2)
    assert set(result) == {"active", "isolation_forest", "reweighted_forest", "random",
                           "supervised_ceiling", "settings"}
    assert result["supervised_ceiling"]["precision_at_50"] == pytest.approx(15 / 50)
    assert result["active"]["average_precision"] > result["random"]["average_precision"]
    assert {"precision_at_50", "precision_at_50_unlabelled", "average_precision",
            "precision_at_200_std"} <= set(result["active"])
    with pytest.warns(GalmorphWarning):
        stricter = benchmark_setup(emb, truth, "odd_fraction", threshold=1.1)
    assert stricter.notes["n_interesting"] == 0


def test_supervised_ceiling_measures_what_the_features_separate() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5))
    linear = x[:, 0] > 1.2  # a linear read-out of the features finds these
    scores = supervised_scores(x, linear, seed=0)
    assert roc_auc_score(linear, scores) > 0.97
    unrelated = rng.random(400) < linear.mean()  # nothing in x tells these apart
    assert roc_auc_score(unrelated, supervised_scores(x, unrelated, seed=0)) < 0.65
    assert not supervised_scores(x, np.zeros(400, bool)).any()
