"""Tests for galmorph.data.transforms: training and evaluation transforms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from galmorph.data.image_config import ImageConfig
from galmorph.data.transforms import EvalFinish, eval_preparation, eval_transform, train_transform


def blob(
    size: int = 128, centre: tuple[float, float] | None = None, sigma: float = 4.0
) -> np.ndarray:
    """Float image ``(size, size)`` with a Gaussian blob (default at the image centre)."""
    cy, cx = centre if centre is not None else ((size - 1) / 2, (size - 1) / 2)
    y, x = np.mgrid[:size, :size]
    return np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))


def centroid(image: torch.Tensor) -> tuple[float, float]:
    """Intensity-weighted (row, column) of a ``(C, H, W)`` tensor, relative to its centre."""
    weight = image.sum(0).clamp(min=0) ** 2
    h, w = weight.shape
    rows = torch.arange(h, dtype=weight.dtype)[:, None]
    cols = torch.arange(w, dtype=weight.dtype)[None, :]
    total = weight.sum()
    return (
        float((weight * rows).sum() / total - (h - 1) / 2),
        float((weight * cols).sum() / total - (w - 1) / 2),
    )


def as_uint8_tensor(image: np.ndarray, channels: int = 3) -> torch.Tensor:
    """A ``uint8 (channels, H, W)`` tensor from a float image in [0, 1]."""
    grey = torch.from_numpy(np.round(image * 255).astype(np.uint8))
    return grey[None].repeat(channels, 1, 1)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("input_channels", [1, 3])
@pytest.mark.parametrize("input_side", [(128, 128), (90, 140), (300, 300)])
def test_transform_shapes(
    channels: int, size: int, input_channels: int, input_side: tuple[int, int]
) -> None:
    config = ImageConfig.for_sdss_gz2(size=size, channels=channels, greyscale_p=0.5)
    image = torch.randint(0, 256, (input_channels, *input_side), dtype=torch.uint8)
    for transform in (train_transform(config), eval_transform(config)):
        out = transform(image)
        assert out.shape == (channels, size, size)
        assert out.dtype == torch.float32
        assert torch.isfinite(out).all()


def test_eval_transform_is_deterministic_and_normalises() -> None:
    config = ImageConfig(size=32, channels=3, mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 0.125))
    transform = eval_transform(config)
    image = torch.randint(0, 256, (3, 128, 128), dtype=torch.uint8)
    assert torch.equal(transform(image), transform(image))
    flat = torch.full((3, 128, 128), 51, dtype=torch.uint8)  # 0.2 after scaling
    expected = (0.2 - torch.tensor(config.mean)) / torch.tensor(config.std)
    assert torch.allclose(transform(flat)[:, 5, 5], expected, atol=1e-5)


def test_eval_crop_is_the_mean_training_crop() -> None:
    """An off-centre source lands, on average, at the same radius in both transforms."""
    torch.manual_seed(0)
    config = ImageConfig(size=48, channels=1, crop_fraction=(0.7, 0.9), centre_jitter=0.0)
    image = as_uint8_tensor(blob(128, centre=(63.5, 63.5 + 32), sigma=3.0), channels=1)
    eval_radius = math.hypot(*centroid(eval_transform(config)(image)))
    assert eval_radius == pytest.approx(32 * 48 / (0.8 * 128), abs=0.5)
    train = train_transform(config)
    radii = [math.hypot(*centroid(train(image))) for _ in range(60)]
    assert np.mean(radii) == pytest.approx(eval_radius, abs=0.7)
    assert max(radii) - min(radii) > 2  # the crop size varies


def test_train_transform_is_random_but_keeps_the_galaxy_centred() -> None:
    torch.manual_seed(1)
    config = ImageConfig(size=64, channels=3)
    centred = as_uint8_tensor(blob(128, sigma=5.0))
    transform = train_transform(config)
    outputs = [transform(centred) for _ in range(30)]
    assert not torch.equal(outputs[0], outputs[1])
    # jitter <= 4% of 128 px = 5.1 source px = at most 5.1 * 64 / (0.8 * 128) = 3.2 output px
    for out in outputs:
        dy, dx = centroid(out)
        assert math.hypot(dy, dx) < 4.6
    assert max(math.hypot(*centroid(o)) for o in outputs) > 0.5  # the centre does jitter


def test_train_transform_rotates_through_all_angles() -> None:
    torch.manual_seed(2)
    config = ImageConfig(size=48, channels=1, centre_jitter=0.0)
    image = as_uint8_tensor(blob(128, centre=(63.5, 63.5 + 30), sigma=3.0), channels=1)
    transform = train_transform(config)
    angles = [math.atan2(*centroid(transform(image))) for _ in range(60)]
    counts, _ = np.histogram(angles, bins=8, range=(-math.pi, math.pi))
    assert (counts > 0).all()


def test_random_greyscale_makes_channels_equal() -> None:
    colour = torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
    grey = train_transform(ImageConfig(size=32, greyscale_p=1.0))(colour)
    assert torch.allclose(grey[0], grey[1]) and torch.allclose(grey[1], grey[2])
    kept = train_transform(ImageConfig(size=32, greyscale_p=0.0))(colour)
    assert not torch.allclose(kept[0], kept[1])


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("input_channels", [1, 3])
def test_eval_batches_finished_together_equal_the_per_image_transform(
    channels: int, input_channels: int
) -> None:
    """Crops prepared one by one and finished as a batch are exactly eval_transform's output."""
    config = ImageConfig.for_sdss_gz2(size=56, channels=channels)
    images = torch.randint(0, 256, (5, input_channels, 128, 128), dtype=torch.uint8)
    prepare, finish = eval_preparation(config), EvalFinish(config)
    crops = torch.stack([prepare(image) for image in images])
    assert crops.dtype == torch.uint8 and crops.shape == (5, input_channels, 112, 112)
    finished = finish(crops)
    expected = torch.stack([eval_transform(config)(image) for image in images])
    assert finished.shape == (5, channels, 56, 56)
    assert torch.equal(finished, expected)
    assert finish(expected) is expected  # float batches are finished already
