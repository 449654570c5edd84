"""Fine-tuning (galmorph.training.finetune): freezing, heads, starts, checkpoints and predictions.

Pretrained models are throwaway ones trained for one epoch at 32 px on bundled
galaxies (``tiny_model``: convnext_atto; ``resnet_model``: timm's tiny
``test_resnet``, which has BatchNorm); the checks are about mechanics, not skill.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from galmorph.data import bundled
from galmorph.data.tree import Schema
from galmorph.exceptions import CatalogError, GalmorphError, GalmorphWarning
from galmorph.inference.predict import predict_catalog
from galmorph.models.blocks import encoder_blocks
from galmorph.models.checkpoint import load_model, save_model
from galmorph.training.finetune import finetune
from galmorph.training.targets import stratified_split
from galmorph.training.train import TrainResult, train

FAST = {"epochs": 1, "batch_size": 8, "num_workers": 0, "progress": False}


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every parameter and buffer, by name."""
    return {
        n: t.detach().clone()
        for n, t in [*module.named_parameters(), *module.named_buffers()]
    }


@pytest.fixture(scope="session")
def resnet_model(
    tmp_path_factory: pytest.TempPathFactory, ring_frame: pd.DataFrame
) -> TrainResult:
    return train(
        ring_frame, "gz2-no-odd", tmp_path_factory.mktemp("resnet_model"), encoder="test_resnet",
        image_size=32, epochs=1, batch_size=16, split_seed=0, num_workers=0, progress=False,
    )


# ---------------------------------------------------------- really frozen
def test_frozen_encoder_blocks_are_bitwise_unchanged_after_lightning_training(
    tmp_path: Path, ring_frame: pd.DataFrame, resnet_model: TrainResult
) -> None:
    pretrained = load_model(resnet_model.model_path).model.encoder
    result = finetune(
        ring_frame, tmp_path, label="ring", model=resnet_model.model_path, n_blocks=1,
        learning_rate=1e-2, val_fraction=0.25, **{**FAST, "epochs": 2},
    )
    assert result.epochs_completed == 2 and result.best_val_loss is not None
    tuned = load_model(result.model_path).model.encoder
    before, after = _tensors(pretrained), _tensors(tuned)
    blocks = encoder_blocks(tuned)
    for name in (n for block in blocks[1:] for n in block):
        assert torch.equal(before[name], after[name]), name
    assert any(not torch.equal(before[n], after[n]) for n in blocks[0] if "running_mean" in n)
    assert any(not torch.equal(before[n], after[n]) for n in blocks[0] if n.endswith("weight"))
    assert result.metadata["training"]["n_blocks"] == 1


# ------------------------------------------------------------------- tasks
def test_classifier_predicts_probabilities_and_labels(
    tmp_path: Path, ring_frame: pd.DataFrame, tiny_model: TrainResult
) -> None:
    result = finetune(
        ring_frame, tmp_path, label="ring", model=tiny_model.model_path, n_blocks=0, **FAST
    )
    assert {p.name for p in tmp_path.iterdir()} >= {"model.pt", "best.ckpt", "last.ckpt"}
    loaded = load_model(result.model_path)
    meta = loaded.metadata
    assert meta["task"] == "classification" and meta["classes"] == [0, 1]
    assert meta["label_column"] == "ring" and meta["encoder"] == "convnext_atto"
    assert meta["training"]["init"] == "pretrained"
    assert meta["training"]["split"]["sizes"] == {"train": 38, "val": 10, "test": 0}
    # inherited image settings: same size, and the same SDSS conventions (same images)
    assert loaded.image_config.size == 32 and loaded.image_config.pixel_scale == 0.2
    # frozen encoder: the linear probe leaves the pretrained encoder as it was
    pretrained = load_model(tiny_model.model_path).model.encoder
    for (name, a), b in zip(_tensors(pretrained).items(), _tensors(loaded.model.encoder).values(),
                            strict=True):
        assert torch.equal(a, b), name

    table = predict_catalog(ring_frame, loaded, num_workers=0, progress=False)
    assert list(table.columns) == ["id_str", "prob_0", "prob_1", "predicted_label"]
    np.testing.assert_allclose(table[["prob_0", "prob_1"]].sum(axis=1), 1, rtol=1e-5)
    expected = np.where(table["prob_1"] > table["prob_0"], 1, 0)
    np.testing.assert_array_equal(table["predicted_label"], expected)
    assert table["predicted_label"].dtype == np.int64


