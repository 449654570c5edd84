"""Where an encoder starts (galmorph.models.starts): ImageNet weights, scratch, a model."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

from galmorph.data.image_config import ImageConfig
from galmorph.exceptions import ModelError
from galmorph.models.checkpoint import load_model
from galmorph.models.starts import starting_point
from galmorph.training.train import TrainResult


def test_imagenet_start_from_a_local_weights_file(tmp_path: Path) -> None:
    torch.manual_seed(1)
    reference = timm.create_model("test_resnet")  # stands in for downloaded ImageNet weights
    weights = tmp_path / "test_resnet_imagenet.pth"
    torch.save(reference.state_dict(), weights)
    start = starting_point("imagenet", encoder="test_resnet", imagenet_weights=weights)
    assert start.encoder_name == "test_resnet"
    assert start.encoder.num_features == reference.num_features
    loaded = start.encoder.state_dict()
    for name, value in reference.state_dict().items():
        if not name.startswith("fc."):
            assert torch.equal(loaded[name], value), name
    imagenet_mean = tuple(reference.pretrained_cfg["mean"])
    assert start.image_config.mean == pytest.approx(imagenet_mean)
    assert imagenet_mean != pytest.approx(ImageConfig.for_sdss_gz2().mean)
    assert start.record == {"init": "imagenet", "weights": str(weights)}
    with pytest.raises(ModelError, match="does not exist"):
        starting_point("imagenet", encoder="test_resnet", imagenet_weights=tmp_path / "no.pth")


def test_scratch_start_has_the_pretrained_architecture_but_new_weights(
    tiny_model: TrainResult,
) -> None:
    pretrained = load_model(tiny_model.model_path)
    start = starting_point("scratch", tiny_model.model_path)
    assert start.encoder_name == "convnext_atto" and start.record == {"init": "scratch"}
    assert start.image_config == pretrained.image_config
    assert not torch.equal(start.encoder.stem[0].weight, pretrained.model.encoder.stem[0].weight)
    own = starting_point("scratch", encoder="test_convnext", channels=1)
    assert own.image_config.channels == 1 and own.encoder.stem[0].in_channels == 1


def test_a_start_from_an_adapted_model_keeps_how_it_was_adapted(
    tiny_model: TrainResult,
) -> None:
    loaded = load_model(tiny_model.model_path)
    assert "model_adaptation" not in starting_point("pretrained", loaded).record
    adaptation = {"crop_fraction": [0.7, 0.7], "batchnorm_images": 120}
    loaded.metadata["adaptation"] = adaptation  # as galmorph adapt records it
    record = starting_point("pretrained", loaded).record
    assert record["model_adaptation"] == adaptation
    assert record["model_sha256"] == loaded.checksum
