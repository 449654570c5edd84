"""Tests for galmorph.data.images: reading files, ImageConfig and the transforms."""

from __future__ import annotations

import json
import math
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
import torch
from astropy.io import fits
from PIL import Image

from galmorph.data.images import (
    ImageConfig,
    asinh_stretch,
    eval_transform,
    load_image,
    to_channels,
    train_transform,
)
from galmorph.exceptions import ImageError

DEMO_IMAGES = Path(str(files("galmorph") / "demo_data" / "gz2_demo" / "images"))


@pytest.fixture(scope="module")
def demo_jpg() -> Path:
    return sorted(DEMO_IMAGES.glob("*.jpg"))[0]


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


# ------------------------------------------------------------------ reading
def test_load_bundled_jpeg(demo_jpg: Path) -> None:
    image = load_image(demo_jpg)
    assert image.shape == (128, 128, 3)
    assert image.dtype == np.uint8
    assert image.flags.writeable
    assert image.std() > 5  # a real picture, not a blank


@pytest.mark.parametrize(
    ("mode", "channels"), [("L", 1), ("RGB", 3), ("RGBA", 3), ("P", 3), ("LA", 1)]
)
def test_load_png_modes(tmp_path: Path, mode: str, channels: int) -> None:
    path = tmp_path / f"image_{mode}.png"
    Image.new(mode, (20, 10)).save(path)
    image = load_image(path)
    assert image.shape == (10, 20, channels)
    assert image.dtype == np.uint8


def test_load_16bit_png_is_stretched(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    data = (blob(32) * 60000).astype(np.uint16)
    Image.fromarray(data).save(path)
    image = load_image(path)
    assert image.shape == (32, 32, 1) and image.dtype == np.uint8
    assert image[16, 16, 0] == 255 and image[0, 0, 0] < 20


def test_fits_2d_with_nan_inf_and_extremes(tmp_path: Path) -> None:
    data = blob(64) * 100.0 + np.random.default_rng(0).normal(0, 0.5, (64, 64))
    data[0, 0] = np.nan
    data[0, 1] = np.inf
    data[0, 2] = -np.inf
    data[5, 5] = 1e30  # a hot pixel must not flatten the rest of the image
    data[6, 6] = -1e30
    path = tmp_path / "galaxy.fits"
    fits.PrimaryHDU(data.astype(np.float32)).writeto(path)

    image = load_image(path)
    assert image.shape == (64, 64, 1)
    assert image.dtype == np.uint8
    assert image[31:33, 31:33].min() >= 250  # the galaxy is bright
    assert np.median(image) < 60  # the sky is dark
    assert image[0, 0, 0] == 0 and image[0, 1, 0] == 255 and image[0, 2, 0] == 0


def test_fits_3d_bands_first_in_extension(tmp_path: Path) -> None:
    cube = np.zeros((3, 40, 50), dtype=np.float64)
    cube[0] = blob(50)[:40] * 10  # band 0: a galaxy; band 1: NaNs; band 2: a gradient
    cube[1] = np.nan
    cube[2] = np.linspace(0, 1, 50)[None, :]
    cube[0, 3, 3] = np.nan
    path = tmp_path / "cube.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(cube)]).writeto(path)

    image = load_image(path)
    assert image.shape == (40, 50, 3)
    assert image.dtype == np.uint8
    assert image[20, 25, 0] > 200 and image[3, 3, 0] == 0
    assert (image[..., 1] == 0).all()  # no finite pixels: black, not an error
    assert image[:, 0, 2].max() == 0 and image[:, -1, 2].min() == 255


def test_fits_single_band_cube(tmp_path: Path) -> None:
    path = tmp_path / "one.fit"
    fits.PrimaryHDU(blob(16)[None]).writeto(path)
    assert load_image(path).shape == (16, 16, 1)


def test_fits_detected_without_fits_suffix(tmp_path: Path) -> None:
    path = tmp_path / "galaxy.dat"
    fits.PrimaryHDU(blob(16)).writeto(path)
    assert load_image(path).shape == (16, 16, 1)


def test_stretch_is_monotonic_and_spans_range() -> None:
    ramp = np.linspace(-3, 1000, 400).reshape(20, 20)
    out = asinh_stretch(ramp).ravel()
    assert out.dtype == np.uint8
    assert (np.diff(out.astype(int)) >= 0).all()
    assert out.min() == 0 and out.max() == 255
    assert (asinh_stretch(np.full((4, 4), 7.0)) == 0).all()  # flat: no division by zero


# ------------------------------------------------------------ broken files
def _truncated_jpeg(tmp_path: Path, demo_jpg: Path) -> Path:
    path = tmp_path / "truncated.jpg"
    data = demo_jpg.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _make(kind: str, tmp_path: Path, demo_jpg: Path) -> Path:
    path = {
        "missing": tmp_path / "missing.jpg",
        "empty": tmp_path / "empty.jpg",
        "text": tmp_path / "notes.png",
        "garbage": tmp_path / "garbage.jpg",
        "folder": tmp_path / "folder.jpg",
        "bad_fits": tmp_path / "bad.fits",
        "table_fits": tmp_path / "table.fits",
        "five_bands": tmp_path / "five.fits",
        "empty_fits": tmp_path / "nodata.fits",
    }.get(kind)
    if kind == "truncated":
        return _truncated_jpeg(tmp_path, demo_jpg)
    assert path is not None
    if kind == "empty":
        path.touch()
    elif kind == "text":
        path.write_text("id_str,file_loc\nJ1,a.jpg\n")
    elif kind == "garbage":
        path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)  # JPEG magic, then junk
    elif kind == "folder":
        path.mkdir()
    elif kind == "bad_fits":
        path.write_bytes(b"SIMPLE  = T" + b"x" * 3000)
    elif kind == "table_fits":
        table = fits.BinTableHDU.from_columns([fits.Column("a", format="E", array=[1.0, 2.0])])
        fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    elif kind == "five_bands":
        fits.PrimaryHDU(np.ones((5, 8, 8))).writeto(path)
    elif kind == "empty_fits":
        fits.PrimaryHDU().writeto(path)
    return path


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("missing", "cannot read"),
        ("empty", "empty"),
        ("truncated", "truncated"),
        ("text", "not an image"),
        ("garbage", "corrupt"),
        ("folder", "not a file"),
        ("bad_fits", "corrupt"),
        ("table_fits", "no 2-D or 3-D"),
        ("five_bands", "5 planes"),
        ("empty_fits", "no 2-D or 3-D"),
    ],
)
def test_bad_files_raise_image_error_naming_file(
    kind: str, words: str, tmp_path: Path, demo_jpg: Path
) -> None:
    path = _make(kind, tmp_path, demo_jpg)
    with pytest.raises(ImageError) as caught:
        load_image(path)
    assert str(path) in str(caught.value)
    assert words in str(caught.value)


# --------------------------------------------------------- channel conversion
def test_to_channels(demo_jpg: Path) -> None:
    rgb = load_image(demo_jpg)
    grey = to_channels(rgb, 1)
    assert grey.shape == (128, 128, 1) and grey.dtype == np.uint8
    pillow_grey = np.asarray(Image.open(demo_jpg).convert("L")).astype(int)
    assert np.abs(grey[..., 0].astype(int) - pillow_grey).max() <= 1
    again = to_channels(grey, 3)
    assert again.shape == (128, 128, 3)
    assert (again == grey).all()
    assert to_channels(rgb, 3) is rgb
    with pytest.raises(ValueError, match="2-channel"):
        to_channels(rgb[..., :2], 3)


# ------------------------------------------------------------------ config
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


# --------------------------------------------------------------- transforms
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