def test_multiclass_text_labels_with_class_weights_and_smoothing(
    tmp_path: Path, ring_frame: pd.DataFrame, tiny_model: TrainResult
) -> None:
    frame = ring_frame.assign(kind=np.resize(["spiral", "elliptical", "merger"], len(ring_frame)))
    frame.loc[frame.index[:4], "kind"] = "merger"  # unequal classes
    result = finetune(
        frame, tmp_path, label="kind", model=tiny_model.model_path, n_blocks=1,
        label_smoothing=0.1, class_weights="balanced", **FAST,
    )
    meta = result.metadata
    assert meta["classes"] == ["elliptical", "merger", "spiral"]
    counts = np.array(meta["class_counts"])
    np.testing.assert_allclose(meta["training"]["class_weights"], counts.sum() / (3 * counts))
    table = predict_catalog(frame, result.model_path, num_workers=0, progress=False, mc_samples=3)
    assert [c for c in table.columns if c.startswith("prob_")] == [
        "prob_elliptical", "prob_merger", "prob_spiral"
    ]
    assert set(table["predicted_label"]) <= {"elliptical", "merger", "spiral"}


def test_regressor_with_squashed_outputs(
    tmp_path: Path, ring_frame: pd.DataFrame, tiny_model: TrainResult
) -> None:
    votes = ring_frame.filter(like="t01_smooth_or_features")
    frame = ring_frame.assign(smooth=votes.iloc[:, 0] / votes.sum(axis=1))
    result = finetune(
        frame, tmp_path, task="regression", label="smooth", model=tiny_model.model_path,
        n_blocks=1, loss="mae", squash=True, **FAST,
    )
    loaded = load_model(result.model_path)
    assert loaded.task == "regression" and loaded.metadata["squash"] is True
    assert loaded.metadata["loss"] == "mae"
    table = predict_catalog(frame, loaded, num_workers=0, progress=False)
    assert list(table.columns) == ["id_str", "prediction"]
    assert ((table["prediction"] > 0) & (table["prediction"] < 1)).all()
    # the no-image baseline: the training galaxies' median, scored on the validation ones
    quartile = pd.qcut(frame["smooth"].rank(method="first"), 4, labels=False)
    is_val = stratified_split(quartile, frame["id_str"], 0.2, 0)
    median = frame["smooth"][~is_val].median()
    assert loaded.metadata["train_median"] == pytest.approx(median)
    assert loaded.metadata["val_median_mae"] == pytest.approx(
        (frame["smooth"][is_val] - median).abs().mean())


def test_tree_model_on_a_new_schema(
    tmp_path: Path, ring_frame: pd.DataFrame, tiny_model: TrainResult
) -> None:
    tree = Schema.from_dict({
        "name": "two-questions",
        "questions": [
            {"name": "t01_smooth_or_features", "answers": [
                {"name": a, "column": f"t01_smooth_or_features_{a}_count"}
                for a in ("a01_smooth", "a02_features_or_disk", "a03_star_or_artifact")]},
            {"name": "t02_edgeon", "asked_after": "t01_smooth_or_features/a02_features_or_disk",
             "answers": [{"name": a, "column": f"t02_edgeon_{a}_count"}
                         for a in ("a04_yes", "a05_no")]},
        ],
    })
    result = finetune(
        ring_frame, tmp_path, task="votes", schema=tree, model=tiny_model.model_path, n_blocks=1,
        **FAST,
    )
    loaded = load_model(result.model_path)
    assert loaded.task == "votes" and loaded.schema == tree
    assert len(loaded.metadata["vote_baseline"]) == 5
    # the loss of the average votes on the validation galaxies, to compare the model with
    assert loaded.metadata["training"]["baseline_val_loss"] > 0
    table = predict_catalog(ring_frame, loaded, num_workers=0, progress=False)
    assert "t02_edgeon_asked" in table and "t02_edgeon_a05_no_fraction" in table
    fractions = table.filter(regex="^t01.*_fraction$").sum(axis=1)
    np.testing.assert_allclose(fractions, 1, rtol=1e-5)


