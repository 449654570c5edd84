"""Audit regressions of ``galmorph anomaly``: outputs never overwrite the session or its inputs."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from galmorph.anomaly.labels import LabelStore
from galmorph.cli import main


@pytest.fixture
def session(tmp_path: Path, write_embeddings: Callable[..., Path]) -> dict[str, Path]:
    """A started session on 30 galaxies with two labels."""
    emb = write_embeddings(tmp_path / "emb.parquet",
                           np.random.default_rng(0).normal(size=(30, 3)))
    db = tmp_path / "hunt.db"
    assert main(["anomaly", "start", str(emb), "--session", str(db)]) == 0
    assert main(["anomaly", "label", "G000", "5", "G001", "1", "--session", str(db)]) == 0
    return {"emb": emb, "db": db, "root": tmp_path}


@pytest.mark.parametrize("action", [["rank", "-o"], ["rank", "--grid"], ["next", "--grid"]])
def test_output_onto_the_session_file_is_refused(session: dict[str, Path], action: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    suffix = ".csv" if action[1] == "-o" else ".png"
    db = session["root"] / f"hunt{suffix}"  # a session file may have any name
    shutil.copy(session["db"], db)
    capsys.readouterr()
    assert main(["anomaly", action[0], "--session", str(db), action[1], str(db)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "session file" in err and str(db) in err
    with LabelStore.open(db) as store:  # still a session, its labels kept
        assert store.labels() == {"G000": 5.0, "G001": 1.0}


def test_ranking_onto_the_embeddings_is_refused(session: dict[str, Path],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    before = session["emb"].read_bytes()
    capsys.readouterr()
    assert main(["anomaly", "rank", "--session", str(session["db"]), "-o",
                 str(session["emb"])]) == 2
    assert "would overwrite the embeddings" in capsys.readouterr().err
    assert session["emb"].read_bytes() == before
    assert main(["anomaly", "rank", "--session", str(session["db"])]) == 0


@pytest.mark.parametrize("kind", ["table", "session"])
def test_a_labels_file_with_no_scores_is_an_error(session: dict[str, Path], kind: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    if kind == "table":
        empty = session["root"] / "labels.csv"
        empty.write_text("id_str,score\n")
    else:
        empty = session["root"] / "other.db"
        assert main(["anomaly", "start", str(session["emb"]), "--session", str(empty)]) == 0
    capsys.readouterr()
    assert main(["anomaly", "label", "--from", str(empty), "--session", str(session["db"])]) == 2
    err = capsys.readouterr().err
    assert f"error: labels file {empty} holds no scores" in err
