"""Anomaly sessions: batches that resume, rankings, artefacts, errors and baselines, and
the checks of what a session is given (settings, session files, embeddings, predictions)."""

from __future__ import annotations

import math
import sqlite3
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galmorph.anomaly.interest import InterestModel
from galmorph.anomaly.session import AnomalySession
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.inference.outputs import write_table


@pytest.fixture
def session_files(tmp_path: Path, blobs: Callable, write_embeddings: Callable
                  ) -> dict[str, Path]:
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


def test_artefacts_are_flagged_from_a_partitioned_predict_folder(
    session_files: dict[str, Path], tmp_path: Path
) -> None:
    """The folder a partitioned ``galmorph predict`` writes: the parts its manifest lists."""
    from galmorph.inference.manifest import Manifest, PartitionRecord

    table = pd.read_parquet(session_files["predictions"])
    folder = tmp_path / "preds"
    manifest = Manifest(folder, {"kind": "predict"})
    for name, part in (("a.parquet", table.iloc[:2]), ("b.parquet", table.iloc[2:])):
        write_table(part, folder / name)
        manifest.record(name, PartitionRecord(len(part), "", "", len(part)))
    write_table(table.assign(**{"smooth-or-featured_artifact_fraction": 1.0}),
                folder / "stale.parquet")  # not listed: not read
    manifest.save()
    with AnomalySession.start(session_files["embeddings"], session_files["session"],
                              method="isolation-forest", predictions=folder) as session:
        flagged = set(session.galaxies.loc[session.galaxies["artefact"], "id_str"])
    assert flagged == {f"G{i:03d}" for i in range(4)}


def test_session_errors(session_files: dict[str, Path], tmp_path: Path,
                        write_embeddings: Callable) -> None:
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


# ------------------------------------------------------------- input checks
def test_open_refuses_embeddings_of_another_model(tmp_path: Path, blobs: Callable,
                                                  write_embeddings: Callable) -> None:
    x, _ = blobs(n=30)
    first = write_embeddings(tmp_path / "a.parquet", x, model="model-a")
    other = write_embeddings(tmp_path / "b.parquet", x, model="model-b")  # the same galaxies
    AnomalySession.start(first, tmp_path / "s.db").close()
    with pytest.raises(GalmorphError, match=r"b.parquet holds embeddings made by model model-b "
                                            r"\(sha256 .*started with .* model model-a"):
        AnomalySession.open(tmp_path / "s.db", embeddings=other)
    with AnomalySession.open(tmp_path / "s.db") as session:  # the stored path is unchanged
        assert session.settings.embeddings == str(first.resolve())


@pytest.mark.parametrize(("setting", "expected"), [
    ({"xi": "a"}, "xi (--xi) must be a finite number of at least 0, got 'a'"),
    ({"xi": math.nan}, "xi (--xi) must be a finite number of at least 0, got nan"),
    ({"xi": -1}, "xi (--xi) must be a finite number of at least 0, got -1"),
    ({"seed": -1}, "seed (--seed) must be a whole number from 0 to 4294967295"),
    ({"seed": 2**32}, "from 0 to 4294967295, got 4294967296"),
    ({"pca": 2.5}, "pca (--pca) must be a whole number of at least 1, got 2.5"),
    ({"pca": "3"}, "pca (--pca) must be a whole number of at least 1, got '3'"),
    ({"batch_size": 0}, "batch_size (--batch-size) must be a whole number of at least 1"),
    ({"artefact_threshold": "a"}, "artefact_threshold (--artefact-threshold) must be a finite "
                                  "number from 0 to 1, got 'a'"),
    ({"artefact_threshold": 1.5}, "from 0 to 1, got 1.5"),
])
def test_start_refuses_bad_settings_naming_them(session_files: dict[str, Path],
                                                setting: dict, expected: str) -> None:
    with pytest.raises(GalmorphError) as raised:
        AnomalySession.start(session_files["embeddings"], session_files["session"], **setting)
    assert isinstance(raised.value, ValueError) and expected in str(raised.value)
    assert not session_files["session"].exists()


