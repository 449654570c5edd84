"""``galmorph anomaly score``: a hunt's interest model applied to other embeddings of the
same features, a file or a partitioned folder, one partition at a time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galmorph.anomaly.scoring import score_embeddings
from galmorph.anomaly.session import AnomalySession
from galmorph.cli import main
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.inference.outputs import read_metadata

Write = Callable[..., Path]


@pytest.fixture
def hunt(tmp_path: Path, write_embeddings: Write,
         blobs: Callable[..., tuple[np.ndarray, np.ndarray]]) -> tuple[Path, np.ndarray, list[str]]:
    """A session on 120 galaxies' 6 features (30 scored), and the features of those 120 and
    80 more, the same kind, as one file."""
    x, scores = blobs(200, seed=3)
    rng = np.random.default_rng(3)
    features = np.hstack([x, rng.normal(size=(200, 4))]).astype(np.float32)
    ids = [f"G{i:03d}" for i in range(200)]
    order = rng.permutation(200)
    features, scores, ids = features[order], scores[order], [ids[i] for i in order]
    sample = write_embeddings(tmp_path / "sample.parquet", features[:120], ids[:120])
    write_embeddings(tmp_path / "all.parquet", features, ids)
    with AnomalySession.start(sample, tmp_path / "hunt.db", pca=4) as session:
        session.label_many({ids[i]: scores[i] for i in range(30)})
    return tmp_path / "hunt.db", scores, ids


def test_a_file_is_scored_as_the_session_ranks_its_own_galaxies(
    tmp_path: Path, hunt: tuple[Path, np.ndarray, list[str]]
) -> None:
    db, scores, ids = hunt
    with AnomalySession.open(db) as session:
        own = session.ranking().set_index("id_str")
        summary = score_embeddings(session, tmp_path / "all.parquet", tmp_path / "i.csv", top=5)
    table = pd.read_csv(summary.output, dtype={"id_str": str}).set_index("id_str")
    assert len(table) == summary.n_galaxies == 200 and summary.n_labelled == 30
    assert table["predicted"].is_monotonic_decreasing  # a file: most interesting first
    sample = own.index  # the session's galaxies get the predictions its ranking gives them
    np.testing.assert_allclose(table.loc[sample, "predicted"], own["predicted"], rtol=1e-6)
    assert table["labelled"].sum() == 30 and (table["std"] > 0).all()
    np.testing.assert_array_equal(table.loc[ids[:30], "score"], scores[:30])
    assert summary.top["labelled"].eq(False).all() and len(summary.top) == 5
    assert list(summary.top["id_str"]) == list(table[~table["labelled"]].index[:5])
    # the hunt's taste carries to galaxies it never saw: the far blob (score 5) comes first
    unseen = table.loc[ids[120:]]
    assert scores[120:][np.argsort(-unseen["predicted"].to_numpy())[:3]].min() == 5
    assert read_metadata(summary.output)["galmorph_anomaly_labels"] == "30"


def test_a_session_prints_in_one_line(hunt: tuple[Path, np.ndarray, list[str]]) -> None:
    db, _, _ = hunt
    with AnomalySession.open(db) as session:
        assert repr(session) == (f"AnomalySession({str(db)!r}, 120 galaxies, 30 labels, "
                                 "method='active')")
    assert repr(session).endswith("120 galaxies, closed, method='active')")


def test_a_folder_is_scored_a_partition_at_a_time(
    tmp_path: Path, hunt: tuple[Path, np.ndarray, list[str]], write_embeddings: Write
) -> None:
    db, _, ids = hunt
    whole = pd.read_parquet(tmp_path / "all.parquet")
    features = whole.filter(like="feat_").to_numpy()
    for part, rows in (("a", slice(0, 90)), ("b", slice(90, 200))):
        write_embeddings(tmp_path / "emb" / f"part={part}" / "e.parquet", features[rows],
                         ids[rows])
    with AnomalySession.open(db) as session:
        summary = score_embeddings(session, tmp_path / "emb", tmp_path / "out", top=4)
        single = score_embeddings(session, tmp_path / "all.parquet", tmp_path / "one.parquet")
    parts = [pd.read_parquet(tmp_path / "out" / f"part={p}" / "e.parquet") for p in "ab"]
    assert [len(p) for p in parts] == [90, 110]
    assert list(parts[0]["id_str"]) == ids[:90]  # a partition keeps its rows' order
    joined = pd.concat(parts).set_index("id_str")
    expected = pd.read_parquet(tmp_path / "one.parquet").set_index("id_str")
    np.testing.assert_allclose(joined.loc[expected.index, "predicted"], expected["predicted"])
    assert list(summary.top["id_str"]) == list(single.top["id_str"][:4])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no leftovers


def _three_partitions(tmp_path: Path, ids: list[str], write_embeddings: Write) -> None:
    """``all.parquet`` as the folder ``emb`` of partitions a, b and c (70, 70, 60 rows)."""
    features = pd.read_parquet(tmp_path / "all.parquet").filter(like="feat_").to_numpy()
    for part, rows in (("a", slice(0, 70)), ("b", slice(70, 140)), ("c", slice(140, 200))):
        write_embeddings(tmp_path / "emb" / f"part={part}" / "e.parquet", features[rows],
                         ids[rows])


def test_dask_workers_score_the_partitions_alike(
    tmp_path: Path, hunt: tuple[Path, np.ndarray, list[str]], write_embeddings: Write,
    capsys: pytest.CaptureFixture[str]
) -> None:
    db, _, ids = hunt
    _three_partitions(tmp_path, ids, write_embeddings)
    assert main(["anomaly", "score", "--session", str(db), str(tmp_path / "emb"),
                 "-o", str(tmp_path / "here"), "--top", "4"]) == 0
    here = capsys.readouterr().out
    assert main(["anomaly", "score", "--session", str(db), str(tmp_path / "emb"),
                 "-o", str(tmp_path / "dask"), "--top", "4", "--workers", "2"]) == 0
    assert capsys.readouterr().out.replace(str(tmp_path / "dask"), str(tmp_path / "here")) == here
    for part in "abc":
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "dask" / f"part={part}" / "e.parquet"),
            pd.read_parquet(tmp_path / "here" / f"part={part}" / "e.parquet"))


def test_features_of_another_kind_are_refused(
    tmp_path: Path, hunt: tuple[Path, np.ndarray, list[str]], write_embeddings: Write
) -> None:
    db, _, ids = hunt
    features = pd.read_parquet(tmp_path / "all.parquet").filter(like="feat_").to_numpy()
    write_embeddings(tmp_path / "other.parquet", features, ids, model="another")
    write_embeddings(tmp_path / "views.parquet", features, ids, views=4)
    with AnomalySession.open(db) as session:
        with pytest.raises(GalmorphError, match="made by model another"):
            score_embeddings(session, tmp_path / "other.parquet", tmp_path / "x.csv")
        with pytest.raises(GalmorphError, match=r"views 1 → 4\): its interest model cannot"):
            score_embeddings(session, tmp_path / "views.parquet", tmp_path / "x.csv")
        with pytest.raises(GalmorphError, match="name the output file .parquet"):
            score_embeddings(session, tmp_path / "all.parquet", tmp_path / "x.txt")
    assert not (tmp_path / "x.csv").exists()


def test_features_in_the_space_of_another_pca_are_refused(tmp_path: Path,
                                                          write_embeddings: Write) -> None:
    from galmorph.inference.embedding_reduce import reduce_embeddings

    features = np.random.default_rng(4).normal(size=(60, 8)).astype(np.float32)
    write_embeddings(tmp_path / "sample.parquet", features[:30])
    write_embeddings(tmp_path / "all.parquet", features)
    reduce_embeddings(tmp_path / "sample.parquet", tmp_path / "sample3.parquet", 3)
    reduce_embeddings(tmp_path / "all.parquet", tmp_path / "all3.parquet", 3)
    with AnomalySession.start(tmp_path / "sample3.parquet", tmp_path / "h.db") as session:
        session.label_many({"G000": 5, "G001": 0})
        with pytest.raises(GalmorphError, match="the PCA inside them"):
            score_embeddings(session, tmp_path / "all3.parquet", tmp_path / "x.csv")
        assert score_embeddings(session, tmp_path / "sample3.parquet",
                                tmp_path / "y.csv").n_galaxies == 30


def test_the_command_prints_the_most_interesting(
    tmp_path: Path, hunt: tuple[Path, np.ndarray, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    db, _, _ = hunt
    assert main(["anomaly", "score", "--session", str(db), str(tmp_path / "all.parquet"),
                 "-o", str(tmp_path / "i.parquet"), "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "Scored 200 galaxies (30 of them labelled in the session)" in out
    top = pd.read_parquet(tmp_path / "i.parquet")
    top = top[~top["labelled"]].head(3)
    for galaxy in top["id_str"]:
        assert galaxy in out
    fresh = tmp_path / "fresh.db"
    assert main(["anomaly", "start", str(tmp_path / "sample.parquet"), "--session",
                 str(fresh)]) == 0
    assert main(["anomaly", "score", "--session", str(fresh), str(tmp_path / "all.parquet"),
                 "-o", str(tmp_path / "j.parquet")]) == 2
    assert "has no scores yet" in capsys.readouterr().err


def test_an_interrupted_folder_resumes_where_it_stopped(
    tmp_path: Path, hunt: tuple[Path, np.ndarray, list[str]], write_embeddings: Write,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from galmorph.anomaly import scoring

    db, _, ids = hunt
    _three_partitions(tmp_path, ids, write_embeddings)
    with AnomalySession.open(db) as session:
        clean = score_embeddings(session, tmp_path / "emb", tmp_path / "clean", top=4)
    scored: list[str] = []
    real = scoring.score_partition

    def failing_on_b(piece, scorer, target):  # noqa: ANN001, ANN202 (a node lost mid-run)
        if "part=b" in str(piece.path):
            raise GalmorphError(f"cannot read the features of {piece.path}: node lost")
        scored.append(piece.path.parent.name)
        return real(piece, scorer, target)

    monkeypatch.setattr(scoring, "score_partition", failing_on_b)
    assert main(["anomaly", "score", "--session", str(db), str(tmp_path / "emb"),
                 "-o", str(tmp_path / "out"), "--top", "4"]) == 2
    said = " ".join(capsys.readouterr().err.split())
    partial = tmp_path / ".out.partial"
    assert f"node lost. 1 of 3 partitions are scored in {partial}: run the command again " \
           "with --resume" in said
    assert not (tmp_path / "out").exists() and scored == ["part=a"]

    scored.clear()
    monkeypatch.setattr(scoring, "score_partition", lambda *a: (scored.append("x"), real(*a))[1])
    assert main(["anomaly", "score", "--session", str(db), str(tmp_path / "emb"),
                 "-o", str(tmp_path / "out"), "--top", "4", "--resume"]) == 0
    assert scored == ["x", "x"] and not partial.exists()  # part=a is not scored again
    resumed = capsys.readouterr().out
    for part in "abc":
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "out" / f"part={part}" / "e.parquet"),
            pd.read_parquet(tmp_path / "clean" / f"part={part}" / "e.parquet"))
    assert all(i in resumed for i in clean.top["id_str"])  # the same most interesting

    # other labels since: the partial scores are not theirs, so every partition is scored
    monkeypatch.setattr(scoring, "score_partition", failing_on_b)
    with AnomalySession.open(db) as session, pytest.raises(GalmorphError):
        score_embeddings(session, tmp_path / "emb", tmp_path / "again")
    with AnomalySession.open(db) as session:
        session.label(ids[40], 5)
    scored.clear()
    monkeypatch.setattr(scoring, "score_partition", lambda *a: (scored.append("x"), real(*a))[1])
    with AnomalySession.open(db) as session, pytest.warns(GalmorphWarning,
                                                          match="scores of another run"):
        score_embeddings(session, tmp_path / "emb", tmp_path / "again", resume=True)
    assert scored == ["x", "x", "x"]
