"""load_image on the image files astronomers bring: FITS layouts, blank cutouts, EXIF."""

from __future__ import annotations

import bz2
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from galmorph.data.images import load_image, reduced_depth
from galmorph.exceptions import ImageError

WriteRgb16 = Callable[[Path, np.ndarray], Path]


def galaxy(bands: int = 3, height: int = 24, width: int = 32) -> np.ndarray:
    """Float cube ``(bands, height, width)``: a Gaussian galaxy, band b brighter by b, on noise."""
    y, x = np.mgrid[:height, :width]
    blob = np.exp(-((x - width / 2) ** 2 + (y - height / 2) ** 2) / 18)
    noise = np.random.default_rng(0).normal(0, 0.01, (bands, height, width))
    return np.stack([blob * (b + 1) for b in range(bands)]) + noise


def write_fits(path: Path, data: np.ndarray) -> Path:
    fits.PrimaryHDU(data.astype(np.float32)).writeto(path)
    return path


# ------------------------------------------------------------- FITS layouts
@pytest.mark.parametrize("bands", [1, 3])
def test_fits_bands_last_reads_as_bands_first(tmp_path: Path, bands: int) -> None:
    cube = galaxy(bands)
    first = load_image(write_fits(tmp_path / "first.fits", cube))
    last = load_image(write_fits(tmp_path / "last.fits", np.moveaxis(cube, 0, -1)))
    assert last.shape == (24, 32, bands)
    assert (last == first).all()


@pytest.mark.parametrize("shape", [(1, 3, 24, 32), (1, 1, 24, 32), (1, 1, 1, 24, 32)])
def test_fits_leading_axes_of_length_one_are_dropped(tmp_path: Path, shape: tuple) -> None:
    data = galaxy(3 if 3 in shape else 1).reshape(shape)
    image = load_image(write_fits(tmp_path / "radio.fits", data))
    assert image.shape == (24, 32, 3 if 3 in shape else 1)
    assert image[12, 16].min() == 255


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (np.moveaxis(galaxy(5), 0, -1),
         "5 bands not named in its header (BAND0...) (cube of shape (24, 32, 5))"),
        (galaxy(2), "2 bands not named in its header (BAND0...) (cube of shape (2, 24, 32))"),
        (np.ones((3, 24, 3)), "band axis is unclear"),
        (np.ones((2, 3, 8, 8)), "4-D image data of shape (2, 3, 8, 8)"),
    ],
)
def test_fits_unsupported_cubes_say_why(tmp_path: Path, data: np.ndarray, words: str) -> None:
    path = write_fits(tmp_path / "cube.fits", data)
    with pytest.raises(ImageError, match="cube.fits") as caught:
        load_image(path)
    assert words in str(caught.value)


@pytest.mark.parametrize("container", [".fits.fz", ".fits.gz", ".fits.bz2"])
def test_fits_compressed(tmp_path: Path, container: str) -> None:
    path = tmp_path / f"galaxy{container}"
    data = galaxy(1)[0].astype(np.float32)
    if container == ".fits.fz":
        fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data)]).writeto(path)
    elif container == ".fits.gz":
        fits.PrimaryHDU(data).writeto(path)  # astropy compresses by the name
    else:
        plain = write_fits(tmp_path / "plain.fits", data)
        path.write_bytes(bz2.compress(plain.read_bytes()))
    image = load_image(path)
    assert image.shape == (24, 32, 1) and image[12, 16, 0] == 255


def test_fits_table_error_says_what_the_file_holds(tmp_path: Path) -> None:
    path = tmp_path / "table.fits"
    table = fits.BinTableHDU.from_columns([fits.Column("ra", format="E", array=[1.0])])
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    with pytest.raises(ImageError, match=r"table\.fits has no 2-D .*HDU 0: no data, HDU 1: table"):
        load_image(path)


def test_text_named_fits_is_not_fits(tmp_path: Path) -> None:
    path = tmp_path / "galaxy.fits"
    path.write_text("<html>404 Not Found</html>\n")
    with pytest.raises(ImageError) as caught:
        load_image(path)
    message = str(caught.value)
    assert str(path) in message and "is not a FITS file" in message
    assert "ignore_missing_simple" not in message  # astropy's advice is for its own users


