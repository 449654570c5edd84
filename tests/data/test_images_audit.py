"""load_image on a survey user's own cutouts: FITS orientation and damaged files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from galmorph.data.images import asinh_stretch, load_image
from galmorph.exceptions import ImageError


def marked(height: int = 16, width: int = 12) -> np.ndarray:
    """A gradient, brightest in the first stored row's left half."""
    data = np.tile(np.linspace(0, 1, width), (height, 1)) * 0.1
    data[0, : width // 2] = 10.0
    return data


def test_fits_first_stored_row_is_the_bottom(tmp_path: Path) -> None:
    data = marked()
    path = tmp_path / "cutout.fits"
    fits.PrimaryHDU(data.astype(np.float32)).writeto(path)
    image = load_image(path)[..., 0]
    assert (image[-1, :6] == 255).all() and (image[0, :6] < 255).all()


def test_fits_cube_matches_the_png_of_its_display(tmp_path: Path) -> None:
    """A 3-band FITS cube and the 8-bit PNG a viewer makes of it (row 0 at the bottom,
    reddest band red) are read the same way up, with the same colours."""
    cube = np.stack([marked() * (b + 1) for b in range(3)]).astype(np.float32)
    cube[1, 5, 2] = 20.0  # a mark in r only, off the mirror axis
    path = tmp_path / "grz.fits"
    fits.PrimaryHDU(cube, header=fits.Header({"BANDS": "grz"})).writeto(path)
    shown = asinh_stretch(np.moveaxis(cube[::-1], 0, -1)[::-1])  # z, r, g; rows flipped
    Image.fromarray(shown).save(tmp_path / "grz.png")
    assert (load_image(path) == load_image(tmp_path / "grz.png")).all()


def test_truncated_fits_is_named_truncated_without_astropy_noise(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    whole = tmp_path / "whole.fits"
    fits.PrimaryHDU(np.ones((64, 64), dtype=np.float32)).writeto(whole)
    path = tmp_path / "cut.fits"
    path.write_bytes(whole.read_bytes()[:10000])
    with pytest.raises(ImageError, match=r"cut\.fits is truncated") as caught:
        load_image(path)
    assert "reshape" not in str(caught.value)
    assert "WARNING" not in "".join(capfd.readouterr())


def test_validate_warns_once_of_colour_images_with_a_blank_band(tmp_path: Path) -> None:
    """A FITS cube whose i band is all NaN (off the footprint) shows no red: one warning
    names such images; whole images and grey ones are not named."""
    import pandas as pd

    from galmorph.data.validation import inspect_catalog

    cube = np.stack([marked() * (b + 1) for b in range(3)]).astype(np.float32)
    paths = []
    for name, nan_band in (("a", 2), ("b", 2), ("c", None)):
        data = cube.copy()
        if nan_band is not None:
            data[nan_band] = np.nan
        paths.append(tmp_path / f"{name}.fits")
        fits.PrimaryHDU(data, header=fits.Header({"BANDS": "gri"})).writeto(paths[-1])
    paths.append(tmp_path / "grey.fits")
    fits.PrimaryHDU(marked().astype(np.float32)).writeto(paths[-1])
    frame = pd.DataFrame({"id_str": ["a", "b", "c", "grey"], "file_loc": list(map(str, paths))})
    _, summary = inspect_catalog(frame, None, "cat", tmp_path, check_images=True, drop=False,
                                 decode_images=True)
    blank = [w for w in summary.warnings if "blank band" in w]
    assert len(blank) == 1 and not summary.errors
    assert "2 colour images have a blank band" in blank[0]
    assert f"{paths[0]} (red blank)" in blank[0] and str(paths[2]) not in blank[0]
    assert "grey.fits" not in blank[0]


def test_cfitsio_extension_syntax_is_explained(tmp_path: Path) -> None:
    import pandas as pd

    from galmorph.data.validation import inspect_catalog

    path = tmp_path / "mef.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(marked().astype(np.float32))]).writeto(path)
    fits.PrimaryHDU(marked().astype(np.float32)).writeto(tmp_path / "plain.fits")
    frame = pd.DataFrame({"id_str": ["a", "b", "c"],
                          "file_loc": ["mef.fits[1]", "gone.fits[1]", "plain.fits"]})
    _, summary = inspect_catalog(frame, None, "cat", tmp_path, check_images=True, drop=False)
    (error,) = summary.errors
    assert "image file missing for 2 of 3 rows" in error
    assert f"{path}[1] names an HDU with CFITSIO's [...] syntax" in error
    frame["file_loc"] = ["gone.fits[1]", "plain.fits", "plain.fits"]
    _, summary = inspect_catalog(frame, None, "cat", tmp_path, check_images=True, drop=False)
    assert "CFITSIO" not in summary.errors[0]  # no such file without [1] either
