"""The probe start of a classifier's head (galmorph.training.warm_start) and its use by
finetune: the untrained model predicts what the probe does, and a fine-tuning run that
never beats the probe's validation loss keeps the probe."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import make_classification

from galmorph.data.views import average_over_views
from galmorph.inference.loop import run_over_images
from galmorph.models.checkpoint import load_model
from galmorph.models.model import ConcentrationHead, GalaxyModel, LinearHead
from galmorph.training.finetune import finetune
from galmorph.training.probe import fit_probe
from galmorph.training.train import TrainResult
from galmorph.training.warm_start import linear_head_weights, probe_head_start

FAST = {"epochs": 1, "batch_size": 8, "num_workers": 0, "progress": False}


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("standardise", [True, False])
def test_head_weights_give_the_probe_probabilities(n_classes: int, standardise: bool) -> None:
    x, y = make_classification(90, 12, n_informative=6, n_classes=n_classes, random_state=1)
    x = x * np.linspace(0.01, 5, 12) + 3  # features of very different scales and offsets
    pipeline = fit_probe(x, y, standardise=standardise)
    weight, bias = linear_head_weights(pipeline, n_classes)
    assert weight.shape == (n_classes, 12) and bias.shape == (n_classes,)
    logits = torch.as_tensor(x @ weight.T + bias)
    np.testing.assert_allclose(logits.softmax(dim=1).numpy(), pipeline.predict_proba(x),
                               atol=1e-9)


def test_head_weights_need_the_class_indices() -> None:
    x, y = make_classification(40, 5, random_state=0)
    with pytest.raises(ValueError, match="not the indices 0..1"):
        linear_head_weights(fit_probe(x, y + 1), 2)


def _features(model: GalaxyModel, frame: pd.DataFrame, config, forward) -> np.ndarray:
    return run_over_images(frame, forward, config, device=torch.device("cpu"), num_workers=0,
                           progress=False)


def test_the_started_model_predicts_what_the_probe_does(
    ring_frame: pd.DataFrame, tiny_model: TrainResult
) -> None:
    loaded = load_model(tiny_model.model_path)
    model = GalaxyModel(copy.deepcopy(loaded.model.encoder), LinearHead(
        loaded.model.encoder.num_features, 2))
    targets = ring_frame["ring"].to_numpy()
    config = loaded.image_config
    record = probe_head_start(model, ring_frame, targets, config, views=4, num_workers=0)

    features = _features(model, ring_frame, config, average_over_views(model.encoder, 4))
    features = features.astype(np.float64)
    probe = fit_probe(features / features.std(), targets, standardise=False)
    assert record == {"head_init": "probe", "probe_regularisation": probe[-1].C}
    logits = model.head.linear(torch.as_tensor(features, dtype=torch.float32))
    np.testing.assert_allclose(logits.softmax(dim=1).detach().numpy(),
                               probe.predict_proba(features / features.std()), atol=1e-4)
    # the encoder itself is untouched
    for a, b in zip(loaded.model.encoder.parameters(), model.encoder.parameters(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(TypeError, match="needs a LinearHead"):
        probe_head_start(GalaxyModel(model.encoder, ConcentrationHead(model.encoder.num_features,
                                                                      3)),
                         ring_frame, targets, config, num_workers=0)


def test_finetune_keeps_the_probe_when_training_only_makes_it_worse(
    tmp_path: Path, ring_frame: pd.DataFrame, tiny_model: TrainResult
) -> None:
    kept = finetune(ring_frame, tmp_path / "kept", label="ring", model=tiny_model.model_path,
                    head_init="probe", n_blocks=-1, learning_rate=30.0, val_fraction=0.25,
                    **FAST)
    training = kept.metadata["training"]
    assert training["head_init"] == "probe" and training["kept"] == "probe"
    assert kept.best_val_loss == training["probe_val_loss"]
    # the saved model is the starting encoder with the probe head: encoder unchanged
    start = load_model(tiny_model.model_path).model.encoder
    saved = load_model(kept.model_path).model
    for (name, a), b in zip(start.state_dict().items(), saved.encoder.state_dict().values(),
                            strict=True):
        torch.testing.assert_close(a.half().float(), b, msg=name)
    # a last epoch that was trained at that rate is far from the probe
    last = torch.load(kept.last_checkpoint, weights_only=False)["state_dict"]
    assert not torch.allclose(last["model.head.linear.weight"].float(),
                              saved.head.linear.weight, atol=1e-2)


def test_finetune_head_start_options(
    tmp_path: Path, ring_frame: pd.DataFrame, tiny_model: TrainResult
) -> None:
    probe = finetune(ring_frame, tmp_path / "probe", label="ring", model=tiny_model.model_path,
                     head_init="probe", n_blocks=0, learning_rate=1e-4, **FAST)
    training = probe.metadata["training"]
    assert training["head_init"] == "probe" and training["kept"] in ("probe", "best epoch")
    assert probe.best_val_loss == min(training["probe_val_loss"], probe.best_val_loss)

    random = finetune(ring_frame, tmp_path / "random", label="ring", model=tiny_model.model_path,
                      **FAST)  # the default
    assert random.metadata["training"]["head_init"] == "random"
    assert random.metadata["training"]["kept"] == "best epoch"
    assert "probe_val_loss" not in random.metadata["training"]
    # regression has no probe start
    frame = ring_frame.assign(value=np.linspace(0, 1, len(ring_frame)))
    regression = finetune(frame, tmp_path / "regression", task="regression", label="value",
                          model=tiny_model.model_path, head_init="probe", **FAST)
    assert regression.metadata["training"]["head_init"] == "random"
    with pytest.raises(ValueError, match="head_init must be one of probe, random"):
        finetune(ring_frame, tmp_path, label="ring", head_init="linear")
