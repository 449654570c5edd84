"""Learning curves of training runs, read from their CSV logs and drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from galmorph.exceptions import GalmorphError
from galmorph.report.learning_curves import (
    CURVES_NAME,
    draw_learning_curves,
    read_history,
    write_learning_curves,
)


def _log(run: Path, version: int, epochs: range, **extra: float) -> None:
    """Lightning's CSV log of ``epochs``: a training row and a validation row each, and a
    learning-rate row without an epoch; losses are ``100 * version + epoch``."""
    rows = [{"lr-AdamW": 0.001, "step": 0}]
    for epoch in epochs:
        loss = 100 * version + epoch
        rows.append({"epoch": epoch, "step": epoch, "train_loss_step": loss + 0.5})
        rows.append({"epoch": epoch, "step": epoch, "train_loss_epoch": loss + 0.1,
                     "val_loss": loss, **extra})
    folder = run / "logs" / f"version_{version}"
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "metrics.csv", index=False)


def test_a_resumed_run_is_joined_to_the_run_it_went_on_from(tmp_path: Path) -> None:
    _log(tmp_path, 0, range(5))  # interrupted after epoch 4
    _log(tmp_path, 1, range(3, 7))  # resumed from the checkpoint of epoch 2
    history = read_history(tmp_path)
    assert history["epoch"].tolist() == list(range(7))
    assert history["val_loss"].tolist() == [0, 1, 2, 103, 104, 105, 106]
    assert history["train_loss_epoch"].tolist() == pytest.approx(
        [0.1, 1.1, 2.1, 103.1, 104.1, 105.1, 106.1])
    assert "train_loss_step" not in history and "step" not in history


def test_a_run_started_over_in_the_same_folder_stands_alone(tmp_path: Path) -> None:
    _log(tmp_path, 0, range(5))
    _log(tmp_path, 1, range(3))  # the folder reused without --resume
    assert read_history(tmp_path)["val_loss"].tolist() == [100, 101, 102]


def test_versions_are_ordered_as_numbers(tmp_path: Path) -> None:
    _log(tmp_path, 2, range(2))
    _log(tmp_path, 10, range(2, 4))  # "version_10" sorts before "version_2" as text
    assert read_history(tmp_path)["val_loss"].tolist() == [200, 201, 1002, 1003]


def test_nothing_logged_draws_nothing(tmp_path: Path) -> None:
    assert read_history(tmp_path).empty
    assert write_learning_curves(tmp_path) is None
    assert not (tmp_path / CURVES_NAME).exists()
    with pytest.raises(GalmorphError, match="no run folder .*typo: give the -o folder"):
        write_learning_curves(tmp_path / "typo")


def test_classifier_curves_show_losses_and_scores(tmp_path: Path) -> None:
    _log(tmp_path, 0, range(4), val_accuracy=0.75, val_balanced_accuracy=0.5)
    path = write_learning_curves(tmp_path, "cross-entropy")
    assert path == tmp_path / CURVES_NAME
    assert Image.open(path).size == (900, 340)  # two panels
    figure = draw_learning_curves(read_history(tmp_path), "cross-entropy")
    loss, scores = figure.axes
    assert loss.get_ylabel() == "loss (cross-entropy)"
    assert loss.get_title() == "Loss (lower is better)"
    assert [t.get_text() for t in loss.get_legend().get_texts()] == [
        "training galaxies", "validation galaxies", "kept: epoch 1, lowest validation loss"]
    assert [t.get_text() for t in scores.get_legend().get_texts()] == [
        "accuracy", "balanced accuracy"]
    np.testing.assert_allclose(scores.lines[1].get_ydata(), 0.5)


def test_levels_to_beat_are_drawn_dashed_and_named(tmp_path: Path) -> None:
    _log(tmp_path, 0, range(3), val_accuracy=0.75, val_balanced_accuracy=0.6)
    figure = draw_learning_curves(read_history(tmp_path), "cross-entropy",
                                  loss_reference=(0.69, "no image"),
                                  score_reference=(0.5, "chance"))
    loss, scores = figure.axes
    assert loss.get_legend().get_texts()[-1].get_text() == "no image"
    assert scores.get_legend().get_texts()[-1].get_text() == "chance"
    for axes, level in ((loss, 0.69), (scores, 0.5)):
        dashed = [line for line in axes.lines if line.get_linestyle() == "--"
                  and len(set(line.get_xdata())) == 2]  # a line across the panel
        assert len(dashed) == 1
        np.testing.assert_allclose(dashed[0].get_ydata(), level)
    assert loss.get_xlim() == (0.5, 3.5)  # the last epoch's marks are inside the panel


def test_vote_baseline_is_the_level_a_vote_model_must_beat() -> None:
    from galmorph.cli.train import vote_baseline

    assert vote_baseline({"baseline_val_loss": 21.0}) == (
        21.0, "to beat: average votes, no image")
    assert vote_baseline({}) is None


def test_vote_model_curves_show_each_questions_loss(tmp_path: Path) -> None:
    _log(tmp_path, 0, range(3), **{"val_nll/t01_smooth": 2.0, "val_nll/t03_bar": 1.0,
                                   "val_nll/t10_arms_winding": 0.0})  # no votes: left out
    figure = draw_learning_curves(read_history(tmp_path))
    assert figure.axes[1].get_title() == "Validation loss of each question"
    assert [t.get_text() for t in figure.axes[1].get_legend().get_texts()] == [
        "smooth", "bar"]  # in words, without GZ2's codes


def test_a_run_without_validation_draws_its_training_loss(tmp_path: Path) -> None:
    folder = tmp_path / "logs" / "version_0"
    folder.mkdir(parents=True)
    pd.DataFrame({"epoch": [0, 1], "step": [3, 7], "train_loss_epoch": [0.9, 0.7]}).to_csv(
        folder / "metrics.csv", index=False)
    figure = draw_learning_curves(read_history(tmp_path))
    assert len(figure.axes) == 1 and len(figure.axes[0].lines) == 1
    assert write_learning_curves(tmp_path) is not None
