"""Personalised anomaly detection: EI, the GP's fast posterior, baselines, sessions, benchmark."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from galmorph.anomaly.session import (
    AnomalySession,
    InterestModel,
    artefact_flags,
    benchmark,
    benchmark_setup,
    expected_improvement,
    interest_features,
    isolation_forest_scores,
    lof_scores,
    rank_order,
    ranking_metrics,
    reweighted_scores,
    simulate,
    spread_sample,
    supervised_scores,
    user_scores,
)
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.inference.embed import METADATA_KEY, EmbeddingInfo, feature_columns
from galmorph.inference.outputs import write_table


def write_embeddings(path: Path, features: np.ndarray, ids: list[str] | None = None) -> Path:
    """A minimal embeddings parquet file (no model needed)."""
    ids = ids or [f"G{i:03d}" for i in range(len(features))]
    info = EmbeddingInfo(model={"spec": "none", "path": "none", "name": "none", "sha256": "0"},
                         encoder="none", feature_dim=features.shape[1], image={},
                         n_features=features.shape[1])
    frame = pd.DataFrame(features.astype(np.float32), columns=feature_columns(features.shape[1]))
    frame.insert(0, "id_str", ids)
    return write_table(frame, path, {METADATA_KEY: info.to_json()})


def blobs(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """2-D points: a broad cloud plus a small far blob whose galaxies score 5 (others 0-1)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    special = np.arange(n) < n // 15
    x[special] = rng.normal(loc=(4.0, 4.0), scale=0.3, size=(int(special.sum()), 2))
    scores = np.where(special, 5.0, rng.integers(0, 2, n).astype(float))
    return x, scores


# ----------------------------------------------------- expected improvement
def test_expected_improvement_matches_a_hand_computation() -> None:
    # μ=5, σ=1, best=4, ξ=0.5: gain 0.5, z 0.5; Φ(0.5)=0.691462461, φ(0.5)=0.352065327
    assert expected_improvement(np.array([5.0]), np.array([1.0]), 4.0, 0.5)[0] == pytest.approx(
        0.5 * 0.691462461 + 0.352065327, abs=1e-8)
    # μ=3, σ=2, best=5, ξ=0: gain -2, z -1: -2 Φ(-1) + 2 φ(-1) = -2(0.158655254) + 2(0.241970725)
    assert expected_improvement(np.array([3.0]), np.array([2.0]), 5.0, 0.0)[0] == pytest.approx(
        -2 * 0.158655254 + 2 * 0.241970725, abs=1e-8)
    # σ = 0: the plain improvement, never negative
    assert expected_improvement(np.array([5.0, 3.0]), np.zeros(2), 4.0, 0.5).tolist() == [0.5, 0.0]


def test_expected_improvement_grows_with_mean_and_std() -> None:
    mean, std = np.meshgrid(np.linspace(0, 5, 11), np.linspace(0.01, 3, 11))
    ei = expected_improvement(mean, std, 4.0, 0.5)
    assert (np.diff(ei, axis=1) >= 0).all() and (np.diff(ei, axis=0) >= 0).all()


# ------------------------------------------------------------ the GP model
def test_blockwise_posterior_equals_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 6))
    y = np.clip(np.round(2 + x[:, 0] + 0.3 * rng.normal(size=500)), 0, 5)
    model = InterestModel(seed=0).fit(x[:60], y[:60])
    mean, std = model.predict(x, return_std=True)
    ref_mean, ref_std = model.gp.predict(x, return_std=True)
    np.testing.assert_allclose(mean, ref_mean, atol=1e-8)
    np.testing.assert_allclose(std, ref_std, atol=1e-8)


def test_propose_returns_the_exact_top_expected_improvement() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6000, 8))
    y = np.clip(np.round(2 + 1.5 * x[:, 0] - x[:, 1]), 0, 5)
    labelled = rng.choice(len(x), 80, replace=False)
    model = InterestModel(seed=0).fit(x[labelled], y[labelled])
    candidates = np.ones(len(x), dtype=bool)
    candidates[labelled] = False
    candidates[::7] = False
    proposal = model.propose(x, 10, candidates=candidates, best=5.0, xi=0.5)
    mean, std = model.predict(x, return_std=True)
    ei = np.where(candidates, expected_improvement(mean, std, 5.0, 0.5), -1.0)
    assert proposal.rows.tolist() == np.argsort(-ei, kind="stable")[:10].tolist()
    np.testing.assert_allclose(proposal.acquisition, ei[proposal.rows], rtol=1e-9)
    assert proposal.n_exact < candidates.sum()  # the bound pruned most galaxies


