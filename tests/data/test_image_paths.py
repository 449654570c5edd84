"""Catalogs as written on other machines: Windows separators, web addresses, spreadsheet CSVs."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd
import pytest

from galmorph.data.catalog import load_catalog
from galmorph.data.image_paths import resolve_image_paths
from galmorph.exceptions import CatalogError, GalmorphWarning


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """``tmp_path/images/a.jpg`` and ``b.jpg`` (empty files: only their paths matter)."""
    (tmp_path / "images").mkdir()
    for name in ("a.jpg", "b.jpg"):
        (tmp_path / "images" / name).touch()
    return tmp_path


def test_windows_separators_are_read_as_slashes_where_that_names_a_file(images: Path) -> None:
    resolved = resolve_image_paths(
        pd.Series(["images\\a.jpg", "images/b.jpg", "images\\missing.jpg", None, "~/x.jpg"]),
        images)
    assert resolved.paths[:2] == [str(images / "images" / "a.jpg"),
                                  str(images / "images" / "b.jpg")]
    assert resolved.paths[2] == str(images / "images" / "missing.jpg")  # the path to look for
    assert resolved.paths[3:] == ["", os.path.expanduser("~/x.jpg")]
    assert resolved.windows.tolist() == [True, False, False, False, False]


def test_a_windows_catalog_loads_with_a_warning(images: Path) -> None:
    path = images / "catalog.csv"
    pd.DataFrame({"id_str": ["A", "B"], "file_loc": ["images\\a.jpg", "images\\b.jpg"]}
                 ).to_csv(path, index=False)
    with pytest.warns(GalmorphWarning, match=r"Windows separators \(\\\) in 2 rows, read as /"):
        frame = load_catalog(path)
    assert frame["file_loc"].tolist() == [str(images / "images" / n) for n in ("a.jpg", "b.jpg")]


@pytest.mark.parametrize(("locations", "said"), [
    (["https://x.org/a.jpg", "images/b.jpg"],
     ["web addresses in 1 row (row 0 (A): https://x.org/a.jpg)", "download the images first"]),
    (["C:\\Users\\me\\a.jpg", "\\\\server\\b.jpg", "images/b.jpg"],
     ["Windows drive paths in 2 rows (row 0 (A): C:\\Users\\me\\a.jpg",
      "files of another computer"]),
], ids=["web", "windows-drive"])
def test_paths_of_no_file_here_are_one_clear_error(images: Path, locations: list[str],
                                                  said: list[str]) -> None:
    path = images / "catalog.csv"
    pd.DataFrame({"id_str": list("ABC")[:len(locations)], "file_loc": locations}
                 ).to_csv(path, index=False)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert all(words in message for words in said) and "missing" not in message


@pytest.mark.parametrize("separator", [";", "\t"])
def test_spreadsheet_csv_with_semicolons_or_tabs(images: Path, separator: str) -> None:
    path = images / "catalog.csv"
    path.write_text(f"id_str{separator}file_loc{separator}redshift\n"
                    f"A{separator}images/a.jpg{separator}0,05\n")
    frame = load_catalog(path)
    assert frame["id_str"].tolist() == ["A"] and frame["file_loc"][0].endswith("a.jpg")
    # spreadsheets that separate with ";" write decimal commas
    assert frame["redshift"][0] == (0.05 if separator == ";" else "0,05")


def test_trailing_rows_of_empty_cells_are_no_galaxies(images: Path) -> None:
    path = images / "catalog.csv"
    path.write_text("id_str,file_loc\nA,images/a.jpg\n,\nB,images/b.jpg\n,\n,\n")
    with pytest.raises(CatalogError, match=r"'id_str' is empty in 1 row: row 1 "):
        load_catalog(path)  # a blank row among the galaxies is still an error, numbered
    path.write_text("id_str,file_loc\nA,images/a.jpg\nB,images/b.jpg\n,\n,\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_catalog(path)["id_str"].tolist() == ["A", "B"]


def test_a_csv_from_excel_in_windows_1252_is_read_with_a_warning(images: Path) -> None:
    path = images / "catalog.csv"
    path.write_bytes("id_str,file_loc,name\nA,images/a.jpg,Andr\u00e9\n".encode("cp1252"))
    with pytest.warns(GalmorphWarning, match="not UTF-8 text: read as Windows-1252"):
        frame = load_catalog(path)
    assert frame["name"].tolist() == ["Andr\u00e9"]
