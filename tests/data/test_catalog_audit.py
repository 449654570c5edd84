"""Catalogs and cutouts as astronomers have them: spreadsheet CSVs, FITS tables with
upper-case names and int64 ids, parquet from other tools, misnamed and compressed FITS."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.table import Table

from galmorph.data.bundled import demo_dir
from galmorph.data.catalog import load_catalog, read_catalog
from galmorph.data.image_folder import image_folder_catalog
from galmorph.data.images import load_image
from galmorph.data.table_files import read_table
from galmorph.exceptions import CatalogError, GalmorphWarning

#: An SDSS objid: above 2**53, so a float cannot hold it (it reads back as ...5920).
OBJID = 1237648720693755918
DEMO_IMAGES = sorted((demo_dir() / "images").iterdir())


def csv_text(rows: list[list[object]], separator: str = ",") -> str:
    return "".join(separator.join(map(str, row)) + "\n" for row in rows)


# ------------------------------------------------------------------ spreadsheet CSVs
def test_comment_lines_after_a_byte_order_mark(tmp_path: Path, images: list[str]) -> None:
    path = tmp_path / "cat.csv"
    text = "# exported from TOPCAT\n" + csv_text([["id_str", "file_loc"], ["a", images[0]]])
    path.write_text(text, encoding="utf-8-sig")
    frame = read_table(path)
    assert frame.columns.tolist() == ["id_str", "file_loc"]
    assert frame["id_str"].tolist() == ["a"]


def test_excel_separator_line(tmp_path: Path, images: list[str]) -> None:
    path = tmp_path / "cat.csv"
    path.write_text("sep=;\n" + csv_text([["id_str", "file_loc", "ra"],
                                          ["a", images[0], "1,5"]], ";"))
    frame = read_table(path)
    assert frame.columns.tolist() == ["id_str", "file_loc", "ra"]
    assert frame["ra"].tolist() == [1.5]


def test_utf16_csv_as_windows_powershell_writes_it(tmp_path: Path, images: list[str]) -> None:
    path = tmp_path / "cat.csv"
    path.write_text(csv_text([["id_str", "file_loc"], ["Galaxie é", images[0]]], "\t"),
                    encoding="utf-16")
    assert read_table(path).to_dict("list") == {"id_str": ["Galaxie é"],
                                                "file_loc": [images[0]]}


def test_spaces_after_separators_and_around_names(tmp_path: Path, images: list[str]) -> None:
    path = tmp_path / "cat.csv"
    path.write_text(csv_text([["id_str", " file_loc ", "ra"], ["a", images[0], 10.5]], ", "))
    frame = load_catalog(path)
    assert frame.columns.tolist() == ["id_str", "file_loc", "ra"]
    assert frame["file_loc"].tolist() == [str(tmp_path / images[0])]


def test_named_id_column_keeps_leading_zeros(tmp_path: Path, images: list[str]) -> None:
    path = tmp_path / "cat.csv"
    path.write_text(csv_text([["name", "file_loc"], ["007", images[0]], ["012", images[1]]]))
    frame = load_catalog(read_catalog(path, id_column="name"))
    assert frame["id_str"].tolist() == ["007", "012"]


def test_int64_ids_beside_a_blank_stay_exact(tmp_path: Path, images: list[str]) -> None:
    path = tmp_path / "cat.csv"
    path.write_text(csv_text([["objid", "file_loc"], [OBJID, images[0]],
                              [OBJID + 1, images[1]], ["", images[2]]]))
    with pytest.raises(CatalogError) as caught:
        load_catalog(read_catalog(path, id_column="objid"))
    # the blank row, and no repeated ids made by rounding to a float
    assert str(caught.value) == f"{path}: column 'objid' is empty in 1 row: row 2 (no id)"
    assert read_catalog(path, id_column="objid")["id_str"].tolist()[:2] == [
        str(OBJID), str(OBJID + 1)]


def test_ids_rounded_in_exponent_form_are_pointed_out(tmp_path: Path, images: list[str]) -> None:
    path = tmp_path / "cat.csv"  # Excel shows and saves an objid so
    path.write_text(csv_text([["objid", "file_loc"], ["1.23765E+18", images[0]],
                              ["J0902", images[1]]]))
    with pytest.warns(GalmorphWarning, match=r"objid holds numbers in exponent form.* in 1 "
                                             r"row \(row 0 \(1\.23765E\+18\)\)"):
        load_catalog(read_catalog(path, id_column="objid"))


def test_parquet_from_other_tools_keeps_int64_ids_with_nulls(tmp_path: Path) -> None:
    path = tmp_path / "cat.parquet"  # as Spark, DuckDB or polars write it: no pandas metadata
    pq.write_table(pa.table({"objid": pa.array([OBJID, None, OBJID + 2], pa.int64())}), path)
    assert read_table(path)["objid"].tolist() == [OBJID, pd.NA, OBJID + 2]


# ------------------------------------------------------------------ FITS tables
def test_upper_case_column_names(tmp_path: Path, images: list[str]) -> None:
    path = tmp_path / "cat.fits"
    Table({"ID_STR": ["a", "b"], "FILE_LOC": images[:2], "RA": [10.0, 400.0],
           "DEC": [1.0, 2.0]}).write(path)
    with pytest.raises(CatalogError, match=r"column 'ra' must hold degrees.*row 1 \(b\)"):
        load_catalog(read_catalog(path))
    Table({"ID_STR": ["a"], "FILE_LOC": images[:1]}).write(path, overwrite=True)
    assert load_catalog(path)["id_str"].tolist() == ["a"]
    with pytest.raises(CatalogError, match="column 'FILE_LOC' is empty"):
        load_catalog(read_catalog(path).assign(file_loc=[""]))


def test_named_columns_match_in_any_case(tmp_path: Path, images: list[str]) -> None:
    path = tmp_path / "cat.fits"
    Table({"OBJID": np.array([OBJID, OBJID + 1]), "CUTOUT": images[:2]}).write(path)
    frame = load_catalog(read_catalog(path, id_column="objid", file_column="cutout"))
    assert frame["id_str"].tolist() == [str(OBJID), str(OBJID + 1)]


def test_positions_held_as_text_become_numbers(tmp_path: Path, images: list[str]) -> None:
    path = tmp_path / "cat.fits"
    Table({"id_str": ["a", "b"], "file_loc": images[:2], "ra": ["10.5", " "]}).write(path)
    frame = load_catalog(path)
    assert frame["ra"].dtype == np.float64
    assert frame["ra"].iloc[0] == 10.5 and np.isnan(frame["ra"].iloc[1])


def test_an_image_given_as_catalog_says_what_to_give(tmp_path: Path) -> None:
    fits.writeto(tmp_path / "galaxy.fits", np.ones((16, 16), np.float32))
    shutil.copy(DEMO_IMAGES[0], tmp_path / "galaxy.jpg")
    for name in ("galaxy.fits", "galaxy.jpg"):
        with pytest.raises(CatalogError, match=f"if {name} is an image, give the folder"):
            read_table(tmp_path / name)


# ------------------------------------------------------------------ image paths
def test_file_addresses_are_paths(tmp_path: Path, images: list[str]) -> None:
    address = (tmp_path / images[0]).as_uri()
    frame = load_catalog(pd.DataFrame({"id_str": ["a"], "file_loc": [address]}))
    assert frame["file_loc"].tolist() == [str(tmp_path / images[0])]


def test_paths_from_the_working_folder_are_pointed_out(
    tmp_path: Path, images: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tables").mkdir()
    path = tmp_path / "tables" / "cat.csv"
    path.write_text(csv_text([["id_str", "file_loc"], ["a", images[0]]]))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CatalogError, match=f"there from the working folder {tmp_path}"):
        load_catalog(path)


# ------------------------------------------------------------------ images
def test_tile_compressed_fits_in_a_folder_is_named_without_fits(tmp_path: Path) -> None:
    data = np.random.default_rng(0).normal(size=(3, 32, 32)).astype(np.float32)
    stem = DEMO_IMAGES[0].stem
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data)]).writeto(
        tmp_path / f"{stem}.fits.fz")
    frame = image_folder_catalog(tmp_path)
    assert frame["id_str"].tolist() == [stem]
    assert "ra" in frame


def test_fits_saved_with_a_jpeg_name_is_read_as_fits(tmp_path: Path) -> None:
    data = np.arange(32 * 32, dtype=np.float32).reshape(32, 32)
    fits.writeto(tmp_path / "cutout.jpg", data)
    image = load_image(tmp_path / "cutout.jpg")
    # stretched as FITS data (a JPEG decoder would fail); which row is on top is
    # tests/data/test_images.py's concern
    corners = {int(image[row, col, 0]) for row in (0, -1) for col in (0, -1)}
    assert image.shape == (32, 32, 1) and {0, 255} <= corners


def test_linked_subfolders_are_read_once(tmp_path: Path) -> None:
    (tmp_path / "survey").mkdir()
    shutil.copy(DEMO_IMAGES[0], tmp_path / "survey" / DEMO_IMAGES[0].name)
    (tmp_path / "cutouts").mkdir()
    shutil.copy(DEMO_IMAGES[1], tmp_path / "cutouts" / DEMO_IMAGES[1].name)
    (tmp_path / "cutouts" / "rings").symlink_to(tmp_path / "survey")
    (tmp_path / "survey" / "back").symlink_to(tmp_path / "cutouts")  # a loop
    frame = image_folder_catalog(tmp_path / "cutouts")
    assert frame["id_str"].tolist() == [DEMO_IMAGES[1].stem, f"rings/{DEMO_IMAGES[0].stem}"]


def test_tab_separated_files_named_tsv_are_read(tmp_path: Path) -> None:
    """Before: 'unknown table format' for .tsv, which the CSV reader reads."""
    path = tmp_path / "cat.tsv"
    path.write_text("id_str\tfile_loc\tra\n007\ta.jpg\t10.5\n")
    frame = read_table(path)
    assert frame.to_dict("list") == {"id_str": ["007"], "file_loc": ["a.jpg"], "ra": [10.5]}