def test_gp_proposes_the_obvious_high_region() -> None:
    x, scores = blobs()
    rng = np.random.default_rng(0)
    labelled = np.concatenate([rng.choice(np.arange(20, 300), 30, replace=False), [0]])
    model = InterestModel(seed=0).fit(x[labelled], scores[labelled])
    candidates = np.ones(len(x), dtype=bool)
    candidates[labelled] = False
    proposal = model.propose(x, 10, candidates=candidates, best=5.0, xi=0.0)
    assert (proposal.rows < 20).all()  # all from the high-scoring blob
    assert (proposal.mean > 2.5).all()


def test_spread_sample_covers_separate_clusters() -> None:
    rng = np.random.default_rng(3)
    centres = np.array([[0, 0], [10, 0], [0, 10]])
    x = np.concatenate([rng.normal(c, 0.5, size=(100, 2)) for c in centres])
    rows = spread_sample(x, 3, seed=0)
    assert sorted(rows // 100) == [0, 1, 2]
    allowed = np.arange(300) >= 100
    assert (spread_sample(x, 5, candidates=allowed, seed=0) >= 100).all()


def test_interest_features_reduce_and_standardise() -> None:
    x = np.random.default_rng(4).normal(size=(200, 12)) * np.arange(1, 13)
    features = interest_features(x, pca=5)
    assert features.shape == (200, 5) and features.dtype == np.float32
    np.testing.assert_allclose(features.std(axis=0), 1, atol=1e-4)
    assert interest_features(x[:, :3], pca=5).shape == (200, 3)


# -------------------------------------------------------------- baselines
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


def test_reweighting_follows_the_researchers_scores() -> None:
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


# ----------------------------------------------------------------- ranking
def test_ranking_metrics_by_hand() -> None:
    interesting = np.array([True, True, False, True, False, False])
    labelled = np.array([True, False, False, False, True, False])
    order = np.array([0, 2, 1, 4, 3, 5])
    metrics = ranking_metrics(order, interesting, labelled, cutoffs=[2, 4])
    assert metrics["precision_at_2"] == 0.5 and metrics["precision_at_4"] == 0.5
    # unlabelled in order: 2, 1, 3, 5
    assert metrics["precision_at_2_unlabelled"] == 0.5
    assert metrics["precision_at_4_unlabelled"] == 0.5
    # hits at positions 1, 3, 5: (1/1 + 2/3 + 3/5) / 3
    assert metrics["average_precision"] == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    assert metrics["n_found"] == 1


def test_rank_order_puts_labelled_first_on_ties() -> None:
    order = rank_order(np.array([3.0, 5.0, 3.0, 1.0]), np.array([False, False, True, False]))
    assert order.tolist() == [1, 2, 0, 3]


def test_user_scores_from_fractions_or_scores() -> None:
    assert user_scores(np.array([0.0, 0.09, 0.1, 0.69, 0.7, 1.0])).tolist() == [0, 0, 1, 3, 4, 5]
    assert user_scores(np.array([0.0, 2.0, 5.0])).tolist() == [0, 2, 5]
    with pytest.raises(GalmorphError, match="fractions"):
        user_scores(np.array([0.0, 7.0]))


# -------------------------------------------------------------- benchmark
def test_benchmark_finds_the_interesting_blob(tmp_path: Path) -> None:
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


# ---------------------------------------------------------------- sessions
@pytest.fixture
def session_files(tmp_path: Path) -> dict[str, Path]:
    x, scores = blobs(n=120)
    ids = [f"G{i:03d}" for i in range(120)]
    predictions = pd.DataFrame({"id_str": ids, "smooth-or-featured_artifact_fraction":
                                np.where(np.arange(120) < 4, 0.9, 0.0)})
    return {"embeddings": write_embeddings(tmp_path / "emb.parquet", x, ids),
            "predictions": write_table(predictions, tmp_path / "pred.parquet"),
            "session": tmp_path / "s.db"}


def test_session_resumes_batches_and_ranks(session_files: dict[str, Path]) -> None:
    files = session_files
    with AnomalySession.start(files["embeddings"], files["session"], batch_size=5) as session:
        first = session.next_batch()
        assert first.method == "cold-start" and len(first.ids) == 5
        session.label(first.ids[0], 5)
    with AnomalySession.open(files["session"]) as session:
        again = session.next_batch()  # the rest of the unfinished batch
        assert again.batch_id == first.batch_id and again.ids == first.ids[1:]
        for galaxy in again.ids:
            session.label(galaxy, 1)
        second = session.next_batch()
        assert second.method == "active" and second.batch_id == first.batch_id + 1
        assert not set(second.ids) & set(first.ids)
        assert second.details["how"] == "expected improvement"
        ranking = session.ranking()
        assert len(ranking) == 120 and ranking["rank"].tolist() == list(range(1, 121))
        top = ranking.iloc[0]
        assert top["id_str"] == first.ids[0] and top["labelled"] and top["interest"] == 5
        forest = session.ranking(method="isolation-forest")
        assert forest.attrs["galmorph"]["galmorph_anomaly_method"] == "isolation-forest"


def test_artefacts_are_left_out_unless_included(session_files: dict[str, Path]) -> None:
    files = session_files
    flagged = {f"G{i:03d}" for i in range(4)}
    with AnomalySession.start(files["embeddings"], files["session"], method="isolation-forest",
                              predictions=files["predictions"], batch_size=120) as session:
        assert set(session.galaxies.loc[session.galaxies["artefact"], "id_str"]) == flagged
        assert not flagged & set(session.next_batch().ids)
        assert not flagged & set(session.ranking()["id_str"])
        assert flagged <= set(session.ranking(include_artefacts=True)["id_str"])
    with AnomalySession.start(files["embeddings"], files["session"], overwrite=True,
                              method="isolation-forest", predictions=files["predictions"],
                              include_artefacts=True, batch_size=120) as session:
        assert flagged <= set(session.next_batch().ids)


def test_session_errors(session_files: dict[str, Path], tmp_path: Path) -> None:
    files = session_files
    AnomalySession.start(files["embeddings"], files["session"]).close()
    with pytest.raises(GalmorphError, match="already exists"):
        AnomalySession.start(files["embeddings"], files["session"])
    with AnomalySession.open(files["session"]) as session, pytest.raises(GalmorphError,
                                                                         match="no labels yet"):
        session.ranking()
    other = write_embeddings(tmp_path / "other.parquet", np.zeros((3, 2)))
    with pytest.raises(GalmorphError, match="ids differ"):
        AnomalySession.open(files["session"], embeddings=other)
    moved = files["embeddings"].rename(tmp_path / "moved.parquet")
    with pytest.raises(GalmorphError, match="is missing"):
        AnomalySession.open(files["session"])
    AnomalySession.open(files["session"], embeddings=moved).close()
    with AnomalySession.open(files["session"]) as session:  # the new path was recorded
        assert session.settings.embeddings == str(moved.resolve())
    with pytest.raises(GalmorphError, match="unknown method"):
        AnomalySession.start(files["embeddings"], tmp_path / "x.db", method="magic")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isfinite(InterestModel().fit(np.zeros((1, 2)), np.ones(1)).predict(
            np.zeros((2, 2)))[0])


@pytest.mark.parametrize("method", ["isolation-forest", "lof", "reweighted-forest"])
def test_baseline_sessions_propose_their_top_scores(session_files: dict[str, Path],
                                                    method: str) -> None:
    with AnomalySession.start(session_files["embeddings"], session_files["session"],
                              method=method, batch_size=3) as session:
        session.label("G050", 0)
        batch = session.next_batch()
        assert batch.method == method and len(batch.ids) == 3 and "G050" not in batch.ids
        ranking = session.ranking()
        unlabelled = ranking[~ranking["labelled"]]
        assert unlabelled["id_str"].head(3).tolist() == batch.ids
        assert ranking["predicted"].between(0, 5).all()
        assert session.galaxies["lof"].notna().all() == (method == "lof")
