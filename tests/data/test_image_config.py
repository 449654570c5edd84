"""Tests for galmorph.data.image_config: ImageConfig's values, checks and round trip."""

from __future__ import annotations

import json

import pytest

from galmorph.data.image_config import ImageConfig


def test_config_roundtrip_through_json() -> None:
    config = ImageConfig.for_sdss_gz2(size=64, channels=1, greyscale_p=0.2)
    data = json.loads(json.dumps(config.to_dict()))
    assert ImageConfig.from_dict(data) == config
    assert config.pixel_scale == 0.2 and config.field_of_view == 25.6
    assert config.bands == "gri" and config.survey == "SDSS DR16"
    assert len(config.mean) == 1 and len(ImageConfig.for_sdss_gz2().mean) == 3
    assert config.eval_crop_fraction == pytest.approx(0.875)
    assert config.output_pixel_scale == pytest.approx(25.6 * 0.875 / 64)


def test_config_defaults_and_validation() -> None:
    config = ImageConfig(channels=3, mean=0.5, std=(0.25,))
    assert config.mean == (0.5, 0.5, 0.5) and config.std == (0.25, 0.25, 0.25)
    assert ImageConfig.from_dict({"size": 32}).size == 32
    assert ImageConfig().output_pixel_scale is None
    for bad in (
        {"channels": 2},
        {"size": 4},
        {"size": 96.0},
        {"std": (0.0,)},
        {"mean": (0.1, 0.2)},
        {"crop_fraction": (0.9, 0.8)},
        {"crop_fraction": (0.0, 0.8)},
        {"centre_jitter": 0.6},
        {"greyscale_p": 1.5},
        {"pixel_scale": -1.0},
    ):
        with pytest.raises(ValueError):
            ImageConfig(**bad)
    with pytest.raises(ValueError, match="unknown image settings: colour"):
        ImageConfig.from_dict({"colour": True})

