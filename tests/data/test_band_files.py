"""One FITS file per band (Pan-STARRS, HSC, Rubin cutouts), given as one path with the
bands in braces: read as the cube of those bands, checked as every file of it, and run
through a model like any other image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from galmorph.data.catalog import load_catalog
from galmorph.data.fits_images import band_files, image_exists
from galmorph.data.images import is_fits, load_image
from galmorph.exceptions import CatalogError, ImageError
from galmorph.inference.predict import predict_catalog

SIDE = 24
SPOTS = ((6, 6), (12, 12), (18, 18), (6, 18))  # band b of "griz" has its source at SPOTS[b]


def plane(band: int, side: int = SIDE) -> np.ndarray:
    data = np.random.default_rng(band).normal(0, 0.01, (side, side))
    row, col = SPOTS[band]
    data[row - 1:row + 2, col - 1:col + 2] += 10.0
    return data.astype(np.float32)


def write_bands(folder: Path, name: str, bands: str = "griz") -> str:
    """``folder/name_<band>.fits`` for each band; returns the path with braces."""
    folder.mkdir(parents=True, exist_ok=True)
    for band in bands:
        fits.PrimaryHDU(plane("griz".index(band))).writeto(folder / f"{name}_{band}.fits")
    return str(folder / f"{name}_{{{','.join(bands)}}}.fits")


def shown(image: np.ndarray) -> list[int]:
    """Which band (by its source) each channel shows; the first stored row is at the bottom."""
    return [int(np.argmax([image[SIDE - 1 - r, c, ch] for r, c in SPOTS]))
            for ch in range(image.shape[-1])]


def test_a_path_with_bands_in_braces_names_one_file_per_band() -> None:
    assert band_files("a/J1_{g, r,i}.fits.fz") == (
        ["g", "r", "i"], [Path("a/J1_g.fits.fz"), Path("a/J1_r.fits.fz"), Path("a/J1_i.fits.fz")])
    assert band_files("a/J1.fits") is None
    assert band_files("a/{x}/J1.fits") is None  # braces without a comma are a name
    assert band_files("a_{g,r}_{i,z}.fits") is None


def test_the_bands_read_as_the_cube_of_them(tmp_path: Path) -> None:
    path = write_bands(tmp_path, "J1", "gri")
    image = load_image(path)
    cube = np.stack([plane(b) for b in range(3)])
    fits.PrimaryHDU(cube).writeto(tmp_path / "cube.fits")
    fits.setval(tmp_path / "cube.fits", "BANDS", value="gri")
    np.testing.assert_array_equal(image, load_image(tmp_path / "cube.fits"))
    assert shown(image) == [2, 1, 0]  # i, r, g: reddest first
    assert image_exists(path) and is_fits(path)


@pytest.mark.parametrize(("bands", "expected"), [("", [2, 1, 0]), ("grz", [3, 1, 0])])
def test_from_more_bands_the_models_are_read(tmp_path: Path, bands: str,
                                             expected: list[int]) -> None:
    assert shown(load_image(write_bands(tmp_path, "J1", "griz"), bands)) == expected


def test_a_missing_or_mismatched_band_file_is_named(tmp_path: Path) -> None:
    path = write_bands(tmp_path, "J1", "gri")
    (tmp_path / "J1_r.fits").unlink()
    assert not image_exists(path)
    with pytest.raises(ImageError, match=r"image file of band r not found: .*J1_r\.fits"):
        load_image(path)
    fits.PrimaryHDU(plane(1, side=32)).writeto(tmp_path / "J1_r.fits")
    with pytest.raises(ImageError, match=r"J1_r\.fits is 32x32 px but .*J1_g\.fits is 24x24"):
        load_image(path)
    with pytest.raises(ImageError, match=r"names 2 bands \(g, r\); galmorph reads 1 or 3"):
        load_image(str(tmp_path / "J1_{g,r}.fits"))


def test_catalogs_check_and_models_read_every_band_file(tmp_path: Path,
                                                        untrained_model: Path) -> None:
    paths = [write_bands(tmp_path / "cutouts", name, "gri") for name in ("J1", "J2", "J3")]
    relative = [str(Path(p).relative_to(tmp_path)) for p in paths]
    frame = pd.DataFrame({"id_str": ["J1", "J2", "J3"], "file_loc": relative})
    frame.to_csv(tmp_path / "catalog.csv", index=False)
    table = predict_catalog(tmp_path / "catalog.csv", untrained_model, num_workers=0,
                            progress=False, views=1, device="cpu")
    assert table["id_str"].tolist() == ["J1", "J2", "J3"]
    assert np.isfinite(table.drop(columns="id_str").to_numpy()).all()
    (tmp_path / "cutouts" / "J2_i.fits").unlink()
    with pytest.raises(CatalogError, match=r"image file missing for 1 of 3 rows.*J2_\{g,r,i\}"):
        load_catalog(tmp_path / "catalog.csv")
