"""``galmorph finetune`` on an astronomer's own labels: what it prints, and how it stops.

The end of a run tells the validation accuracy beside always answering the most common
class, where the model and the per-epoch log are and how to predict with the model;
settings out of range are usage errors; Ctrl-C says that no model was written.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galmorph.cli import build_parser, main
from galmorph.exceptions import GalmorphWarning
from galmorph.models.checkpoint import load_model
from galmorph.models.label_metrics import versus_constant_answer
from galmorph.training.finetune_module import FinetuneModule
from galmorph.training.train import TrainResult

FAST = ["--epochs", "1", "--batch-size", "8", "--num-workers", "0", "--no-progress"]


def test_the_end_of_a_run_says_how_good_where_and_how_to_use_it(
    tmp_path: Path, words_csv: Path, tiny_model: TrainResult, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "my rings"
    assert main(["finetune", str(words_csv), "--label", "kind", "-o", str(run),
                 "--model", str(tiny_model.model_path), "--val-fraction", "0.25", *FAST]) == 0
    out = " ".join(capsys.readouterr().out.split())
    found = re.search(r"validation accuracy (\d+\.\d)% on 6 galaxies \('not ring': 3, 'ring': 3; "
                      r"one view each\); always answering 'not ring' would score 50\.0%", out)
    assert found, out
    logged = pd.read_csv(run / "logs" / "version_0" / "metrics.csv")
    balanced = logged["val_balanced_accuracy"].dropna().iloc[-1]  # one epoch: the one kept
    assert versus_constant_answer(balanced, [3, 3]) in out
    assert f"model: {run / 'model.pt'}" in out
    command = (f"galmorph predict CATALOG --model {shlex.quote(str(run / 'model.pt'))} "
               "-o predictions.parquet (columns prob_not ring, prob_ring and predicted_label)")
    assert f"use it: {command}" in out
    assert ("see the galaxies it gets most wrong: galmorph evaluate CATALOG --model "
            f"{shlex.quote(str(run / 'model.pt'))} --grid worst.png") in out
    metrics = run / "logs" / "version_0" / "metrics.csv"
    assert f"per-epoch losses and scores: {metrics}" in out and metrics.is_file()

    predictions = tmp_path / "rings.csv"
    assert main(["predict", str(words_csv), "--model", str(run / "model.pt"), "-o",
                 str(predictions), "--views", "1", "--num-workers", "0", "--no-progress"]) == 0
    table = pd.read_csv(predictions, comment="#")
    assert list(table.columns) == ["id_str", "prob_not ring", "prob_ring", "predicted_label"]
    np.testing.assert_allclose(table[["prob_not ring", "prob_ring"]].sum(axis=1), 1, rtol=1e-5)


def test_a_regressor_is_scored_beside_the_training_median(
    tmp_path: Path, words_csv: Path, tiny_model: TrainResult, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "sizes"
    assert main(["finetune", str(words_csv), "--label", "size", "--task", "regression", "-o",
                 str(run), "--model", str(tiny_model.model_path), "--val-fraction", "0.25",
                 *FAST]) == 0
    out = " ".join(capsys.readouterr().out.split())
    found = re.search(r"validation mean absolute error [\d.]+ on 8 galaxies \(one view each\); "
                      r"always answering the training median, ([\d.]+), would score ([\d.]+)",
                      out)
    assert found, out
    # sizes are evenly spaced from 1 to 3: the median is near 2, and 0.5 from it on average
    assert 1.8 < float(found[1]) < 2.2 and 0.3 < float(found[2]) < 0.8
    # judged by a paired test of the validation errors, logged per epoch
    logged = pd.read_csv(run / "logs" / "version_0" / "metrics.csv")
    p_value = logged["val_median_p_value"].dropna().iloc[-1]
    assert 0 < p_value <= 1
    verdict = ("not told apart from it on 8 galaxies" if p_value >= 0.05 else
               f"(paired test, p = {p_value:.2g})")
    assert f"would score {found[2]}; the model is " in out and verdict in out


def test_images_sorted_into_folders_are_labels(
    tmp_path: Path, words_csv: Path, tiny_model: TrainResult, capsys: pytest.CaptureFixture[str]
) -> None:
    sorted_images = tmp_path / "sorted"
    for kind, loc in pd.read_csv(words_csv)[["kind", "file_loc"]].itertuples(index=False):
        (sorted_images / kind).mkdir(parents=True, exist_ok=True)
        shutil.copy(loc, sorted_images / kind)
    shutil.copy(loc, sorted_images)  # one not sorted yet: no label
    run = tmp_path / "run"
    with pytest.warns(GalmorphWarning, match=r"skipping 1 of 25 images not in a class "
                                             r"subfolder \(directly in the folder\)"):
        assert main(["finetune", str(sorted_images), "--label", "folder", "-o", str(run),
                     "--model", str(tiny_model.model_path), "--val-fraction", "0.25",
                     *FAST]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "on 6 galaxies ('not ring': 3, 'ring': 3; one view each)" in out
    assert load_model(run / "model.pt").metadata["classes"] == ["not ring", "ring"]


def test_ctrl_c_says_no_model_was_written(
    tmp_path: Path, words_csv: Path, tiny_model: TrainResult,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted(self: FinetuneModule, batch: dict, batch_idx: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(FinetuneModule, "training_step", interrupted)
    run = tmp_path / "run"
    status = main(["finetune", str(words_csv), "--label", "kind", "-o", str(run),
                   "--model", str(tiny_model.model_path), *FAST])
    assert status == 130
    err = capsys.readouterr().err
    assert f"no new model.pt was written in {run}" in " ".join(err.split())
    assert "interrupted" in err and not (run / "model.pt").exists()


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--lr", "-1", "expected a number above 0, got -1"),
    ("--lr-decay", "0", "expected a number above 0, got 0"),
    ("--weight-decay", "-0.5", "expected a number of 0 or more, got -0.5"),
    ("--label-smoothing", "2", "expected a number from 0 up to (not including) 1, got 2.0"),
    ("--dropout", "1", "expected a number from 0 up to (not including) 1, got 1.0"),
])
def test_settings_out_of_range_are_usage_errors(
    tmp_path: Path, option: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["finetune", "c.csv", "--label", "ring", "-o",
                                   str(tmp_path / "run"), option, value])
    assert exit_info.value.code == 2
    assert f"argument {option}: {message}" in capsys.readouterr().err
    args = build_parser().parse_args(["finetune", "c.csv", "--label", "ring", "-o", "run",
                                      "--skip-missing-images"])
    assert args.skip_missing_images and args.lr == 1e-3 and args.weight_decay == 0.05
