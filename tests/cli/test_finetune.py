"""``galmorph finetune``, and ``galmorph predict`` with the model it writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from galmorph.cli import build_parser, main
from galmorph.data import bundled
from galmorph.inference.outputs import read_metadata
from galmorph.models.checkpoint import load_model
from galmorph.training.train import TrainResult

FAST = ["--epochs", "1", "--batch-size", "8", "--num-workers", "0", "--no-progress"]


@pytest.fixture
def rings_csv(tmp_path: Path, demo_catalog: pd.DataFrame) -> Path:
    """16 rings and 16 non-rings with a smooth-vote fraction, as a CSV file."""
    frame = pd.concat([
        demo_catalog[demo_catalog["ring"] == 1].head(16),
        demo_catalog[demo_catalog["ring"] == 0].head(16),
    ])
    frame["file_loc"] = [str(bundled.demo_dir() / loc) for loc in frame["file_loc"]]
    votes = frame.filter(like="t01_smooth_or_features")
    frame["smooth"] = votes.iloc[:, 0] / votes.sum(axis=1)
    path = tmp_path / "rings.csv"
    frame.to_csv(path, index=False)
    return path


def test_finetune_then_predict_a_classifier(
    tmp_path: Path, rings_csv: Path, tiny_model: TrainResult, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import galmorph.report.learning_curves as curves_module

    drawn: list[tuple] = []
    write = curves_module.write_learning_curves
    monkeypatch.setattr(curves_module, "write_learning_curves",
                        lambda *args: drawn.append(args) or write(*args))
    run = tmp_path / "run"
    status = main([
        "finetune", str(rings_csv), "--label", "ring", "-o", str(run),
        "--model", str(tiny_model.model_path), "--n-blocks", "1", "--val-fraction", "0.25",
        *FAST, "--epochs", "3",
    ])
    assert status == 0
    out = capsys.readouterr().out
    assert "fine-tuned 1 of 4 encoder blocks" in out and "model.pt" in out
    curves = run / "learning_curves.png"
    assert f"learning curves (loss by epoch, training and validation): {curves}" in out
    assert Image.open(curves).size == (900, 340)  # losses, and validation accuracy beside
    # beside them, dashed, the balanced accuracy of one answer for all (2 classes: 0.5)
    assert drawn[0][2:] == (None, (0.5, "balanced accuracy of one answer for all"))
    meta = load_model(run / "model.pt").metadata
    assert meta["training"]["split"]["sizes"] == {"train": 24, "val": 8, "test": 0}
    # the kept epoch's validation accuracy, as logged, is recorded and reported
    logged = pd.read_csv(next((run / "logs").rglob("metrics.csv"))).dropna(subset=["val_loss"])
    assert len(logged) == meta["training"]["epochs_completed"]
    kept = logged.loc[logged["val_loss"].idxmin()]
    scores = meta["training"]["best_val_metrics"]
    assert scores["val_loss"] == pytest.approx(kept["val_loss"])
    assert scores["val_loss"] == meta["training"]["best_val_loss"]
    assert scores["val_accuracy"] == pytest.approx(kept["val_accuracy"])
    assert f"validation accuracy {kept['val_accuracy']:.1%} on 8 galaxies" in out

    predictions = tmp_path / "rings.parquet"
    assert main([
        "predict", str(rings_csv), "--model", str(run), "-o", str(predictions),
        "--num-workers", "0", "--no-progress",
    ]) == 0
    table = pd.read_parquet(predictions)
    assert list(table.columns) == ["id_str", "prob_0", "prob_1", "predicted_label"]
    truth = pd.read_csv(rings_csv, dtype={"id_str": str}).set_index("id_str")["ring"]
    accuracy = (table["predicted_label"].to_numpy() == truth[table["id_str"]].to_numpy()).mean()
    assert 0 <= accuracy <= 1 and len(table) == 32
    assert read_metadata(predictions)["galmorph_model"] == "run"  # the output folder's name


def test_head_start_options(
    tmp_path: Path, rings_csv: Path, tiny_model: TrainResult, capsys: pytest.CaptureFixture[str]
) -> None:
    common = [str(rings_csv), "--label", "ring", "--model", str(tiny_model.model_path),
              "--val-fraction", "0.25", *FAST]
    # training at a ruinous rate: no epoch beats the probe the head started from
    assert main(["finetune", *common, "-o", str(tmp_path / "probe"), "--head-init", "probe",
                 "--n-blocks", "-1", "--lr", "30"]) == 0
    assert "model.pt holds that probe" in capsys.readouterr().out
    probe = load_model(tmp_path / "probe" / "model.pt").metadata["training"]
    assert probe["kept"] == "probe"
    assert probe["best_val_metrics"]["val_loss"] == pytest.approx(probe["probe_val_loss"])
    assert main(["finetune", *common, "-o", str(tmp_path / "random")]) == 0  # the default
    assert "probe" not in capsys.readouterr().out
    training = load_model(tmp_path / "random" / "model.pt").metadata["training"]
    assert training["head_init"] == "random" and training["kept"] == "best epoch"


def test_finetune_a_regressor_from_scratch(
    tmp_path: Path, rings_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    status = main([
        "finetune", str(rings_csv), "--label", "smooth", "--task", "regression", "--squash",
        "--loss", "mae", "-o", str(run), "--from-scratch", "--encoder", "test_convnext",
        "--image-size", "32", "--val-fraction", "0", "--survey", "SDSS DR16",
        "--crop-fraction", "0.5", "0.6", *FAST,
    ])
    assert status == 0
    assert "no validation: last epoch kept" in " ".join(capsys.readouterr().out.split())
    loaded = load_model(run / "model.pt")
    assert loaded.metadata["training"]["init"] == "scratch"
    assert loaded.image_config.survey == "SDSS DR16"
    assert loaded.image_config.crop_fraction == (0.5, 0.6)
    predictions = tmp_path / "smooth.csv"
    assert main([
        "predict", str(rings_csv), "--model", str(run / "model.pt"), "-o", str(predictions),
        "--num-workers", "0", "--no-progress",
    ]) == 0
    table = pd.read_csv(predictions, comment="#")
    assert list(table.columns) == ["id_str", "prediction"]
    assert np.all((table["prediction"] > 0) & (table["prediction"] < 1))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "needs --label COLUMN"),
        (["--label", "ring", "--encoder", "resnet18"], "--encoder needs --from-scratch"),
        (["--label", "ring", "--squash"], "loss and squash are regression options"),
        (["--task", "votes", "--label", "ring"], "needs --schema"),
        (["--label", "nope", "--model", "{model}"], "no label column 'nope'"),
        (["--label", "ring", "--model", "{model}", "--n-blocks", "9"], "0 to 4"),
        (["--label", "ring", "--model", "no-such-model"], "model 'no-such-model' not found"),
        (["--label", "ring", "--model", "{model}", "--crop-fraction", "0.6", "0.3"],
         "crop_fraction must be (min, max)"),
    ],
)
def test_mistakes_are_one_clear_message(
    tmp_path: Path,
    rings_csv: Path,
    tiny_model: TrainResult,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
) -> None:
    arguments = [a.replace("{model}", str(tiny_model.model_path)) for a in arguments]
    status = main(["finetune", str(rings_csv), "-o", str(tmp_path / "run"), *arguments, *FAST])
    assert status == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and "Traceback" not in err


def test_options_checked_by_the_parser(tmp_path: Path, rings_csv: Path) -> None:
    parser = build_parser()
    for bad in (["--val-fraction", "1"], ["--epochs", "0"],
                ["--from-scratch", "--imagenet-weights", "w.pth"]):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(["finetune", str(rings_csv), "-o", str(tmp_path), *bad])
        assert exit_info.value.code == 2
    args = parser.parse_args(["finetune", str(rings_csv), "-o", str(tmp_path), "--label", "r"])
    assert args.model == "gz2-starter" and args.n_blocks is None and args.val_fraction == 0.2