def test_without_validation_the_last_epoch_is_kept(
    tmp_path: Path, ring_frame: pd.DataFrame, tiny_model: TrainResult
) -> None:
    result = finetune(
        ring_frame.iloc[18:30], tmp_path, label="ring", model=tiny_model.model_path, n_blocks=1,
        val_fraction=0, **{**FAST, "epochs": 2},
    )
    assert result.best_val_loss is None
    assert result.metadata["training"]["split"]["sizes"]["val"] == 0
    last = torch.load(result.last_checkpoint, weights_only=False)["state_dict"]
    saved = load_model(result.model_path).model.state_dict()
    for name, value in saved.items():
        torch.testing.assert_close(value, last[f"model.{name}"].float().half().float())


def test_new_image_conventions_are_recorded(
    tmp_path: Path, ring_frame: pd.DataFrame, tiny_model: TrainResult
) -> None:
    result = finetune(
        ring_frame, tmp_path, label="ring", model=tiny_model.model_path, image_size=40,
        crop_fraction=(0.3, 0.4), source={"survey": "DECaLS DR5", "bands": "grz"}, **FAST,
    )
    image = load_model(result.model_path).image_config
    assert image.size == 40 and image.survey == "DECaLS DR5" and image.bands == "grz"
    assert image.crop_fraction == (0.3, 0.4)
    assert image.pixel_scale == 0.2  # not given, and the images are the pretrained size


# ------------------------------------------------------------ where it starts
def test_a_loaded_model_given_as_the_start_is_left_untouched(
    tmp_path: Path, ring_frame: pd.DataFrame, tiny_model: TrainResult
) -> None:
    loaded = load_model(tiny_model.model_path)
    before = _tensors(loaded.model)
    finetune(ring_frame, tmp_path, label="ring", model=loaded, n_blocks=-1, **FAST)
    after = _tensors(loaded.model)
    assert all(torch.equal(before[n], after[n]) for n in before)
    assert all(p.requires_grad for p in loaded.model.parameters())


def test_scratch_trains_every_block_by_default(
    tmp_path: Path, ring_frame: pd.DataFrame
) -> None:
    result = finetune(
        ring_frame, tmp_path, label="ring", init="scratch", encoder="test_convnext",
        image_size=32, **FAST,
    )
    training = result.metadata["training"]
    assert training["init"] == "scratch" and training["n_blocks"] == training["encoder_blocks"]


# ------------------------------------------------------------ data handling
def test_rows_without_a_label_are_skipped(
    tmp_path: Path, ring_frame: pd.DataFrame, tiny_model: TrainResult
) -> None:
    frame = ring_frame.astype({"ring": float})
    frame.loc[:3, "ring"] = np.nan
    with pytest.warns(GalmorphWarning, match="skipping 4 of 48"):
        result = finetune(frame, tmp_path, label="ring", model=tiny_model.model_path, **FAST)
    assert result.metadata["classes"] == [0, 1]
    assert sum(result.metadata["training"]["split"]["sizes"].values()) == 44