def test_start_takes_whole_floats_as_ints(session_files: dict[str, Path]) -> None:
    with AnomalySession.start(session_files["embeddings"], session_files["session"], pca=2.0,
                              batch_size=3.0, xi=1) as session:
        assert (session.settings.pca, session.settings.batch_size) == (2, 3)
        assert type(session.settings.pca) is int and type(session.settings.xi) is float


def test_session_files_that_are_folders_are_refused(session_files: dict[str, Path]) -> None:
    folder = session_files["session"]
    folder.mkdir()
    with pytest.raises(GalmorphError, match="s.db is a folder: name a file, e.g. .*hunt.db"):
        AnomalySession.start(session_files["embeddings"], folder, overwrite=True)
    with pytest.raises(GalmorphError, match="s.db is a folder, not a session file"):
        AnomalySession.open(folder)
    assert folder.is_dir()


def test_predictions_of_other_galaxies_warn_that_none_is_flagged(
        session_files: dict[str, Path]) -> None:
    others = pd.DataFrame({"id_str": ["x1", "x2"],
                           "smooth-or-featured_artifact_fraction": [0.9, 0.9]})
    with pytest.warns(GalmorphWarning, match=r"no galaxy is flagged as an artefact: no id of "
                                             r"the 120 galaxies is in the predictions' id_str "
                                             r"\(ids like 'G000'; the predictions': 'x1'\)"):
        session = AnomalySession.start(session_files["embeddings"], session_files["session"],
                                       predictions=others)
    with session:
        assert not session.galaxies["artefact"].any()


def test_a_closed_session_says_so(session_files: dict[str, Path]) -> None:
    session = AnomalySession.start(session_files["embeddings"], session_files["session"])
    session.close()
    for action in (lambda: session.label("G001", 3), session.next_batch, session.ranking):
        with pytest.raises(GalmorphError, match=r"the session is closed \(.*s.db\): open it"):
            action()


def test_changed_galaxies_are_described_with_the_way_to_carry_the_scores(
        tmp_path: Path, blobs: Callable, write_embeddings: Callable) -> None:
    x, _ = blobs(n=30)
    ids = [f"G{i:03d}" for i in range(30)]
    first = write_embeddings(tmp_path / "a.parquet", x, ids)
    AnomalySession.start(first, tmp_path / "s.db").close()
    for name, rows, change in (
            ("more", [*ids, "G999"], r"1 galaxy added \(e.g. G999\)\)"),
            ("fewer", ids[:27], r"3 galaxies removed \(e.g. G027\)\)"),
            ("shuffled", ids[::-1], r"the same galaxies in another order\)")):
        other = write_embeddings(tmp_path / f"{name}.parquet", np.zeros((len(rows), 2)), rows)
        skip = " --skip-unknown" if name == "fewer" else ""
        with pytest.raises(GalmorphError, match=(
                rf"{name}.parquet does not hold the galaxies session .*s.db was started with "
                rf"\(its ids differ: {change}. Give the original embeddings with --embeddings, or "
                rf"start a new session on .*{name}.parquet and carry your scores over: galmorph "
                rf"anomaly label --from .*s.db{skip} --session NEW.db$")):
            AnomalySession.open(tmp_path / "s.db", embeddings=other)
    with pytest.raises(GalmorphError, match=r"^embeddings file .*nothere.parquet does not exist"):
        AnomalySession.open(tmp_path / "s.db", embeddings=tmp_path / "nothere.parquet")
    one = write_embeddings(tmp_path / "one.parquet", x[:1])
    with pytest.raises(GalmorphError, match="one.parquet holds 1 galaxy: a session needs at "
                                            "least 2"):
        AnomalySession.start(one, tmp_path / "one.db")


CARRY = (r"Give the original features with --embeddings, or start a new session on "
         r".*{name}.parquet and carry your scores over: galmorph anomaly start "
         r".*{name}.parquet --session NEW.db, then galmorph anomaly label --from .*s.db "
         r"--session NEW.db$")


