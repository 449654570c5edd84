"""``galmorph evaluate`` with a fine-tuned classifier or regressor: scored against the
label column it learnt, with the same numbers as its own predictions give."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.stats import wilcoxon

from galmorph.cli import main
from galmorph.inference.worst import WORST_KEPT
from galmorph.models.checkpoint import load_model
from galmorph.models.label_metrics import versus_constant_answer, wilson_interval
from galmorph.training.train import TrainResult

FAST = ["--epochs", "1", "--batch-size", "8", "--num-workers", "0", "--no-progress"]
RUN = ["--views", "1", "--num-workers", "0", "--no-progress", "--backend", "torch"]


def _finetuned(words_csv: Path, run: Path, model: Path, *options: str) -> Path:
    assert main(["finetune", str(words_csv), "-o", str(run), "--model", str(model),
                 "--val-fraction", "0", *options, *FAST]) == 0
    return run / "model.pt"


def test_a_classifier_is_scored_against_its_label_column(
    tmp_path: Path, words_csv: Path, tiny_model: TrainResult,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = _finetuned(words_csv, tmp_path / "run", tiny_model.model_path, "--label", "kind")
    predictions = tmp_path / "predictions.parquet"
    assert main(["predict", str(words_csv), "-m", str(model), "-o", str(predictions),
                 *RUN]) == 0
    capsys.readouterr()

    scores, grid = tmp_path / "scores.json", tmp_path / "mistakes.png"
    assert main(["evaluate", str(words_csv), "-m", str(model), "--json", str(scores),
                 "--grid", str(grid), *RUN]) == 0

    out = " ".join(capsys.readouterr().out.split())
    result = json.loads(scores.read_text())
    table = pd.read_parquet(predictions).merge(pd.read_csv(words_csv), on="id_str")
    right = table["predicted_label"] == table["kind"]
    # the mistakes, the most confident first, drawn
    wrong = table[~right].assign(p=table[["prob_not ring", "prob_ring"]].max(axis=1))
    wrong = wrong.sort_values("p", ascending=False, kind="stable")
    assert [g["id_str"] for g in result["worst"]] == wrong["id_str"].tolist()
    assert [g["label"] for g in result["worst"]] == wrong["kind"].tolist()
    assert [g["predicted"] for g in result["worst"]] == wrong["predicted_label"].tolist()
    assert [g["probability"] for g in result["worst"]] == pytest.approx(wrong["p"].tolist(),
                                                                        abs=1e-5)
    if len(wrong):
        assert f"Wrote {grid}: the {len(wrong)} most confident mistakes" in out
        assert Image.open(grid).size[0] > 0
    else:
        assert "No mistakes to draw" in out and not grid.exists()
    assert result["n_test"] == 24 and result["n_correct"] == int(right.sum())
    assert result["accuracy"] == pytest.approx(right.mean())
    assert result["accuracy_ci95"] == pytest.approx(list(wilson_interval(int(right.sum()), 24)))
    assert result["majority_accuracy"] == 0.5 and 0 <= result["roc_auc"] <= 1
    for truth in ("not ring", "ring"):
        predicted = table.loc[table["kind"] == truth, "predicted_label"]
        assert result["confusion"][truth] == {c: int((predicted == c).sum())
                                              for c in ("not ring", "ring")}
    assert f"24 galaxies, label 'kind': accuracy {right.mean():.1%}" in out
    balanced = np.mean([right[table["kind"] == c].mean() for c in ("not ring", "ring")])
    assert result["balanced_accuracy"] == pytest.approx(balanced)
    assert versus_constant_answer(balanced, [12, 12]) in out


def test_a_regressor_is_scored_by_its_errors(
    tmp_path: Path, words_csv: Path, tiny_model: TrainResult,
) -> None:
    model = _finetuned(words_csv, tmp_path / "run", tiny_model.model_path,
                       "--label", "size", "--task", "regression")
    predictions, scores = tmp_path / "predictions.parquet", tmp_path / "scores.json"
    assert main(["predict", str(words_csv), "-m", str(model), "-o", str(predictions),
                 *RUN]) == 0
    grid = tmp_path / "errors.png"
    assert main(["evaluate", str(words_csv), "-m", str(model), "--json", str(scores),
                 "--grid", str(grid), *RUN]) == 0

    result = json.loads(scores.read_text())
    table = pd.read_parquet(predictions).merge(pd.read_csv(words_csv), on="id_str")
    errors = table["prediction"] - table["size"]
    largest = errors.abs().sort_values(ascending=False, kind="stable").head(WORST_KEPT)
    assert [g["id_str"] for g in result["worst"]] == table["id_str"][largest.index].tolist()
    assert [g["error"] for g in result["worst"]] == pytest.approx(largest.tolist(), rel=1e-5)
    assert Image.open(grid).size[0] > 0
    assert result["n_test"] == 24
    assert result["mae"] == pytest.approx(errors.abs().mean(), rel=1e-5)
    assert result["rmse"] == pytest.approx(np.sqrt((errors**2).mean()), rel=1e-5)
    # beside the no-image answer: the median of the labels the model was fine-tuned on
    median = load_model(model).metadata["train_median"]
    assert 1 < median < 3 and result["train_median"] == median
    assert result["median_mae"] == pytest.approx((table["size"] - median).abs().mean())
    expected = wilcoxon(errors.abs() - (table["size"] - median).abs()).pvalue
    assert result["median_p_value"] == pytest.approx(expected, rel=1e-3)


def test_labels_the_classifier_never_learnt_are_named(
    tmp_path: Path, words_csv: Path, tiny_model: TrainResult,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = _finetuned(words_csv, tmp_path / "run", tiny_model.model_path, "--label", "kind")
    frame = pd.read_csv(words_csv)
    frame.loc[3, "kind"] = "spiral"
    other = tmp_path / "other.csv"
    frame.drop(columns="kind").to_csv(tmp_path / "unlabelled.csv", index=False)
    frame.to_csv(other, index=False)
    capsys.readouterr()

    assert main(["evaluate", str(other), "-m", str(model), *RUN]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{other}: row 3 ({frame.at[3, 'id_str']}): spiral hold classes" in err
    assert main(["evaluate", str(tmp_path / "unlabelled.csv"), "-m", str(model), *RUN]) == 2
    assert "has no column 'kind', the labels" in " ".join(capsys.readouterr().err.split())