def test_bad_labels_and_options(
    tmp_path: Path, ring_frame: pd.DataFrame, tiny_model: TrainResult
) -> None:
    model = tiny_model.model_path
    with pytest.raises(CatalogError, match="no label column 'rings'"):
        finetune(ring_frame, tmp_path, label="rings", model=model, **FAST)
    with pytest.raises(CatalogError, match="not whole, not classes"):
        finetune(ring_frame, tmp_path, label="ra", model=model, **FAST)
    with pytest.raises(CatalogError, match="same 'ring' label, 1"):
        finetune(ring_frame.head(20), tmp_path, label="ring", model=model, **FAST)
    with pytest.raises(CatalogError, match="must hold numbers"):
        finetune(ring_frame.assign(x="a"), tmp_path, task="regression", label="x", model=model)
    infinite = ring_frame.assign(x=1.0)
    infinite.loc[2, "x"] = float("inf")
    with pytest.raises(CatalogError, match=re.escape(f"row 2 ({infinite['id_str'][2]}) hold")):
        finetune(infinite, tmp_path, task="regression", label="x", model=model)
    with pytest.raises(CatalogError, match="in \\[0, 1\\]"):
        finetune(ring_frame, tmp_path, task="regression", label="ra", squash=True, model=model)
    with pytest.raises(ValueError, match="regression options"):
        finetune(ring_frame, tmp_path, label="ring", squash=True, model=model)
    with pytest.raises(ValueError, match="classification options"):
        finetune(ring_frame, tmp_path, task="regression", label="ra", label_smoothing=0.1)
    with pytest.raises(GalmorphError, match="too few for a validation split"):
        finetune(ring_frame.iloc[22:26], tmp_path, label="ring", model=model, val_fraction=0.1)


# ---------------------------------------------------------------- benchmark
def test_benchmark_quick_mode(tmp_path: Path, tiny_model: TrainResult) -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_finetune.py"
    spec = importlib.util.spec_from_file_location("bench_finetune", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.wilson_interval(50, 100) == pytest.approx((0.404, 0.596), abs=1e-3)
    assert [bench.epochs_for(n, 32, 150) for n in (10, 50, 100)] == [150, 150, 50]
    demo = pd.read_csv(bundled.demo_catalog(), dtype={"id_str": str})
    demo["file_loc"] = [str(bundled.demo_dir() / loc) for loc in demo["file_loc"]]
    catalog = tmp_path / "rings.csv"
    pd.concat([demo[demo["ring"] == 1].head(30), demo[demo["ring"] == 0].head(50)]).to_csv(
        catalog, index=False
    )
    arguments = ["--quick", "--catalog", str(catalog), "--model", str(tiny_model.model_path),
                 "--out", str(tmp_path / "out"), "--num-workers", "0", "--views", "1"]
    summary = bench.main(arguments)
    # the ImageNet row (offline EfficientNet-Lite0) and that architecture from scratch,
    # since the pretrained model is another architecture
    assert set(summary["method"]) == {"probe", "frozen", "unfrozen", "scratch", "imagenet",
                                      "imagenet-scratch"}
    assert sorted(set(summary["n_labels"])) == [10, 20]
    assert summary["accuracy"].between(0, 1).all()
    assert (tmp_path / "out" / "accuracy.png").stat().st_size > 0
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert len(runs) == 12 and set(runs["n_test"]) == {40}
    imagenet_setups = runs.loc[runs["method"] == "imagenet", "setup"]
    assert imagenet_setups.str.startswith("tf_efficientnet_lite0/imagenet ").all()
    assert imagenet_setups.str.contains(" px=32 ").all()
    bench.main(arguments)  # resumes: nothing new to run
    assert len(pd.read_csv(tmp_path / "out" / "runs.csv")) == 12

    # another pretrained model re-runs the methods that start from it, and only those
    loaded = load_model(tiny_model.model_path)
    with torch.no_grad():
        next(loaded.model.parameters()).add_(0.5)
    retrained = save_model(loaded.model, loaded.metadata, tmp_path / "other.pt")
    other_model = list(arguments)
    other_model[other_model.index("--model") + 1] = str(retrained)
    bench.main(other_model)
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert runs.groupby("method").size().to_dict() == {
        "probe": 4, "frozen": 4, "unfrozen": 4, "scratch": 2, "imagenet": 2,
        "imagenet-scratch": 2}

    # a probe with an earlier stage's features too is another setup: re-run, summarised alone
    staged = bench.main([*arguments, "--methods", "probe", "--probe-stages", "2"])
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert (runs["method"] == "probe").sum() == 6
    assert runs["setup"].str.endswith("stages=2").sum() == 2
    assert set(staged["method"]) == {"probe"} and set(staged["runs"]) == {1}