@pytest.mark.parametrize(("name", "features", "info", "change"), [
    ("values", lambda x: x + 1, {},
     r"the same model and settings, but other feature values \(made again.*edited\)"),
    ("stages", lambda x: x, {"stages": (2,), "feature_dim": 5},
     r"feature_dim 2 → 5, stages \[\] → \[2\]"),
    ("wider", lambda x: np.hstack([x, x]), {}, r"n_features 2 → 4, feature_dim 2 → 4"),
    ("views", lambda x: x * 0.9, {"views": 8, "image": {"size": 160}},
     r"views 1 → 8"),  # image keys the session did not record are not compared
])
def test_other_features_of_the_same_galaxies_are_refused(
        tmp_path: Path, blobs: Callable, write_embeddings: Callable, name: str,
        features: Callable, info: dict, change: str) -> None:
    x, _ = blobs(n=30)
    first = write_embeddings(tmp_path / "a.parquet", x)
    AnomalySession.start(first, tmp_path / "s.db").close()
    other = write_embeddings(tmp_path / f"{name}.parquet", features(x), **info)
    with pytest.raises(GalmorphError, match=(
            rf"^.*{name}.parquet holds the same galaxies as .*a.parquet, which session "
            rf".*s.db was started on, but other features \({change}\); the session's "
            rf"isolation-forest scores were computed from the old features and would be "
            rf"stale. {CARRY.format(name=name)}")):
        AnomalySession.open(tmp_path / "s.db", embeddings=other)
    with AnomalySession.open(tmp_path / "s.db") as session:  # left as it was
        assert session.settings.embeddings == str(first.resolve())


def test_embeddings_made_again_in_place_are_refused_but_a_copy_opens(
        tmp_path: Path, blobs: Callable, write_embeddings: Callable) -> None:
    x, _ = blobs(n=30)
    first = write_embeddings(tmp_path / "a.parquet", x)
    AnomalySession.start(first, tmp_path / "s.db").close()
    copy = write_embeddings(tmp_path / "copy.parquet", x)
    AnomalySession.open(tmp_path / "s.db", embeddings=copy).close()  # the same features
    write_embeddings(copy, x[::-1].copy())  # `galmorph embed -o copy.parquet` again
    with pytest.raises(GalmorphError, match=(
            r"^.*copy.parquet has changed since session .*s.db was started on it \(the same "
            r"model and settings, but other feature values.*\); .* would be stale. "
            + CARRY.format(name="copy"))):
        AnomalySession.open(tmp_path / "s.db")


def test_sessions_from_before_the_feature_record_compare_what_they_recorded(
        tmp_path: Path, blobs: Callable, write_embeddings: Callable) -> None:
    x, _ = blobs(n=30)
    AnomalySession.start(write_embeddings(tmp_path / "a.parquet", x), tmp_path / "s.db").close()
    with sqlite3.connect(tmp_path / "s.db") as db:  # as the previous version made it
        db.execute("DELETE FROM settings WHERE key = 'features'")
    other = write_embeddings(tmp_path / "b.parquet", x + 1, model="none")
    with AnomalySession.open(tmp_path / "s.db", embeddings=other) as session:
        assert session.settings.features == {}
    with pytest.raises(GalmorphError, match="made by model model-b"):  # still compared
        AnomalySession.open(tmp_path / "s.db", embeddings=write_embeddings(
            tmp_path / "c.parquet", x, model="model-b"))


def test_scores_of_one_value_warn_that_predictions_mean_little(
        session_files: dict[str, Path]) -> None:
    with AnomalySession.start(session_files["embeddings"], session_files["session"],
                              batch_size=4) as session:
        session.label_many([(g, 0) for g in session.next_batch().ids])
        for action in (session.ranking, lambda: session.next_batch(new=True)):
            with pytest.warns(GalmorphWarning, match="all 4 scores given are 0: until some "
                                                     "differ, the model cannot tell"):
                action()
        session.label("G100", 2)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            session.ranking()
            session.ranking(method="isolation-forest")


