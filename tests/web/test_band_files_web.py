"""The web app's pictures of galaxies given as one file per band (``J1_{g,r,i}.fits``)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from PIL import Image

from galmorph.exceptions import ImageError
from galmorph.inference.embed import embed_to_file
from galmorph.web.gallery import Gallery

SIDE = 24


def test_band_files_are_shown_and_band_jpegs_named(tmp_path: Path,
                                                   untrained_model: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("J1", "J2"):
        for band in "gri":
            data = rng.normal(0, 1, (SIDE, SIDE))
            fits.PrimaryHDU(data).writeto(tmp_path / f"{name}_{band}.fits")
            Image.new("L", (SIDE, SIDE), 40).save(tmp_path / f"{name}_{band}.jpg")
    files = [str(tmp_path / f"{name}_{{g,r,i}}.fits") for name in ("J1", "J2")]
    frame = pd.DataFrame({"id_str": ["J1", "J2"], "file_loc": files})
    frame.to_csv(tmp_path / "catalog.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the untrained model learnt no stretch of FITS
        embed_to_file(tmp_path / "catalog.csv", tmp_path / "emb.parquet", untrained_model,
                      num_workers=0, device="cpu", progress=False, views=1)
    frame.loc[1, "file_loc"] = str(tmp_path / "J2_{g,r,i}.jpg")  # JPEGs: one band each
    frame.to_csv(tmp_path / "jpegs.csv", index=False)
    gallery = Gallery(tmp_path / "emb.parquet", catalog=tmp_path / "jpegs.csv")
    content, media = gallery.image("J1")
    assert media == "image/png" and isinstance(content, bytes)
    assert Image.open(io.BytesIO(content)).size == (SIDE, SIDE)
    with pytest.raises(ImageError, match=r"J2_g\.jpg \(band g of .*\) is not a FITS file"):
        gallery.image("J2")
