"""``galmorph anomaly``: start → next → label → rank on a tiny embeddings file, and benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from galmorph.anomaly.labels import LabelStore
from galmorph.cli import main
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.inference.embeddings import METADATA_KEY, EmbeddingInfo, feature_columns
from galmorph.inference.outputs import write_table

N = 40


@pytest.fixture
def files(tmp_path: Path, demo_dir: Path, demo_catalog: pd.DataFrame) -> dict[str, Path]:
    """Embeddings of 40 bundled galaxies (random 3-d features, real images), predictions, truth."""
    frame = demo_catalog.head(N)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(N, 3)).astype(np.float32)
    features[:4] += 5  # four odd ones out
    info = EmbeddingInfo(model={"spec": "none", "path": "none", "name": "none", "sha256": "0"},
                         encoder="none", feature_dim=3, image={}, n_features=3)
    table = pd.DataFrame({"id_str": frame["id_str"], "ra": frame["ra"], "dec": frame["dec"],
                          "file_loc": [str(demo_dir / f) for f in frame["file_loc"]]})
    table = pd.concat([table.reset_index(drop=True),
                       pd.DataFrame(features, columns=feature_columns(3))], axis=1)
    emb = write_table(table, tmp_path / "emb.parquet", {METADATA_KEY: info.to_json()})
    predictions = pd.DataFrame({
        "id_str": frame["id_str"],
        "t01_smooth_or_features_a03_star_or_artifact_fraction": [0.8] + [0.0] * (N - 1),
    })
    truth = pd.DataFrame({"id_str": frame["id_str"],
                          "odd": [1.0] * 4 + [0.1] * (N - 4)})
    return {"emb": emb, "db": tmp_path / "s.db", "root": tmp_path,
            "predictions": write_table(predictions, tmp_path / "pred.csv"),
            "truth": write_table(truth, tmp_path / "truth.csv"),
            "ids": frame["id_str"].tolist()}  # type: ignore[dict-item]


def next_json(db: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    capsys.readouterr()
    assert main(["anomaly", "next", "--session", str(db), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_anomaly_is_listed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["anomaly", "--help"])
    out = capsys.readouterr().out
    assert all(action in out for action in ("start", "next", "label", "rank", "benchmark"))


def test_start_next_label_rank_round_trip(files: dict, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    db = files["db"]
    assert main(["anomaly", "start", str(files["emb"]), "--session", str(db),
                 "--batch-size", "4"]) == 0
    assert "Started" in capsys.readouterr().out
    batch = next_json(db, capsys)
    ids = [g["id_str"] for g in batch["galaxies"]]
    assert batch["method"] == "cold-start" and len(ids) == 4
    assert main(["anomaly", "label", ids[0], "5", ids[1], "0", "--session", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"{ids[0]}: 5" in out and "2 galaxies labelled" in out
    assert [g["id_str"] for g in next_json(db, capsys)["galaxies"]] == ids[2:]
    assert main(["anomaly", "label", ids[2], "1", ids[3], "1", ids[1], "2",
                 "--session", str(db)]) == 0
    assert f"{ids[1]}: 2 (was 0)" in capsys.readouterr().out
    grid = files["root"] / "next.png"
    assert main(["anomaly", "next", "--session", str(db), "--grid", str(grid)]) == 0
    out = capsys.readouterr().out
    assert "active" in out and "acquisition" in out
    with Image.open(grid) as png:
        assert png.size[0] > 100
    ranked = files["root"] / "ranked.csv"
    assert main(["anomaly", "rank", "--session", str(db), "-o", str(ranked), "--top", "3",
                 "--grid", str(files["root"] / "top.png")]) == 0
    out = capsys.readouterr().out
    assert f"{ids[0]}" in out and "5.00*" in out
    table = pd.read_csv(ranked, comment="#")
    assert len(table) == N and table["rank"].tolist() == list(range(1, N + 1))
    assert table.iloc[0]["id_str"] == ids[0]
    assert table.set_index("id_str").loc[ids[1], "score"] == 2
    assert int(table["labelled"].sum()) == 4
    assert main(["anomaly", "status", "--session", str(db)]) == 0
    status = capsys.readouterr().out
    assert "4 labelled (5 labels given), 2 batches" in status
    # the model and features in short, not as Python dicts
    assert "  model: none (sha256 0)\n" in status and "{" not in status
    assert "features: 3 per galaxy from none (earlier stages: none; views: 1" in status


def test_baseline_mode_and_artefacts(files: dict, capsys: pytest.CaptureFixture[str]) -> None:
    db = files["db"]
    artefact = files["ids"][0]
    assert main(["anomaly", "start", str(files["emb"]), "--session", str(db), "--baseline",
                 "isolation-forest", "--predictions", str(files["predictions"])]) == 0
    assert "1 flagged as artefacts" in capsys.readouterr().out
    batch = next_json(db, capsys)
    assert batch["method"] == "isolation-forest"
    assert artefact not in [g["id_str"] for g in batch["galaxies"]]
    ranked = files["root"] / "r.parquet"
    assert main(["anomaly", "rank", "--session", str(db), "-o", str(ranked)]) == 0
    assert artefact not in pd.read_parquet(ranked)["id_str"].tolist()
    assert main(["anomaly", "rank", "--session", str(db), "-o", str(ranked),
                 "--include-artefacts"]) == 0
    table = pd.read_parquet(ranked)
    assert artefact in table["id_str"].tolist() and len(table) == N
    # the odd ones out (features + 5) lead the isolation-forest ranking
    assert set(table["id_str"][:3]) <= set(files["ids"][:4])


def test_a_session_that_ranks_artefacts_can_rank_without_them(
    files: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, --include-artefacts could only be switched on."""
    db, artefact = files["db"], files["ids"][0]
    assert main(["anomaly", "start", str(files["emb"]), "--session", str(db), "--baseline",
                 "isolation-forest", "--predictions", str(files["predictions"]),
                 "--include-artefacts"]) == 0
    ranked = files["root"] / "r.parquet"
    assert main(["anomaly", "rank", "--session", str(db), "-o", str(ranked)]) == 0
    assert artefact in pd.read_parquet(ranked)["id_str"].tolist()
    assert main(["anomaly", "rank", "--session", str(db), "-o", str(ranked),
                 "--no-include-artefacts"]) == 0
    assert artefact not in pd.read_parquet(ranked)["id_str"].tolist()