def test_session_paths_expand_the_home_folder(session_files: dict[str, Path], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with AnomalySession.start("~/emb.parquet", Path("~/hunt.db"), batch_size=3) as session:
        assert session.store.path == tmp_path / "hunt.db"
        assert session.settings.embeddings == str(session_files["embeddings"].resolve())
    moved = session_files["embeddings"].rename(tmp_path / "moved.parquet")
    with AnomalySession.open("~/hunt.db", embeddings="~/moved.parquet") as session:
        assert session.settings.embeddings == str(moved.resolve())
    with pytest.raises(GalmorphError, match=r"overwrite=True \(--force\)"):
        AnomalySession.start("~/moved.parquet", "~/hunt.db")


def test_session_start_takes_embeddings_read_from_a_file(session_files: dict[str, Path]
                                                         ) -> None:
    from galmorph.inference.embeddings import read_embeddings

    emb = read_embeddings(session_files["embeddings"])
    emb.path = None  # made in memory: nothing for the session to reopen
    with pytest.raises(TypeError, match="embeddings must be the path .* got Embeddings .these "
                                        "were made in memory: write them to a file first"):
        AnomalySession.start(emb, session_files["session"])
    assert not session_files["session"].exists()
    with AnomalySession.start(read_embeddings(session_files["embeddings"]),
                              session_files["session"]) as session:  # its file's path
        assert session.settings.embeddings == str(session_files["embeddings"].resolve())


def test_label_many_takes_pairs_or_a_dict(session_files: dict[str, Path]) -> None:
    with AnomalySession.start(session_files["embeddings"], session_files["session"]) as session:
        session.label_many({"G001": 3, "G002": 0})
        table = pd.DataFrame({"id_str": ["G003", "G004"], "score": [5, 1]})
        with pytest.raises(TypeError, match=r"not a table: pass zip\(table.id_str"):
            session.label_many(table)
        session.label_many(zip(table.id_str, table.score, strict=True))
        with pytest.raises(TypeError, match="item 1 is 'G006'"):
            session.label_many([("G005", 2), "G006"])
        with pytest.raises(TypeError, match=r"item 0 is \('G005', 2, 3\)"):
            session.label_many([("G005", 2, 3)])
        session.label_many(np.array([["G005", 2]], dtype=object))  # rows of table.to_numpy()
        assert session.store.labels() == {"G001": 3.0, "G002": 0.0, "G003": 5.0, "G004": 1.0,
                                          "G005": 2.0}


def test_ranking_keeps_predictions_past_5_on_the_0_to_5_scale(
        session_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from galmorph.anomaly import session as session_module
    from galmorph.anomaly.methods import Step

    predicted = np.linspace(6.5, -1.0, 120)  # G000 predicted 6.5, G119 -1.0
    monkeypatch.setattr(session_module, "predict_interest",
                        lambda *args, **kwargs: Step(predicted.copy()))
    with AnomalySession.start(session_files["embeddings"], session_files["session"]) as session:
        session.label_many({"G050": 5, "G119": 0})
        ranking = session.ranking().set_index("id_str")
    assert ranking.loc["G050", "rank"] == 1  # a galaxy scored 5 leads, as the docs say
    assert ranking.loc["G000", "rank"] == 2 and ranking.loc["G001", "rank"] == 3
    assert ranking["interest"].between(0, 5).all()
    assert ranking.loc["G000", "interest"] == 5 and ranking.loc["G000", "predicted"] == 6.5


def test_predictions_without_an_artefact_column_are_named(session_files: dict[str, Path]
                                                          ) -> None:
    wrong = write_table(pd.DataFrame({"id_str": ["G000"], "score": [1.0]}),
                        session_files["session"].with_name("ranking.parquet"))
    with pytest.raises(GalmorphError, match=r"predictions file .*ranking\.parquet has none of "
                       r"the artefact columns .*its columns: id_str, score"):
        AnomalySession.start(session_files["embeddings"], session_files["session"],
                             predictions=wrong)
