"""A custom decision tree from YAML, end to end: ``train``, ``predict`` and ``evaluate``
name everything after its questions and answers, and say what the numbers mean."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from galmorph.cli import main
from galmorph.inference.outputs import read_metadata

TREE = """\
name: rings
questions:
  - name: featured
    answers: [yes, no]                 # vote columns featured_yes, featured_no
  - name: ring
    asked_after: featured/yes
    answers:
      - {name: ring, column: ring_votes}
      - none
"""
FAST = ["--num-workers", "0", "--no-progress"]


def _rings(frame: pd.DataFrame) -> pd.DataFrame:
    """The demo's GZ2 votes as a two-question tree's columns (bar votes stand in for rings)."""
    return frame[["id_str", "file_loc"]].assign(
        featured_yes=frame["t01_smooth_or_features_a02_features_or_disk_count"],
        featured_no=frame["t01_smooth_or_features_a01_smooth_count"],
        ring_votes=frame["t03_bar_a06_bar_count"], ring_none=frame["t03_bar_a07_no_bar_count"])


@pytest.fixture
def trained(tmp_path: Path, make_catalog) -> tuple[Path, Path]:
    """The catalog of 24 galaxies and a model of the tree trained 1 epoch on it."""
    catalog = make_catalog(24, edit=_rings)
    (tmp_path / "rings.yaml").write_text(TREE)
    assert main(["train", str(catalog), "--schema", str(tmp_path / "rings.yaml"), "-o",
                 str(tmp_path / "my-rings"), "--encoder", "test_convnext", "--image-size", "32",
                 "--epochs", "1", "--batch-size", "8", "--split", "0.6", "0.4", "0", *FAST]) == 0
    assert (tmp_path / "my-rings" / "learning_curves.png").is_file()
    return catalog, tmp_path / "my-rings" / "model.pt"


def test_a_custom_tree_trains_predicts_and_evaluates_under_its_own_names(
    trained: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    catalog, model = trained
    predictions = catalog.parent / "rings.csv"
    assert main(["predict", str(catalog), "-m", str(model), "-o", str(predictions),
                 "--views", "1", *FAST]) == 0
    table = pd.read_csv(predictions, comment="#")
    assert {"featured_asked", "featured_yes_fraction", "featured_no_upper90", "ring_asked",
            "ring_votes_fraction", "ring_none_lower90"} <= set(table.columns)
    assert read_metadata(predictions)["galmorph_model"] == "my-rings"  # the output folder
    capsys.readouterr()
    metrics = catalog.parent / "rings.json"
    assert main(["evaluate", str(catalog), "-m", str(model), "--json", str(metrics),
                 "--views", "1", *FAST]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Model my-rings" in out and "featured" in out and "ring" in out
    assert "no-image baseline" in out  # the verdict, in words
    assert "Only 24 galaxies: these figures are rough" in out
    assert set(json.loads(metrics.read_text())["questions"]) == {"featured", "ring"}


def test_evaluate_explains_catalogs_that_do_not_fit_the_model(
    trained: tuple[Path, Path], make_catalog, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog, model = trained
    gz2 = make_catalog(4, name="gz2.csv")
    assert main(["evaluate", str(gz2), "-m", str(model), *FAST]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith(f"error: {gz2} has none of the vote columns of decision tree "
                          "'rings', which model 'my-rings' learnt (featured_yes, featured_no, "
                          "ring_votes, ring_none): evaluate compares")
    assert "galmorph predict needs no votes" in err and "--schema" not in err
    no_rings = make_catalog(24, name="no_rings.csv",
                            edit=lambda df: _rings(df).assign(ring_votes=0, ring_none=0))
    with pytest.warns(Warning, match="no galaxy has a vote for ring: the model is not scored"):
        assert main(["evaluate", str(no_rings), "-m", str(model), "--json",
                     str(catalog.parent / "no_rings.json"), "--views", "1", *FAST]) == 0
    ring = json.loads((catalog.parent / "no_rings.json").read_text())["questions"]["ring"]
    assert ring["nll"] is None and ring["baseline_nll"] is None  # not 0: not a perfect score
