"""A folder of cutouts read as a catalog (galmorph.data.image_folder)."""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import pytest

from galmorph.data.bundled import demo_dir
from galmorph.data.catalog import load_catalog, read_catalog, summarize_catalog
from galmorph.data.image_folder import iau_coordinates, image_folder_catalog
from galmorph.exceptions import CatalogError, GalmorphWarning

DEMO_IMAGES = sorted((demo_dir() / "images").iterdir())


@pytest.fixture
def cutouts(tmp_path: Path) -> Path:
    """Three bundled JPEGs: two in the folder, one in ``spirals/``, beside a hidden file,
    a notes file and a hidden folder of images."""
    folder = tmp_path / "my cutouts"
    (folder / "spirals").mkdir(parents=True)
    (folder / ".thumbnails").mkdir()
    for image, where in zip(DEMO_IMAGES[:3], ["", "", "spirals"], strict=True):
        shutil.copy(image, folder / where / image.name)
    shutil.copy(DEMO_IMAGES[3], folder / ".thumbnails" / DEMO_IMAGES[3].name)
    (folder / ".DS_Store").write_bytes(b"\0")
    (folder / "notes.txt").write_text("observed in 2004")
    return folder


def test_a_folder_of_cutouts_is_a_catalog_with_their_coordinates(cutouts: Path) -> None:
    frame = image_folder_catalog(cutouts)
    names = [p.stem for p in DEMO_IMAGES[:3]]
    assert frame["id_str"].tolist() == [names[0], names[1], f"spirals/{names[2]}"]
    assert frame["file_loc"].tolist() == [str(cutouts / f"{i}.jpg")
                                          for i in frame["id_str"]]
    # J000314.90-000217.7: 0h03m14.90s = 0.812083 deg; -0d02m17.7s = -0.03825 deg
    assert frame.loc[0, "id_str"] == "J000314.90-000217.7"
    assert frame.loc[0, "ra"] == pytest.approx(0.8120833) and frame.loc[0, "dec"] == -0.03825
    assert frame.attrs["source"] == str(cutouts)
    assert frame["folder"].tolist() == ["", "", "spirals"]  # labels, where sorted into folders


def test_the_commands_read_it_as_they_read_a_table(cutouts: Path) -> None:
    checked = load_catalog(cutouts)  # image files checked as for a catalog file
    assert len(checked) == 3 and checked["dec"].between(-90, 90).all()
    assert read_catalog(cutouts).attrs["source"] == str(cutouts)
    summary = summarize_catalog(cutouts, None)
    assert summary.usable and summary.n_images_found == 3


def test_names_without_coordinates_give_none(cutouts: Path) -> None:
    shutil.copy(DEMO_IMAGES[4], cutouts / "NGC 1300.JPEG")
    frame = image_folder_catalog(cutouts)
    assert "NGC 1300" in frame["id_str"].tolist()
    assert "ra" not in frame and "dec" not in frame


@pytest.mark.parametrize(("name", "expected"), [
    ("J235959.99+895959.9", (359.9999583, 89.9999722)),
    ("SDSS J090203.35-590529.9", (135.5139583, -59.0916389)),
    ("J2400000.0+000000.0", None),  # 24 h: not a name of a place in the sky
    ("J0902+59", None),
])
def test_iau_names(name: str, expected: tuple[float, float] | None) -> None:
    found = iau_coordinates(name)
    assert found == (None if expected is None else pytest.approx(expected))


def test_two_images_of_one_galaxy_are_refused(cutouts: Path) -> None:
    (cutouts / f"{DEMO_IMAGES[0].stem}.fits").write_bytes(b"SIMPLE  =")
    with pytest.raises(CatalogError, match=rf"{DEMO_IMAGES[0].stem}\.fits and "
                       rf"{DEMO_IMAGES[0].name} would both be galaxy '{DEMO_IMAGES[0].stem}': "
                       "keep one image of each galaxy"):
        image_folder_catalog(cutouts)


def test_a_folder_holding_its_catalog_is_refused(cutouts: Path) -> None:
    """As galmorph demo-data and cutouts write them: catalog.csv beside the images, whose
    paths would have become the galaxies' ids."""
    (cutouts / "sources.csv").write_text("file,url\n")
    (cutouts / "catalog.csv").write_text("id_str,file_loc\n")
    with pytest.raises(CatalogError, match=re.escape(
            f"{cutouts} holds a catalog beside its images (catalog.csv, sources.csv): give the "
            f"file, {cutouts / 'catalog.csv'}, to use its ids and columns; to read every image "
            "in the folder as a galaxy instead (its path as its id), move it out")):
        load_catalog(cutouts)
    (cutouts / "catalog.csv").unlink()  # another table: perhaps not a list of the images
    with pytest.warns(GalmorphWarning, match=r"holds table files beside its images "
                      r"\(sources.csv\): each image is read as a galaxy"):
        assert len(image_folder_catalog(cutouts)) == 3
    (cutouts / "sources.csv").unlink()
    (cutouts / "spirals" / "list.csv").write_text("id_str\n")  # in a subfolder: not looked for
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(image_folder_catalog(cutouts)) == 3


def test_a_folder_without_images_says_so(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(CatalogError, match="holds no catalog file and no images"):
        read_catalog(tmp_path)
