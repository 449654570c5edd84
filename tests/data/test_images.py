"""Tests for galmorph.data.images: reading files, the stretch and channel conversion."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from galmorph.data.images import asinh_stretch, load_image, to_channels
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

    image = load_image(path)[::-1]  # as stored: the first row stored is shown at the bottom
    assert image.shape == (64, 64, 1)
    assert image.dtype == np.uint8
    assert image[31:33, 31:33].min() >= 250  # the galaxy is bright
    assert np.median(image) < 60  # the sky is dark
    assert abs(int(image[0, 0, 0]) - np.median(image)) <= 1  # NaN: the background
    assert image[0, 1, 0] == 255 and image[0, 2, 0] == 0


def test_fits_nans_at_the_edge_become_the_sky_not_black(tmp_path: Path) -> None:
    """README: NaNs are set to the background. A cutout off a survey's edge (a NaN strip)
    on a sky offset must not show a black edge the model never saw."""
    rng = np.random.default_rng(0)
    data = 3.0 + blob(64) * 100.0 + rng.normal(0, 0.5, (3, 64, 64))
    data[:, :, :10] = np.nan
    path = tmp_path / "edge.fits"
    fits.PrimaryHDU(data.astype(np.float32), header=fits.Header({"BANDS": "grz"})).writeto(path)
    image = load_image(path).astype(int)
    sky = np.median(image[:, 10:20], axis=(0, 1))
    assert (abs(image[:, :10] - sky) <= 2).all()


def test_fits_3d_bands_first_in_extension(tmp_path: Path) -> None:
    cube = np.zeros((3, 40, 50), dtype=np.float64)
    cube[0] = blob(50)[:40] * 10  # band 0: a galaxy; band 1: NaNs; band 2: a gradient
    cube[1] = np.nan
    cube[2] = np.linspace(0, 1, 50)[None, :]
    cube[0, 3, 3] = np.nan
    path = tmp_path / "cube.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(cube)]).writeto(path)

    image = load_image(path)[::-1]  # as stored: the first row stored is shown at the bottom
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
        ("five_bands", "5 bands"),
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
    with pytest.raises(ValueError, match=r"C = 1 or 3 channels, got shape \(128, 128, 2\)"):
        to_channels(rgb[..., :2], 3)


def test_to_channels_takes_a_2d_array_as_grey_and_names_bad_shapes() -> None:
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    colour = to_channels(grey, 3)
    assert colour.shape == (8, 8, 3) and (colour == grey[..., None]).all()
    assert to_channels(grey, 1).shape == (8, 8, 1)
    for bad in (np.zeros((8, 8, 5), np.uint8), np.zeros(8, np.uint8)):
        with pytest.raises(ValueError, match=rf"got shape \({bad.shape[0]},"):
            to_channels(bad, 3)
    with pytest.raises(ValueError, match="channels must be 1 .* or 3 .*, got 2"):
        to_channels(grey, 2)


def test_load_image_expands_the_home_folder(demo_jpg: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "g.jpg").write_bytes(demo_jpg.read_bytes())
    assert (load_image("~/g.jpg") == load_image(demo_jpg)).all()
    with pytest.raises(ImageError, match=f"{tmp_path}/missing.jpg"):
        load_image(Path("~/missing.jpg"))

