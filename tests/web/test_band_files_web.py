"""The web app and galaxies given as one file per band (``J1_{g,r,i}.fits``): their
pictures, and searches by such an upload."""

from __future__ import annotations

import base64
import io
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from fastapi.testclient import TestClient
from PIL import Image

from galmorph.data.fits_images import band_files
from galmorph.exceptions import ImageError
from galmorph.inference.embed import embed_to_file
from galmorph.web.app import create_app
from galmorph.web.gallery import Gallery
from galmorph.web.pictures import write_upload

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


@pytest.fixture(scope="module")
def band_site(tmp_path_factory: pytest.TempPathFactory, untrained_model: Path
              ) -> tuple[TestClient, Path]:
    """A web app over 3 galaxies given as one FITS file per band, and their folder."""
    folder = tmp_path_factory.mktemp("band-site")
    rng = np.random.default_rng(1)
    for name in ("J1", "J2", "J3"):
        for band in "gri":
            fits.PrimaryHDU(rng.normal(0, 1, (SIDE, SIDE))).writeto(folder / f"{name}_{band}.fits")
    frame = pd.DataFrame({"id_str": ["J1", "J2", "J3"],
                          "file_loc": [f"{n}_{{g,r,i}}.fits" for n in ("J1", "J2", "J3")]})
    frame.to_csv(folder / "catalog.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the untrained model learnt no stretch of FITS
        embed_to_file(folder / "catalog.csv", folder / "emb.parquet", untrained_model,
                      num_workers=0, device="cpu", progress=False, views=1)
    gallery = Gallery(folder / "emb.parquet", model=untrained_model)
    return TestClient(create_app(gallery, max_upload=40_000),
                      raise_server_exceptions=False), folder


def _band_upload(folder: Path, name: str, bands: str = "rgi") -> list[tuple[str, Any]]:
    return [("file", (f"{name}_{band}.fits", (folder / f"{name}_{band}.fits").read_bytes()))
            for band in bands]


def test_one_fits_file_per_band_uploads_as_one_galaxy(band_site: tuple[TestClient, Path]
                                                      ) -> None:
    client, folder = band_site
    answer = client.post("/api/similar-image", files=_band_upload(folder, "J2"),
                         data={"k": "2"})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["query"]["id"] == "J2_r.fits, J2_g.fits, J2_i.fits"
    assert data["neighbours"][0]["id"] == "J2" and data["neighbours"][0]["distance"] < 1e-4
    prefix = "data:image/png;base64,"  # a browser cannot draw FITS: the server's picture
    assert data["query"]["preview"].startswith(prefix)
    picture = Image.open(io.BytesIO(base64.b64decode(data["query"]["preview"][len(prefix):])))
    assert picture.size == (SIDE, SIDE) and picture.mode == "RGB"
    notes = " ".join(data["query"]["notes"])  # as the command line warns, in the user's names
    assert "J2_r.fits, J2_g.fits, J2_i.fits is FITS, which galmorph stretches itself" in notes
    assert str(Path(tempfile.gettempdir())) not in notes and "upload" not in notes
    one = client.post("/api/similar-image", files=_band_upload(folder, "J3", "g"),
                      data={"k": "1"}).json()  # one band: grey, still FITS
    assert one["query"]["id"] == "J3_g.fits" and one["query"]["preview"].startswith(prefix)


def test_band_upload_errors_name_the_files(band_site: tuple[TestClient, Path]) -> None:
    client, folder = band_site
    files = _band_upload(folder, "J1")
    files[0] = ("file", ("J1_r.fits", b"\xff\xd8\xff\xe0 a JPEG"))
    answer = client.post("/api/similar-image", files=files)
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith(
        "J1_r.fits (band r of J1_{g,r,i}.fits) is not a FITS file")  # no server folder
    files = _band_upload(folder, "J1") + _band_upload(folder, "J2") + _band_upload(folder, "J3")
    answer = client.post("/api/similar-image", files=files[:5])  # 5 x 8.6 kB
    assert answer.status_code == 413 and "images are larger than" in answer.json()["detail"]


@pytest.mark.parametrize(("names", "message"), [
    (["a_g.fits", "b_r.fits"], "a_g.fits, b_r.fits are not one galaxy's bands"),
    (["a_g.fits", "a_r.fits.gz"], "are not one galaxy's bands"),
    (["a_g.fits", "a.jpg"], "several files must be FITS files, one per band"),
    (["a_g.fits", "x/a_g.fits"], "a_g.fits, a_g.fits: a file is given twice"),
    (["a{1,2}_g.fits", "a{1,2}_r.fits"], "without braces or commas"),
    (["notes.txt"], "'notes.txt' is not a jpg, png or FITS file"),
    ([], "no file was uploaded"),
])
def test_uploads_that_are_not_one_galaxy_are_refused(tmp_path: Path, names: list[str],
                                                     message: str) -> None:
    with pytest.raises(ImageError, match=re.escape(message)):
        write_upload([(name, b"SIMPLE  =") for name in names], tmp_path)
    assert not list(tmp_path.iterdir())  # nothing written


def test_uploads_are_written_under_names_that_read_as_one_image(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    one = write_upload([("C:\\data\\mine.FITS.gz", b"x")], tmp_path / "one")
    assert one == tmp_path / "one" / "upload.fits.gz" and one.read_bytes() == b"x"
    bands = write_upload([("m-z.fits", b"z"), ("m-g.fits", b"g"), ("m-r.fits", b"r")],
                         tmp_path)
    assert bands == tmp_path / "m-{g,r,z}.fits"
    assert [p.read_bytes() for p in band_files(bands)[1]] == [b"g", b"r", b"z"]
