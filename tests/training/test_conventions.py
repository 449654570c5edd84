"""Tests of galmorph.training.conventions: source conventions of new images, the
apparent size of their galaxies and the automatic training crop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galmorph.data import bundled
from galmorph.data.image_config import ImageConfig
from galmorph.data.images import ASINH_STRETCH
from galmorph.training.conventions import auto_crop, galaxy_fill, source_conventions


def test_source_conventions_are_cleared_for_other_images(tmp_path: Path) -> None:
    from PIL import Image

    config = ImageConfig.for_sdss_gz2()
    big = tmp_path / "big.png"
    Image.new("RGB", (424, 424)).save(big)
    same = tmp_path / "same.png"
    Image.new("RGB", (128, 128)).save(same)
    kept = source_conventions(config, same, None)
    assert kept["survey"] == "SDSS DR16" and kept["field_of_view"] == 25.6
    cleared = source_conventions(config, big, {"pixel_scale": 0.262})
    assert cleared == {"survey": "", "bands": "", "pixel_scale": 0.262, "field_of_view": None,
                       "stretch": ""}
    with pytest.raises(ValueError, match="unknown source conventions"):
        source_conventions(config, same, {"arcsec": 1})


def test_fits_images_record_galmorphs_own_stretch(tmp_path: Path) -> None:
    from astropy.io import fits

    image = tmp_path / "galaxy.fits"
    fits.PrimaryHDU(np.random.default_rng(0).random((3, 64, 64), dtype=np.float32)).writeto(image)
    config = ImageConfig.for_sdss_gz2()
    assert source_conventions(config, image, None)["stretch"] == ASINH_STRETCH
    assert source_conventions(config, image, {"stretch": "mine"})["stretch"] == "mine"


def test_galaxy_fill_measures_the_central_object(tmp_path: Path) -> None:
    from PIL import Image, ImageDraw

    paths = []
    for i, radius in enumerate((36, 40, 44)):
        image = Image.new("L", (200, 200), 10)
        draw = ImageDraw.Draw(image)
        draw.ellipse([100 - radius, 100 - radius, 100 + radius, 100 + radius], fill=200)
        draw.ellipse([5, 5, 25, 25], fill=255)  # a star in the corner is not the galaxy
        paths.append(tmp_path / f"disk{i}.png")
        image.save(paths[-1])
    assert galaxy_fill(paths) == pytest.approx(0.4, abs=0.01)
    blank = tmp_path / "blank.png"
    Image.new("L", (50, 50), 10).save(blank)
    assert np.isnan(galaxy_fill([blank]))


def test_auto_crop_zooms_in_on_smaller_galaxies(tmp_path: Path, demo_catalog: pd.DataFrame) -> None:
    from PIL import Image

    config = ImageConfig.for_sdss_gz2()
    padded = []
    for loc in demo_catalog["file_loc"].head(24):
        canvas = Image.new("RGB", (256, 256))
        canvas.paste(Image.open(bundled.demo_dir() / loc), (64, 64))  # galaxies half the size
        padded.append(tmp_path / Path(loc).with_suffix(".png").name)
        canvas.save(padded[-1])
    crop, record = auto_crop(config, padded)
    scale = record["galaxy_fill"] / record["reference_fill"]
    assert 0.4 < scale < 0.65
    assert crop == pytest.approx((0.8 * scale, 0.95 * scale), abs=1e-3)
    same = [bundled.demo_dir() / loc for loc in demo_catalog["file_loc"].head(4)]
    assert auto_crop(config, same) is None  # images of the model's own conventions
    other = ImageConfig.from_dict({**config.to_dict(), "survey": "DECaLS DR5"})
    assert auto_crop(other, padded) is None  # no reference size for other conventions


def test_auto_crop_of_fits_compares_galaxies_under_one_stretch(
    tmp_path: Path, demo_catalog: pd.DataFrame
) -> None:
    """FITS cutouts of the demo galaxies in a field twice as wide need a crop of half the
    side: their sizes are compared with the demo galaxies as galmorph's stretch shows them
    (compared with the JPEGs, the stretch's fainter outskirts asked for 0.6 of the side)."""
    from astropy.io import fits
    from PIL import Image

    rng = np.random.default_rng(0)
    padded = []
    for loc in demo_catalog["file_loc"].head(32):
        jpeg = np.asarray(Image.open(bundled.demo_dir() / loc).convert("RGB")) / 255.0
        flux = np.moveaxis(0.1 * np.sinh(jpeg * np.arcsinh(10.0)), -1, 0)[::-1]  # g, r, i
        sky = np.median(flux[:, :4], axis=(1, 2))[:, None, None]
        cube = sky + rng.normal(0, 0.01, (3, 256, 256))
        cube[:, 64:192, 64:192] = flux
        padded.append(tmp_path / f"{Path(loc).stem}.fits")
        fits.PrimaryHDU((cube * 40 + 3).astype(np.float32),
                        header=fits.Header({"BANDS": "gri"})).writeto(padded[-1])
    config = ImageConfig.from_dict({**ImageConfig.for_sdss_gz2().to_dict(),
                                    "crop_fraction": [1.0, 1.0]})
    crop, record = auto_crop(config, padded)
    assert crop[0] == pytest.approx(0.5, abs=0.06)
