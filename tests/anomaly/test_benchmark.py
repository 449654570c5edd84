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
    assert setup.notes["interesting_rule"] == "odd_fraction ≥ 0.7"  # the default, said
    active = simulate("active", setup, n_labels=40, batch_size=10, seed=0)
    assert active["n_found"] == 15 and active["precision_at_50"] == pytest.approx(15 / 50)
    result = benchmark(setup, n_labels=30, repeats=2)
    assert set(result) == {"active", "isolation_forest", "reweighted_forest", "random",
                           "supervised_ceiling", "settings"}
    assert result["supervised_ceiling"]["precision_at_50"] == pytest.approx(15 / 50)
    assert result["active"]["average_precision"] > result["random"]["average_precision"]
    assert {"precision_at_50", "precision_at_50_unlabelled", "average_precision",
            "precision_at_200_std"} <= set(result["active"])
    with pytest.warns(GalmorphWarning), pytest.raises(GalmorphError, match="no galaxy is "
                                                     "interesting.*1.1.*maximum.* is 1"):
        benchmark_setup(emb, truth, "odd_fraction", threshold=1.1)
    for bad, named in (({"xi": -1}, "xi"), ({"seed": -1}, "seed"), ({"repeats": 0}, "repeats"),
                       ({"n_labels": 2.5}, "n_labels"), ({"batch_size": "10"}, "batch_size")):
        with pytest.raises(ValueError, match=f"^{named} \\(--"):
            benchmark(setup, **bad)


def test_supervised_ceiling_measures_what_the_features_separate() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5))
    linear = x[:, 0] > 1.2  # a linear read-out of the features finds these
    scores = supervised_scores(x, linear, seed=0)
    assert roc_auc_score(linear, scores) > 0.97
    unrelated = rng.random(400) < linear.mean()  # nothing in x tells these apart
    assert roc_auc_score(unrelated, supervised_scores(x, unrelated, seed=0)) < 0.65
    assert not supervised_scores(x, np.zeros(400, bool)).any()


def _truth_file(tmp_path: Path, scores: list[object], ids: list[str] | None = None) -> Path:
    """A truth CSV of ``scores`` for G000, G001, ... (or ``ids``)."""
    ids = ids or [f"G{i:03d}" for i in range(len(scores))]
    path = tmp_path / "truth.csv"
    pd.DataFrame({"id_str": ids, "score": scores}).to_csv(path, index=False)
    return path


def test_benchmark_rejects_text_scores_naming_file_column_and_rows(
        tmp_path: Path, write_embeddings: Callable) -> None:
    emb = write_embeddings(tmp_path / "emb.parquet", np.random.default_rng(0).normal(size=(20, 2)))
    scores: list[object] = [5, 0] * 10
    scores[3] = scores[11] = "abc"
    scores[5] = None  # empty: still only a warning
    truth = _truth_file(tmp_path, scores)
    with pytest.raises(GalmorphError) as caught:
        benchmark_setup(emb, truth, "score")
    message = str(caught.value)
    assert str(truth) in message and "'score'" in message and "2 non-numeric values" in message
    assert "row 3 (G003): abc, row 11 (G011): abc" in message and "row 5" not in message


def test_benchmark_rejects_repeated_ids(tmp_path: Path, write_embeddings: Callable) -> None:
    emb = write_embeddings(tmp_path / "emb.parquet", np.random.default_rng(0).normal(size=(20, 2)))
    ids = [f"G{i:03d}" for i in range(20)] + ["G004"]  # the repeat agrees with row 4
    truth = _truth_file(tmp_path, [5, 0] * 10 + [5], ids)
    with pytest.raises(GalmorphError, match=r"truth.csv: id_str must be unique; 1 id repeated: "
                                            r"G004 \(rows 4, 20\).*even where their values agree"):
        benchmark_setup(emb, truth, "score")


@pytest.mark.parametrize(("scores", "threshold", "expected"), [
    ([0.0] * 20, None, r"score of at least 4.*maximum of column 'score' of truth catalog .*"
                       r"truth.csv is 0"),
    ([5, 0] * 10, 99.0, r"reaches --interesting-threshold 99; the maximum .* is 5"),
])
def test_benchmark_needs_an_interesting_galaxy(tmp_path: Path, write_embeddings: Callable,
                                               scores: list[float], threshold: float | None,
                                               expected: str) -> None:
    emb = write_embeddings(tmp_path / "emb.parquet", np.random.default_rng(0).normal(size=(20, 2)))
    with pytest.raises(GalmorphError, match="no galaxy is interesting: .*" + expected):
        benchmark_setup(emb, _truth_file(tmp_path, scores), "score", threshold=threshold)


@pytest.mark.parametrize("bad", [7, -2])
def test_benchmark_out_of_range_scores_name_file_column_and_rows(
        tmp_path: Path, write_embeddings: Callable, bad: float) -> None:
    emb = write_embeddings(tmp_path / "emb.parquet", np.random.default_rng(0).normal(size=(20, 2)))
    scores: list[float] = [5, 0] * 10
    scores[6] = bad
    truth = _truth_file(tmp_path, scores)
    with pytest.raises(GalmorphError) as caught:
        benchmark_setup(emb, truth, "score")
    message = str(caught.value)
    assert str(truth) in message and "column 'score'" in message
    assert "fractions in [0, 1] or scores in [0, 5]" in message
    assert f"1 row: row 6 (G006): {bad}" in message


def test_benchmark_refuses_a_budget_that_labels_every_galaxy(
        tmp_path: Path, write_embeddings: Callable) -> None:
    emb = write_embeddings(tmp_path / "emb.parquet", np.random.default_rng(0).normal(size=(20, 2)))
    setup = benchmark_setup(emb, _truth_file(tmp_path, [5, 0] * 10), "score")
    with pytest.raises(ValueError, match=r"^n_labels \(--labels\) must be below the 20 galaxies "
                                         r"that can be labelled, got 20"):
        benchmark(setup, n_labels=20, repeats=1)
    assert benchmark(setup, n_labels=19, repeats=1)["settings"]["n_labels"] == 19
