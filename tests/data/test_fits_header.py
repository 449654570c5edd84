"""FITS headers: named bands become colours by wavelength; Pan-STARRS asinh units become flux."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from galmorph.data.fits_header import (
    band_names,
    file_pixel_scale,
    linear_flux,
    pick_bands,
    pixel_scale,
    reddest_first,
    split_bands,
    wavelength_nm,
)
from galmorph.data.galaxy_dataset import GalaxyDataset, predict_dataset
from galmorph.data.image_config import ImageConfig
from galmorph.data.images import load_image
from galmorph.exceptions import ImageError

SIDE = 24
#: Where each stored band's galaxy sits (row, column): band 0 top left, 1 centre, 2 bottom right.
SPOTS = ((6, 6), (12, 12), (18, 18))


def marked_cube(spots: tuple[tuple[int, int], ...] = SPOTS) -> np.ndarray:
    """``(len(spots), SIDE, SIDE)`` float cube whose band b is a point source at
    ``spots[b]``."""
    cube = np.random.default_rng(0).normal(0, 0.01, (len(spots), SIDE, SIDE))
    for band, (row, col) in enumerate(spots):
        cube[band, row - 1:row + 2, col - 1:col + 2] += 10.0
    return cube


def stored_band_of_each_channel(image: np.ndarray,
                                spots: tuple[tuple[int, int], ...] = SPOTS) -> list[int]:
    """Which stored band (by its spot) each channel of a loaded image shows (the first
    row stored is shown at the bottom)."""
    return [
        int(np.argmax([image[SIDE - 1 - row, col, channel] for row, col in spots]))
        for channel in range(image.shape[-1])
    ]


def write(path: Path, data: np.ndarray, **keywords: object) -> Path:
    header = fits.Header()
    for key, value in keywords.items():
        header[key] = value
    fits.PrimaryHDU(data.astype(np.float32), header=header).writeto(path)
    return path


@pytest.mark.parametrize(
    "keywords",
    [
        {"BANDS": "grz", "BAND0": "g", "BAND1": "r", "BAND2": "z"},  # Legacy Survey cutout
        {"BANDS": "grz"},
        {"BANDS": "g, r, i"},
        {"BAND0": "HSC-G", "BAND1": "HSC-R", "BAND2": "HSC-I"},
    ],
)
def test_named_bands_become_colours_reddest_first(tmp_path: Path, keywords: dict) -> None:
    image = load_image(write(tmp_path / "cutout.fits", marked_cube(), **keywords))
    assert stored_band_of_each_channel(image) == [2, 1, 0]


def test_names_stored_reddest_first_keep_their_order(tmp_path: Path) -> None:
    image = load_image(write(tmp_path / "izg.fits", marked_cube(), BANDS="irg"))
    assert stored_band_of_each_channel(image) == [0, 1, 2]


@pytest.mark.parametrize(
    "keywords",
    [{}, {"BANDS": "F435W,F606W,F814W"}, {"BANDS": "gr"}, {"BAND0": "g", "BAND1": "r"}],
    ids=["unnamed", "unknown-names", "too-few-names", "missing-BAND2"],
)
def test_unnamed_bands_keep_the_stored_order(tmp_path: Path, keywords: dict) -> None:
    image = load_image(write(tmp_path / "cube.fits", marked_cube(), **keywords))
    assert stored_band_of_each_channel(image) == [0, 1, 2]


def test_names_in_the_primary_header_apply_to_an_extension_cube(tmp_path: Path) -> None:
    primary = fits.PrimaryHDU(header=fits.Header({"BANDS": "grz"}))
    path = tmp_path / "ext.fits"
    fits.HDUList([primary, fits.ImageHDU(marked_cube().astype(np.float32))]).writeto(path)
    assert stored_band_of_each_channel(load_image(path)) == [2, 1, 0]


def test_bands_last_cube_is_reordered_too(tmp_path: Path) -> None:
    path = write(tmp_path / "last.fits", np.moveaxis(marked_cube(), 0, -1), BANDS="grz")
    assert stored_band_of_each_channel(load_image(path)) == [2, 1, 0]


def test_pan_starrs_asinh_stack_reads_as_its_linear_flux(tmp_path: Path) -> None:
    y, x = np.mgrid[:SIDE, :SIDE]
    flux = 500 * np.exp(-((x - 12) ** 2 + (y - 12) ** 2) / 20) + np.random.default_rng(1).normal(
        0, 2, (SIDE, SIDE))
    soften, offset = 3.5, 1.2
    scaled = 2.5 / math.log(10) * np.arcsinh((flux - offset) / (2 * soften))
    linear = load_image(write(tmp_path / "linear.fits", flux))
    stack = load_image(write(tmp_path / "stack.fits", scaled, BSOFTEN=soften, BOFFSET=offset))
    unconverted = load_image(write(tmp_path / "plain.fits", scaled))
    assert np.abs(stack.astype(int) - linear).max() <= 1
    assert np.abs(unconverted.astype(int) - linear).max() > 20


def test_linear_flux_leaves_other_images_alone() -> None:
    data = np.arange(6.0).reshape(2, 3)
    assert linear_flux(fits.Header({"BSOFTEN": 1.0}), data) is data


def test_band_names_and_wavelengths() -> None:
    assert band_names(fits.Header({"BAND0": "g", "BAND1": "r", "BAND2": "z"}), 3) == ["g", "r", "z"]
    assert band_names(fits.Header({"BANDS": "griz"}), 3) is None
    assert band_names(fits.Header(), 3) is None
    assert wavelength_nm("G") == wavelength_nm("g") < wavelength_nm("r") < wavelength_nm("W1")
    assert wavelength_nm("F814W") is None
    # HSC's newer r and i filters; Johnson R and WISE W2 keep their own wavelengths
    assert wavelength_nm("HSC-R2") == wavelength_nm("r") and wavelength_nm("HSC-I2") == 760
    assert wavelength_nm("R") == 658 and wavelength_nm("W2") == 4600
    assert wavelength_nm("HSC-NB921") is None
    assert reddest_first(["HSC-G", "HSC-R2", "HSC-I2"]) == [2, 1, 0]
    assert reddest_first(["W1", "g", "Ks"]) == [0, 2, 1]
    assert reddest_first(["g", "mystery", "r"]) is None


#: Spots of a 4-band cube: the 3 of :data:`SPOTS`, then band 3's at the top right.
SPOTS4 = (*SPOTS, (6, 18))


def four_band_cube() -> np.ndarray:
    """``(4, SIDE, SIDE)`` cube whose band b is a point source at ``SPOTS4[b]``."""
    return marked_cube(SPOTS4)


def band_of_each_channel(image: np.ndarray) -> list[int]:
    """Which of the 4 stored bands each channel of a loaded image shows."""
    return stored_band_of_each_channel(image, SPOTS4)


@pytest.mark.parametrize(
    ("names", "bands", "shown"),
    [
        ("griz", "", [2, 1, 0]),          # Legacy Survey DR10: the default g, r, i
        ("griz", "gri", [2, 1, 0]),       # the starter's bands
        ("griz", "grz", [3, 1, 0]),       # a model of DECaLS grz images
        ("zirg", "", [1, 2, 3]),          # stored reddest first: still i, r, g
        ("griz", "g, r, z", [3, 1, 0]),
    ],
)
def test_the_models_bands_are_taken_from_a_cube_of_more(
    tmp_path: Path, names: str, bands: str, shown: list[int]
) -> None:
    path = write(tmp_path / "cube.fits", four_band_cube(), BANDS=names)
    assert band_of_each_channel(load_image(path, bands)) == shown


def test_bands_are_matched_by_wavelength_too(tmp_path: Path) -> None:
    names = {f"BAND{i}": f"DES-{band}" for i, band in enumerate("GRIZ")}
    path = write(tmp_path / "des.fits", four_band_cube(), **names)
    assert band_of_each_channel(load_image(path, "gri")) == [2, 1, 0]
    assert pick_bands(["G", "R", "I", "Z"], split_bands("gri")) == [0, 1, 2]
    assert pick_bands(["B", "V", "R", "I"], split_bands("gri")) is None  # Johnson's: no g
    assert pick_bands(["u", "g", "HSC-R2", "i"], split_bands("gri")) == [1, 2, 3]


@pytest.mark.parametrize(
    ("keywords", "said"),
    [({"BANDS": "ugrz"}, r"4 bands: u, g, r, z \(cube of shape \(4, 24, 24\)\); .*\(g, r, i\)"),
     ({}, r"4 bands not named in its header \(BAND0...\)")],
    ids=["without-i", "unnamed"],
)
def test_a_cube_without_the_bands_names_what_it_has(tmp_path: Path, keywords: dict,
                                                    said: str) -> None:
    with pytest.raises(ImageError, match=said):
        load_image(write(tmp_path / "cube.fits", four_band_cube(), **keywords))


def test_training_and_prediction_read_the_models_bands(tmp_path: Path) -> None:
    path = write(tmp_path / "cube.fits", four_band_cube(), BANDS="griz")
    frame = pd.DataFrame({"id_str": ["a"], "file_loc": [str(path)]})
    for bands, shown in (("grz", [3, 1, 0]), ("", [2, 1, 0])):
        config = ImageConfig(size=24, crop_fraction=(1.0, 1.0), bands=bands)
        item = predict_dataset(frame, config, finish_on_device=True)[0]["image"]
        assert band_of_each_channel(item.permute(1, 2, 0).numpy()) == shown
        cached = GalaxyDataset(frame, None, channels=3, cache=True, bands=bands)
        assert band_of_each_channel(cached[0]["image"].permute(1, 2, 0).numpy()) == shown


@pytest.mark.parametrize(
    ("keywords", "scale"),
    [
        ({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CD1_1": -0.262 / 3600, "CD1_2": 0.0,
          "CD2_1": 0.0, "CD2_2": 0.262 / 3600}, 0.262),  # Legacy Survey cutout
        ({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CDELT1": -0.396 / 3600,
          "CDELT2": 0.396 / 3600}, 0.396),
        ({"PIXSCALE": 0.168}, 0.168),
        ({"BANDS": "grz"}, None),
    ],
)
def test_pixel_scale_of_a_header(tmp_path: Path, keywords: dict, scale: float | None) -> None:
    path = tmp_path / "cutout.fits"
    fits.HDUList([fits.PrimaryHDU(),
                  fits.ImageHDU(marked_cube().astype(np.float32),
                                header=fits.Header(keywords))]).writeto(path)
    found = file_pixel_scale(path)
    assert found == (None if scale is None else pytest.approx(scale))
    assert pixel_scale(fits.Header(keywords)) == found


def test_pixel_scale_of_a_file_that_is_not_fits(tmp_path: Path) -> None:
    path = tmp_path / "a.fits"
    path.write_text("not FITS")
    assert file_pixel_scale(path) is None