# ------------------------------------------------------------ blank images
def _png16(path: Path, data: np.ndarray) -> Path:
    Image.fromarray(data.astype(np.uint16)).save(path)
    return path


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: write_fits(p / "nan.fits", np.full((8, 8), np.nan)), "no finite pixels"),
        (lambda p: write_fits(p / "flat.fits", np.full((8, 8), 5.0)), "every pixel is 5"),
        (lambda p: write_fits(p / "flat3.fits", np.zeros((3, 8, 8))), "each band is one value"),
        (lambda p: _png16(p / "flat.png", np.full((8, 8), 300)), "every pixel is 300"),
    ],
)
def test_blank_images_are_errors(tmp_path: Path, make, words: str) -> None:
    path = make(tmp_path)
    with pytest.raises(ImageError) as caught:
        load_image(path)
    assert str(path) in str(caught.value) and "blank" in str(caught.value)
    assert words in str(caught.value)


def test_small_galaxy_on_a_zero_sky_is_visible(tmp_path: Path) -> None:
    data = np.zeros((64, 64))  # a simulation or a masked cutout: the sky is exactly 0
    data[30:33, 30:33] = 10.0  # 9 of 4096 pixels: under the 0.5% that the percentiles clip
    image = load_image(write_fits(tmp_path / "sim.fits", data))
    assert image[31, 31, 0] == 255 and image[0, 0, 0] == 0


# ------------------------------------------------------------------- Pillow
@pytest.mark.parametrize(
    ("orientation", "as_displayed"),
    [(6, lambda a: np.rot90(a, -1)), (2, lambda a: a[:, ::-1]), (3, lambda a: a[::-1, ::-1])],
)
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int, as_displayed) -> None:
    stored = np.zeros((40, 64), dtype=np.uint8)
    stored[:16, :16] = 255  # bright top-left corner as stored
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = orientation  # 6: turn 90 degrees clockwise; 2: mirror; 3: turn 180
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif, quality=95)

    loaded = load_image(path)[..., 0].astype(int)
    expected = as_displayed(stored)
    assert loaded.shape == expected.shape
    assert np.abs(loaded - expected).mean() < 5  # JPEG is lossy


def test_huge_image_is_refused_as_too_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mosaic.png"
    Image.new("L", (40, 40)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 1600 pixels: over twice this
    with pytest.raises(ImageError, match=r"mosaic\.png is too large to read"):
        load_image(path)


@pytest.mark.parametrize(
    ("size", "suffix"), [((1, 1), ".gif"), ((40, 7), ".png"), ((3, 3), ".fits")]
)
def test_images_smaller_than_8_px_are_errors(
    tmp_path: Path, size: tuple[int, int], suffix: str
) -> None:
    path = tmp_path / f"placeholder{suffix}"
    if suffix == ".fits":
        write_fits(path, galaxy(1, *size)[0])
    else:
        Image.new("RGB", size, (90, 60, 30)).save(path)
    with pytest.raises(ImageError, match=rf"placeholder\{suffix} is {size[0]}x{size[1]} px: too"):
        load_image(path)


def test_8_px_images_are_read(tmp_path: Path) -> None:
    path = write_fits(tmp_path / "tiny.fits", galaxy(1, 8, 8)[0])
    assert load_image(path).shape == (8, 8, 1)


# ------------------------------------------------- 16-bit colour (Pillow keeps 8 bits)
def faint_galaxy_16bit() -> np.ndarray:
    """``(24, 32, 3)`` uint16 linear flux using only the bottom 10 of 16 bits."""
    return np.moveaxis(galaxy(3) / 3 * 1000 + 20, 0, -1).clip(0, 65535).astype(np.uint16)


@pytest.mark.parametrize("name", ["faint.png", "faint.tif"])
def test_16_bit_colour_is_known_to_lose_its_low_bits(tmp_path: Path, name: str,
                                                      write_rgb16: WriteRgb16) -> None:
    data = faint_galaxy_16bit()
    path = write_rgb16(tmp_path / name, data)
    assert reduced_depth(path)
    np.testing.assert_array_equal(load_image(path), data >> 8)  # Pillow's 8 bits: near black
    grey = tmp_path / "grey.png"  # 16-bit greyscale is read whole, and stretched
    Image.fromarray(data[..., 0]).save(grey)
    assert not reduced_depth(grey) and load_image(grey).max() == 255
    eight_bit = tmp_path / "eight.tif"
    Image.fromarray((data >> 2).astype(np.uint8)).save(eight_bit)
    assert not reduced_depth(eight_bit) and not reduced_depth(tmp_path / "missing.tif")
