"""Adapting to another survey whose cutouts have the model's side in pixels but another
pixel scale: given (``--pixel-scale``) or in a FITS image's WCS header."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from galmorph.cli.adapt import _crop_text
from galmorph.data import bundled
from galmorph.data.image_config import ImageConfig
from galmorph.data.images import ASINH_STRETCH
from galmorph.training.adapt import choose_crop
from galmorph.training.conventions import auto_crop, same_conventions, source_conventions

SDSS = ImageConfig.for_sdss_gz2()


def wcs_cutout(path: Path, arcsec_per_pixel: float, side: int = 128) -> Path:
    """A ``side``-px grz FITS cube with a TAN WCS of ``arcsec_per_pixel``."""
    y, x = np.mgrid[:side, :side]
    blob = np.exp(-((x - side / 2) ** 2 + (y - side / 2) ** 2) / 50.0)
    noise = np.random.default_rng(0).normal(0, 0.01, (3, side, side))
    header = fits.Header({"BANDS": "grz", "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN",
                          "CRVAL1": 150.0, "CRVAL2": 2.0, "CRPIX1": side / 2,
                          "CRPIX2": side / 2, "CD1_1": -arcsec_per_pixel / 3600,
                          "CD1_2": 0.0, "CD2_1": 0.0, "CD2_2": arcsec_per_pixel / 3600})
    fits.PrimaryHDU((blob + noise).astype(np.float32), header=header).writeto(path)
    return path


def demo_images(demo_catalog: pd.DataFrame, n: int = 8) -> list[Path]:
    return [bundled.demo_dir() / loc for loc in demo_catalog["file_loc"].head(n)]


def test_a_given_pixel_scale_is_not_recorded_beside_the_models_survey(
    demo_catalog: pd.DataFrame,
) -> None:
    """128 px DECaLS cutouts (0.262"/px) are not GZ2 SDSS cutouts: the SDSS survey,
    bands, field and stretch are not kept beside the pixel scale given."""
    image = demo_images(demo_catalog, 1)[0]
    recorded = source_conventions(SDSS, image, {"pixel_scale": 0.262, "survey": "DECaLS"})
    assert recorded == {"survey": "DECaLS", "bands": "", "pixel_scale": 0.262,
                        "field_of_view": None, "stretch": ""}
    assert source_conventions(SDSS, image, {"pixel_scale": 0.2})["survey"] == "SDSS DR16"


def test_a_given_pixel_scale_makes_the_crop_measured(demo_catalog: pd.DataFrame) -> None:
    images = demo_images(demo_catalog)
    assert auto_crop(SDSS, images) is None
    assert auto_crop(SDSS, images, {"pixel_scale": 0.262}) is not None
    _, choice = choose_crop(SDSS, [str(p) for p in images], None, {"pixel_scale": 0.262})
    assert choice["crop_reason"] == "measured"


@pytest.mark.parametrize(("scale", "same"), [(0.262, False), (0.2, True)])
def test_a_fits_headers_pixel_scale_is_read(tmp_path: Path, scale: float, same: bool) -> None:
    path = wcs_cutout(tmp_path / "cutout.fits", scale)
    assert same_conventions(SDSS, path) is same
    recorded = source_conventions(SDSS, path, None)
    assert recorded["pixel_scale"] == scale and recorded["stretch"] == ASINH_STRETCH
    assert recorded["survey"] == ("SDSS DR16" if same else "")
    assert source_conventions(SDSS, path, {"pixel_scale": 0.5})["pixel_scale"] == 0.5


def test_a_crop_capped_at_the_whole_image_does_not_claim_the_learnt_size() -> None:
    record = {"crop_fraction": [1.0, 1.0], "galaxy_fill": 0.84, "reference_fill": 0.64,
              "crop_reason": "measured"}
    text = _crop_text(record)
    assert "cannot make them smaller" in text and "appear at the size it learnt" not in text
    smaller = {**record, "crop_fraction": [0.6, 0.7], "galaxy_fill": 0.42}
    assert "now appear at the size it learnt" in _crop_text(smaller)