def test_user_errors_exit_with_status_2(files: dict, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(files["db"])
    assert main(["anomaly", "next", "--session", db]) == 2
    assert main(["anomaly", "start", str(files["emb"]), "--session", db]) == 0
    assert main(["anomaly", "start", str(files["emb"]), "--session", db]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["anomaly", "label", files["ids"][0], "7", "--session", db]) == 2
    assert main(["anomaly", "label", "nope", "3", "--session", db]) == 2
    assert "no galaxy with id 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["anomaly", "label", files["ids"][0], "--session", db])
    assert exited.value.code == 2
    assert main(["anomaly", "rank", "--session", db]) == 2
    assert "no labels yet" in capsys.readouterr().err


def test_other_features_and_a_session_in_use_are_refused_with_what_to_do(
        files: dict, capsys: pytest.CaptureFixture[str]) -> None:
    db, new_db = str(files["db"]), str(files["root"] / "new.db")
    assert main(["anomaly", "start", str(files["emb"]), "--session", db]) == 0
    assert main(["anomaly", "label", files["ids"][5], "4", files["ids"][6], "0",
                 "--session", db]) == 0
    info = pq.read_metadata(files["emb"]).metadata[METADATA_KEY.encode()].decode()
    again = files["root"] / "again.parquet"  # the same galaxies, embedded another way
    write_table(pd.read_parquet(files["emb"]).assign(feat_0=lambda t: t["feat_0"] * 2), again,
                {METADATA_KEY: info})
    capsys.readouterr()
    assert main(["anomaly", "next", "--session", db, "--embeddings", str(again)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{again} holds the same galaxies as {files['emb']}, which session {db}" in err
    assert (f"galmorph anomaly start {again} --session NEW.db, then galmorph anomaly label "
            f"--from {db} --session NEW.db") in err and "Traceback" not in err
    assert main(["anomaly", "start", str(again), "--session", new_db]) == 0
    assert main(["anomaly", "label", "--from", db, "--session", new_db]) == 0
    assert main(["anomaly", "next", "--session", new_db]) == 0
    with LabelStore.open(db):  # as `galmorph serve --session` keeps it open
        assert main(["anomaly", "start", str(files["emb"]), "--session", db, "--force"]) == 2
        assert f"{db} is open in another program" in " ".join(capsys.readouterr().err.split())
    assert main(["anomaly", "status", "--session", db]) == 0
    assert "2 labelled" in capsys.readouterr().out
    assert main(["anomaly", "start", str(files["emb"]), "--session", db, "--force"]) == 0


def test_benchmark_command_writes_json(files: dict, capsys: pytest.CaptureFixture[str]) -> None:
    out = files["root"] / "bench.json"
    assert main(["anomaly", "benchmark", str(files["emb"]), "--truth", str(files["truth"]),
                 "--score-column", "odd", "--labels", "10", "--repeats", "2",
                 "--batch-size", "5", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "reweighted" in printed and "ceiling" in printed
    assert "±" in printed and "Mean ± std over repeats" in " ".join(printed.split())
    assert "4 interesting (odd ≥ 0.7);" in printed
    result = json.loads(out.read_text())
    assert set(result) >= {"active", "isolation_forest", "reweighted_forest", "random",
                           "supervised_ceiling"}
    assert result["settings"]["n_interesting"] == 4 and result["settings"]["repeats"] == 2
    for method in ("active", "isolation_forest", "reweighted_forest", "random"):
        assert {"precision_at_50", "precision_at_50_unlabelled", "average_precision",
                "precision_at_50_std"} <= set(result[method])
    assert result["active"]["n_found"] == 4


@pytest.mark.parametrize(("odd", "extra", "expected"), [
    (["abc", "abc"] + [0.1] * (N - 2), [], "column 'odd' must hold numbers but has 2 non-numeric "
                                          "values: row 0 ("),
    ([7.0] + [0.1] * (N - 1), [], "column 'odd' must hold fractions in [0, 1] or scores in "
                                  "[0, 5]; its values run from 0.1 to 7, outside [0, 5] in 1 "
                                  "row: row 0 ("),
    ([0.0] * N, [], "no galaxy is interesting"),
    ([1.0] * 4 + [0.1] * (N - 4), ["--interesting-threshold", "99"], "no galaxy is interesting"),
])
def test_benchmark_rejects_bad_truth(files: dict, capsys: pytest.CaptureFixture[str],
                                     odd: list[object], extra: list[str], expected: str) -> None:
    truth = files["root"] / "bad_truth.csv"
    pd.DataFrame({"id_str": files["ids"], "odd": odd}).to_csv(truth, index=False)
    capsys.readouterr()
    assert main(["anomaly", "benchmark", str(files["emb"]), "--truth", str(truth),
                 "--score-column", "odd", "--labels", "5", "--repeats", "1", *extra]) == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert "error:" in err and str(truth) in err and expected in err
    assert "Traceback" not in err



def test_bad_embeddings_and_options_are_refused_clearly(
        files: dict, capsys: pytest.CaptureFixture[str]) -> None:
    info = pq.read_metadata(files["emb"]).metadata[METADATA_KEY.encode()].decode()
    repeated, nan = files["root"] / "repeated.parquet", files["root"] / "nan.parquet"
    table = pd.read_parquet(files["emb"])
    write_table(table.assign(id_str=[*files["ids"][:7], files["ids"][2], *files["ids"][8:]]),
                repeated, {METADATA_KEY: info})
    table.loc[3, "feat_1"] = np.nan
    write_table(table, nan, {METADATA_KEY: info})
    capsys.readouterr()
    for path, expected in (
            (repeated, f"id_str must be unique; 1 id repeated: {files['ids'][2]} (rows 2, 7)"),
            (nan, f"NaN, infinite or empty in 1 row: row 3 ({files['ids'][3]}): feat_1 = nan")):
        assert main(["anomaly", "start", str(path), "--session", str(files["db"])]) == 2
        assert f"{path}: " in (err := " ".join(capsys.readouterr().err.split()))
        assert expected in err and "Traceback" not in err
    assert not files["db"].exists()
    for option, value in (("--seed", "-1"), ("--xi", "inf")):
        with pytest.raises(SystemExit) as exited:
            main(["anomaly", "start", str(files["emb"]), "--session", str(files["db"]),
                  option, value])
        assert exited.value.code == 2 and option in capsys.readouterr().err
    folder = files["root"] / "folder.db"
    folder.mkdir()
    assert main(["anomaly", "next", "--session", str(folder)]) == 2
    assert "folder.db is a folder, not a session file" in capsys.readouterr().err


def test_a_file_that_is_not_a_session_is_never_written(
        files: dict, capsys: pytest.CaptureFixture[str]) -> None:
    empty, table = files["root"] / "empty.csv", files["root"] / "notes.csv"
    empty.touch()
    table.write_text("id_str,comment\nJ1,odd\n")
    for command in (["next"], ["status"], ["label", str(files["ids"][0]), "3"]):
        assert main(["anomaly", *command, "--session", str(empty)]) == 2
        assert f"{empty} is not a session file" in capsys.readouterr().err
    assert empty.stat().st_size == 0  # opening it as a database would have written into it
    assert main(["anomaly", "start", str(files["emb"]), "--session", str(table),
                 "--force"]) == 2
    assert "and --force replaces only a session" in " ".join(capsys.readouterr().err.split())
    assert table.read_text() == "id_str,comment\nJ1,odd\n"


def test_label_stores_every_pair_or_none_and_says_what_next(
        files: dict, capsys: pytest.CaptureFixture[str]) -> None:
    db, ids = str(files["db"]), files["ids"]
    assert main(["anomaly", "start", str(files["emb"]), "--session", db]) == 0
    capsys.readouterr()
    for pairs, expected in (
            ([ids[0], "3", "nope", "4"], "no galaxy with id 'nope' in session"),
            ([ids[0], "3", ids[1], "9"], f"score of {ids[1]} (pair 2): a score is a number "
                                         "from 0 to 5, not '9'"),
            ([ids[0], "3", ids[0], "1"], f"galaxy '{ids[0]}' is given more than once"),
            (["4", ids[0]], "give each galaxy id first, then its score")):
        assert main(["anomaly", "label", *pairs, "--session", db]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert err.startswith("error: ") and expected in err and "nothing was stored" in err
    assert main(["anomaly", "status", "--session", db]) == 0
    assert "0 labelled (0 labels given)" in capsys.readouterr().out
    assert main(["anomaly", "label", ids[0], "0", ids[1], "0", "--session", db]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "2 galaxies labelled" in out and f"Next: galmorph anomaly next --session {db}" in out
    with pytest.warns(GalmorphWarning, match="all 2 scores given are 0: until some differ"):
        assert main(["anomaly", "rank", "--session", db, "--top", "2"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"All {N} galaxies in a file: add -o ranked.csv" in out
    assert f"Score more galaxies to sharpen it: galmorph anomaly next --session {db}" in out
    assert f"by it: galmorph anomaly score --session {db} SURVEY_EMB -o interest" in out


def test_label_from_a_file_or_another_session(files: dict, capsys: pytest.CaptureFixture[str]
                                              ) -> None:
    db, ids, root = str(files["db"]), files["ids"], files["root"]
    assert main(["anomaly", "start", str(files["emb"]), "--session", db]) == 0
    labels = root / "labels.csv"
    labels.write_text(f"id_str,score\n{ids[0]},5\n{ids[1]},high\n")
    capsys.readouterr()
    assert main(["anomaly", "label", "--from", str(labels), "--session", db]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (f"error: labels file {labels}: column 'score' must hold numbers from 0 to 5 but has "
            f"1 bad value: row 1 ({ids[1]}): high; nothing was stored") in err
    labels.write_text(f"id_str,score\n{ids[0]},5\nJ000000.00+000000.0,4\n{ids[2]},1\n")
    assert main(["anomaly", "label", "--from", str(labels), "--session", db]) == 2
    assert ("1 galaxy not in session" in (err := " ".join(capsys.readouterr().err.split()))
            and "row 1 (J000000.00+000000.0); nothing was stored (pass --skip-unknown" in err)
    with pytest.warns(GalmorphWarning, match="1 galaxy not in session .* left out"):
        assert main(["anomaly", "label", "--from", str(labels), "--skip-unknown",
                     "--session", db]) == 0
    assert f"Stored 2 scores from {labels}" in " ".join(capsys.readouterr().out.split())
    # the catalog changed: the old session refuses the new embeddings; a new one takes the scores
    table = pd.read_parquet(files["emb"]).iloc[1:]
    info = pq.read_metadata(files["emb"]).metadata[METADATA_KEY.encode()].decode()
    fewer = write_table(table, root / "fewer.parquet", {METADATA_KEY: info})
    assert main(["anomaly", "next", "--session", db, "--embeddings", str(fewer)]) == 2
    assert (f"label --from {db} --skip-unknown --session NEW.db"
            in " ".join(capsys.readouterr().err.split()))
    new = str(root / "new.db")
    assert main(["anomaly", "start", str(fewer), "--session", new]) == 0
    with pytest.warns(GalmorphWarning, match=f"1 galaxy not in session {new} left out"):
        assert main(["anomaly", "label", "--from", db, "--skip-unknown", "--session", new]) == 0
    assert "Stored 1 score from" in capsys.readouterr().out
    with pytest.warns(GalmorphWarning, match="the 1 score given is 1"):
        assert main(["anomaly", "rank", "--session", new, "-o", str(root / "r.csv")]) == 0
    ranked = pd.read_csv(root / "r.csv", comment="#")
    assert ranked.loc[ranked["labelled"], "id_str"].tolist() == [ids[2]]


def test_benchmark_table_keeps_whole_numbers_in_80_columns(
        files: dict, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["anomaly", "benchmark", str(files["emb"]), "--truth", str(files["truth"]),
                 "--score-column", "odd", "--labels", "5", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "…" not in out and "P@100 unlab." in out and "1 repeat\n" in out
    assert "±" not in out and "One run: no spread" in " ".join(out.split())  # not ±0.000


def test_a_batch_predicted_past_5_says_what_that_means() -> None:
    from rich.console import Console

    from galmorph.anomaly.records import Batch
    from galmorph.cli.anomaly_session import _batch_table

    def caption(predicted: float) -> str:
        values = pd.DataFrame({"acquisition": [0.9], "predicted": [predicted], "std": [1.5]})
        console = Console(record=True, width=200)
        console.print(_batch_table(Batch(2, "", "active", 20, ["G1"], values, {}), [{}]))
        return " ".join(console.export_text().split())

    assert "6.05" in caption(6.05) and "top of the 0-5 scale" in caption(6.05)
    assert "top of the 0-5 scale" not in caption(4.2)


def test_grids_say_what_to_do_and_what_their_numbers_are(
        files: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's grid asks for scores 0-5 and says how it was chosen; a ranking's caption
    names its number (an outlier score is not a predicted interest) and its title the
    method."""
    import galmorph.report.plots as plots

    drawn: list[tuple[list[str], str]] = []
    monkeypatch.setattr(plots, "galaxy_grid", lambda files, captions, **kw: drawn.append(
        (captions, kw["title"])))
    db, grid = files["db"], str(files["root"] / "g.png")
    assert main(["anomaly", "start", str(files["emb"]), "--session", str(db),
                 "--batch-size", "3"]) == 0
    assert main(["anomaly", "next", "--session", str(db), "--grid", grid]) == 0
    ids = [c.split(". ", 1)[1] for c in drawn[-1][0]]
    assert drawn[-1][1] == ("Batch 1: score each galaxy from 0 (not interesting) to 5 "
                            "(galmorph anomaly label); chosen to cover every kind of galaxy "
                            "(no scores yet)")
    assert main(["anomaly", "label", ids[0], "5", ids[1], "0", ids[2], "1",
                 "--session", str(db)]) == 0
    for method, word in (("active", "predicted"), ("isolation-forest", "outlier")):
        assert main(["anomaly", "rank", "--session", str(db), "--top", "4",
                     "--method", method, "--grid", grid]) == 0
        captions, title = drawn[-1]
        unscored = [c for c in captions if "your score" not in c]
        assert unscored and all(c.split("\n")[1].startswith(f"{word} ") for c in unscored)
        assert title.startswith("The 4 most interesting galaxies, by ")
    assert "(your scores not used)" in title


def test_outputs_never_replace_a_galaxys_image(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from galmorph.cli.anomaly_session import _check_outputs

    image = tmp_path / "images" / "J1.png"
    image.parent.mkdir()
    image.write_bytes(b"a galaxy")
    session = SimpleNamespace(store=SimpleNamespace(path=tmp_path / "s.db"),
                              settings=SimpleNamespace(embeddings=tmp_path / "emb.parquet"),
                              embeddings=SimpleNamespace(file_loc=np.array([str(image), ""])))
    _check_outputs(session, str(tmp_path / "grid.png"), None)  # a new file: fine
    with pytest.raises(GalmorphError, match="is the image of a galaxy in the embeddings"):
        _check_outputs(session, str(tmp_path / "images" / ".." / "images" / "J1.png"))
    session.embeddings.file_loc = None  # embeddings without image paths
    _check_outputs(session, str(image))
