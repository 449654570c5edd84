"""The galaxies a model is most sure of per answer (``predict --grid``, the demo's grid)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from galmorph.cli import main
from galmorph.data.schemas import get_schema
from galmorph.exceptions import GalmorphError
from galmorph.report.answer_grid import answer_grid, grid_columns

SCHEMA = get_schema("gz2-no-odd")


def _votes_table(n: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"id_str": [f"g{i}" for i in range(n)]})
    for answer in SCHEMA.answers:
        table[f"{answer.full_name}_fraction"] = rng.random(n)
    return table


def test_a_vote_models_grid_shows_its_first_questions_answers_by_label() -> None:
    columns = grid_columns(_votes_table(), SCHEMA)
    assert columns == [(f"{a.full_name}_fraction", a.label) for a in SCHEMA.questions[0].answers]
    no_tree = grid_columns(_votes_table(), None)  # the table's first question, by stem
    assert [c for c, _ in no_tree] == [c for c, _ in columns]


def test_answers_are_named_by_stem_or_by_a_label_only_one_answer_has() -> None:
    table = _votes_table()
    assert grid_columns(table, SCHEMA, ["bar", "t02_edgeon_a04_yes"]) == [
        ("t03_bar_a06_bar_fraction", "bar"), ("t02_edgeon_a04_yes_fraction", "edge-on yes")]
    with pytest.raises(GalmorphError, match="no answer 'ring'; give one of: t01_smooth"):
        grid_columns(table, SCHEMA, ["ring"])
    classifier = pd.DataFrame({"id_str": ["a"], "prob_ring": [0.9], "prob_other": [0.1]})
    assert grid_columns(classifier, None) == [("prob_ring", "ring"), ("prob_other", "other")]
    assert grid_columns(classifier, None, ["other"]) == [("prob_other", "other")]
    with pytest.raises(GalmorphError, match="no vote fractions"):
        grid_columns(pd.DataFrame({"id_str": ["a"], "prediction": [1.0]}), None)


def test_each_row_of_the_grid_holds_the_highest_values_first(tmp_path: Path) -> None:
    table = pd.DataFrame({"id_str": list("abcde"), "prob_x": [0.1, 0.9, np.nan, 0.5, 0.9]})
    files = [str(tmp_path / f"{i}.png") for i in table["id_str"]]
    for path in files:
        Image.new("RGB", (8, 8), (40, 80, 120)).save(path)
    drawn: list[int] = []
    figure = answer_grid(table, files, [("prob_x", "x")], per_answer=4,
                         notes=lambda row, column: drawn.append(row) or "",
                         path=tmp_path / "grid.png")
    assert drawn == [1, 4, 3, 0]  # ties in table order, NaN last
    assert len(figure.axes) == 4 and (tmp_path / "grid.png").stat().st_size > 0


def test_predict_grid_draws_the_catalogs_galaxies_and_checks_answers_first(
    tmp_path: Path, make_catalog: Callable[..., Path], untrained_model: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    catalog = make_catalog(8)
    common = [str(catalog), "-m", str(untrained_model), "--views", "1", "--no-progress",
              "--num-workers", "0"]
    assert main(["predict", *common, "-o", str(tmp_path / "p.parquet"), "--grid",
                 str(tmp_path / "g.png"), "--grid-answers", "bar,smooth"]) == 0
    assert "Drew the galaxies with the highest predictions in" in capsys.readouterr().out
    assert (tmp_path / "g.png").stat().st_size > 10_000
    assert main(["predict", *common, "-o", str(tmp_path / "q.parquet"), "--grid",
                 str(tmp_path / "h.png"), "--grid-answers", "ring"]) == 2
    assert "no answer 'ring'" in capsys.readouterr().err
    assert not (tmp_path / "q.parquet").exists()  # refused before predicting
    assert main(["predict", *common, "-o", str(tmp_path / "r.parquet"),
                 "--grid-answers", "bar"]) == 2


def test_answers_rank_by_the_share_of_all_volunteers_and_captions_say_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import galmorph.report.answer_grid as module

    drawn: list[str] = []
    monkeypatch.setattr(module, "galaxy_grid",
                        lambda files, captions, **kw: drawn.extend(captions))
    table = pd.DataFrame({"id_str": ["a", "b"],
                          "t01_smooth_or_features_a03_star_or_artifact_fraction": [0.2, 0.1],
                          "t01_smooth_or_features_asked": [1.0, 1.0],
                          "t03_bar_a06_bar_fraction": [0.97, 0.6],
                          "t03_bar_asked": [0.51, 1.0]})
    answer_grid(table, ["", ""], [("t01_smooth_or_features_a03_star_or_artifact_fraction",
                                   "star"), ("t03_bar_a06_bar_fraction", "bar")],
                per_answer=2)
    # bars rank by the share of all volunteers: 0.6 of all before 0.97 of half
    assert drawn == ["a\nstar: 0.20", "b\nstar: 0.10", "b\nbar: 0.60",
                     "a\nbar: 0.97 (of 51% asked)"]


def test_the_share_asked_is_found_for_any_schemas_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """GZ DECaLS' columns (bar_strong_fraction, bar_asked) rank by the share of all, too."""
    import galmorph.report.answer_grid as module

    drawn: list[str] = []
    monkeypatch.setattr(module, "galaxy_grid",
                        lambda files, captions, **kw: drawn.extend(captions))
    table = pd.DataFrame({"id_str": ["edge-on", "barred"], "bar_strong_fraction": [0.9, 0.6],
                          "bar_asked": [0.1, 0.95], "bar_no_fraction": [0.1, 0.4]})
    answer_grid(table, ["", ""], [("bar_strong_fraction", "strong")], per_answer=2)
    assert drawn == ["barred\nstrong: 0.60 (of 95% asked)",
                     "edge-on\nstrong: 0.90 (of 10% asked)"]
