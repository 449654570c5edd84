"""An astronomer's workflow with one FITS file per band (``J1_{g,r,i}.fits``): a new image
searched for its neighbours, the messages for a missing band file and for band files that
are not FITS, and a folder of band files read as a catalog of galaxies."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from PIL import Image

from galmorph.data.catalog import load_catalog
from galmorph.data.images import load_image
from galmorph.exceptions import CatalogError, ImageError
from galmorph.inference.embed import embed_to_file
from galmorph.inference.embeddings import read_embeddings
from galmorph.inference.new_images import embed_images

SIDE = 24


def write_bands(folder: Path, name: str, bands: str = "gri", seed: int = 0) -> str:
    """One-band FITS files ``folder/name_<band>.fits``; returns the path with braces."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for band in bands:
        data = rng.normal(0, 0.01, (SIDE, SIDE))
        data[10:14, 10:14] += 5.0
        fits.PrimaryHDU(data.astype(np.float32)).writeto(folder / f"{name}_{band}.fits")
    return str(folder / f"{name}_{{{','.join(bands)}}}.fits")


def test_a_new_image_of_band_files_is_embedded(tmp_path: Path, untrained_model: Path) -> None:
    paths = [write_bands(tmp_path / "cutouts", f"J{i}", seed=i) for i in range(3)]
    pd.DataFrame({"id_str": ["J0", "J1", "J2"], "file_loc": paths}).to_csv(
        tmp_path / "catalog.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the untrained model learnt no stretch of FITS
        embed_to_file(tmp_path / "catalog.csv", tmp_path / "emb.parquet", untrained_model,
                      num_workers=0, device="cpu", progress=False, views=1)
        emb = read_embeddings(tmp_path / "emb.parquet")
        np.testing.assert_allclose(embed_images([paths[1]], emb), emb.features[[1]], atol=1e-4)
    (tmp_path / "cutouts" / "J1_i.fits").unlink()
    with pytest.raises(ImageError, match=r"not found: .*J1_\{g,r,i\}\.fits \(no .*J1_i\.fits\)"):
        embed_images([paths[1]], emb)


def test_the_missing_band_file_of_a_galaxy_is_named(tmp_path: Path) -> None:
    paths = [write_bands(tmp_path, name) for name in ("J1", "J2")]
    pd.DataFrame({"id_str": ["J1", "J2"], "file_loc": paths}).to_csv(
        tmp_path / "catalog.csv", index=False)
    (tmp_path / "J2_r.fits").unlink()
    with pytest.raises(CatalogError, match=r"J2_\{g,r,i\}\.fits \(no \S*J2_r\.fits\); fix"):
        load_catalog(tmp_path / "catalog.csv")


def test_band_files_that_are_not_fits_are_named_as_such(tmp_path: Path) -> None:
    for band in "gri":
        Image.new("L", (SIDE, SIDE), 40).save(tmp_path / f"J1_{band}.jpg")
    with pytest.raises(ImageError, match=r"J1_g\.jpg \(band g of .*J1_\{g,r,i\}\.jpg\) is not "
                                         "a FITS file: the files of bands in braces must be"):
        load_image(tmp_path / "J1_{g,r,i}.jpg")


def test_a_folder_of_band_files_is_a_catalog_of_galaxies(tmp_path: Path) -> None:
    write_bands(tmp_path / "cutouts", "J090203.35+590529.9", "irg")
    write_bands(tmp_path / "cutouts" / "rings", "J1", "zrgi")
    Image.new("RGB", (SIDE, SIDE)).save(tmp_path / "cutouts" / "J2_g.jpg")  # a JPEG: its own
    fits.PrimaryHDU(np.ones((SIDE, SIDE))).writeto(tmp_path / "cutouts" / "J3_r.fits")
    frame = load_catalog(tmp_path / "cutouts", check_images=False)
    root = tmp_path / "cutouts"
    assert frame["id_str"].tolist() == ["J090203.35+590529.9", "J2_g", "J3_r", "rings/J1"]
    assert frame["file_loc"].tolist() == [
        f"{root}/J090203.35+590529.9_{{g,r,i}}.fits", f"{root}/J2_g.jpg", f"{root}/J3_r.fits",
        f"{root}/rings/J1_{{g,r,i,z}}.fits"]
    assert frame["folder"].tolist() == ["", "", "", "rings"]
    assert load_image(frame["file_loc"][3]).shape == (SIDE, SIDE, 3)
