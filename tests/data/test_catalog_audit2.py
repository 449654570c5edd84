"""Catalogs as VizieR, TOPCAT and hand-edited files give them: VizieR's units and dash
rows, comment lines among the rows, tab-separated names with commas, upper-case and
masked vote columns in FITS tables, and sexagesimal positions."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.table import MaskedColumn, Table

from galmorph.data.catalog import load_catalog, read_catalog, summarize_catalog
from galmorph.data.schemas import get_schema
from galmorph.data.table_files import read_table
from galmorph.exceptions import CatalogError, GalmorphWarning

#: An SDSS objid: above 2**53, so a float cannot hold it.
OBJID = 1237648720693755918


def test_vizier_units_and_dash_rows_are_not_galaxies(tmp_path: Path, images: list[str]) -> None:
    """VizieR's TSV has a row of units and one of dashes under the header: they were read
    as two galaxies, and every number column as text."""
    lines = ["#", "#   VizieR Astronomical Server", "", "objid\tRA\tDEC\tfile_loc",
             "\tdeg\tdeg\t", "-------------------\t-------\t-------\t--------"]
    lines += [f"{OBJID + i}\t{10.5 + i}\t-3.25\t{path}" for i, path in enumerate(images)]
    path = tmp_path / "vizier.tsv"
    path.write_text("\n".join(lines) + "\n")
    frame = read_table(path)
    assert len(frame) == 3 and frame["RA"].dtype == np.float64
    catalog = load_catalog(read_catalog(path, id_column="objid"), None)
    assert catalog["id_str"].tolist() == [str(OBJID + i) for i in range(3)]
    assert catalog["ra"].tolist() == [10.5, 11.5, 12.5]


def test_comment_lines_among_rows_are_skipped_and_named(tmp_path: Path,
                                                         images: list[str]) -> None:
    """A ``#`` line among the rows was a galaxy with the comment as its id; now it is
    skipped with a warning naming its line, and a quoted ``"#1"`` id stays a galaxy."""
    path = tmp_path / "cat.csv"
    path.write_text(f'id_str,file_loc\n"#1",{images[0]}\n# checked by eye\nb,{images[1]}\n')
    with pytest.warns(GalmorphWarning, match=r"cat.csv: skipped 1 comment line .*\(line 3\)"):
        frame = read_table(path)
    assert frame["id_str"].tolist() == ["#1", "b"]
    # a quoted value over two lines is one row (pandas counts rows, not lines, to skip), and
    # a line of the value that starts with # is no comment
    path.write_text(f'id_str,file_loc,note\na,{images[0]},"two\n# lines"\n# eye\n'
                    f'b,{images[1]},x\n# end\n')
    with pytest.warns(GalmorphWarning, match=r"skipped 2 comment lines .*\(lines 4, 6\)"):
        frame = read_table(path)
    assert frame["id_str"].tolist() == ["a", "b"]
    assert frame["note"].tolist() == ["two\n# lines", "x"]


def test_a_tsv_header_with_a_comma_in_a_name_is_split_at_tabs(tmp_path: Path) -> None:
    path = tmp_path / "cat.tsv"
    path.write_text("id_str\tfile_loc\tz, photometric\na\ta.jpg\t0.1\n")
    assert read_table(path).columns.tolist() == ["id_str", "file_loc", "z, photometric"]


def test_upper_case_vote_columns_of_a_fits_table(tmp_path: Path, images: list[str]) -> None:
    """TOPCAT and FITS write names in upper case: big-endian vote columns named
    ``T01_..._COUNT`` were not found ("none of the vote columns"); a masked count is
    named by the file's column and row."""
    schema = get_schema("gz2")
    question = schema.questions[0]
    table = Table()
    table["ID_STR"] = np.array([b"a", b"b", b"c"])
    table["FILE_LOC"] = np.array([p.encode() for p in images])
    for k, column in enumerate(question.columns):
        table[column.upper()] = np.array([10 + k, 20, 30], dtype=">i4")
    table.write(tmp_path / "votes.fits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GalmorphWarning)  # questions without columns
        catalog = load_catalog(tmp_path / "votes.fits", "gz2")
    assert catalog[question.columns[0]].tolist() == [10, 20, 30]
    assert catalog[question.columns[1]].dtype == np.int64

    first = question.columns[0].upper()
    table[first] = MaskedColumn(table[first], mask=[False, True, False])
    table.write(tmp_path / "masked.fits")
    summary = summarize_catalog(tmp_path / "masked.fits", "gz2")
    (error,) = summary.errors
    assert error.startswith(f"column '{first}' must hold vote counts")
    assert "row 1 (b)" in error
    with pytest.raises(CatalogError, match=first):
        load_catalog(tmp_path / "masked.fits", "gz2")


def test_sexagesimal_positions_are_named_with_advice(tmp_path: Path, images: list[str]) -> None:
    path = tmp_path / "cat.csv"
    path.write_text("id_str,file_loc,ra,dec\n" + "".join(
        f"g{i},{p},12:34:56.7,+01 02 03\n" for i, p in enumerate(images)))
    errors = summarize_catalog(path, None).errors
    assert len(errors) == 2
    assert all("sexagesimal positions are not read: convert them to degrees" in e
               for e in errors)
    assert "row 0 (g0): 12:34:56.7" in errors[0]
    path.write_text("id_str,file_loc,ra\n" + "".join(
        f"g{i},{p},361\n" for i, p in enumerate(images)))
    (error,) = summarize_catalog(path, None).errors
    assert "sexagesimal" not in error


def test_a_file_of_several_tables_reads_the_first_and_says_so(
    tmp_path: Path, images: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A FITS file of several tables printed astropy's own "WARNING: hdu= was not
    specified"; a VOTable of several was refused with advice for astropy's table_id=."""
    from astropy.io import fits
    from astropy.io.votable import from_table, writeto

    table = Table({"id_str": ["a", "b", "c"], "file_loc": images})
    fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(table),
                  fits.table_to_hdu(table[:1])]).writeto(tmp_path / "two.fits")
    votable = from_table(table)
    votable.resources[0].tables.append(from_table(table[:1]).resources[0].tables[0])
    writeto(votable, str(tmp_path / "two.vot"))
    for name in ("two.fits", "two.vot"):
        with pytest.warns(GalmorphWarning, match=rf"{name} holds more than one table: read "
                                                 r"the first \(3 rows\)"):
            assert read_table(tmp_path / name)["id_str"].tolist() == ["a", "b", "c"]
    assert "WARNING" not in capsys.readouterr().err


def test_whole_float_ids_lose_their_decimal_point(tmp_path: Path, images: list[str]) -> None:
    """An id column stored as floats (GAMA's CATAID in a parquet written after a merge)
    gave ids ``6802.0``, matching no other table's ``6802``."""
    frame = pd.DataFrame({"id_str": [6802.0, 12.0, 5.0], "file_loc": images})
    frame.to_parquet(tmp_path / "cat.parquet")
    assert load_catalog(tmp_path / "cat.parquet")["id_str"].tolist() == ["6802", "12", "5"]
    frame["id_str"] = [6802.5, 12.0, 5.0]  # not ids written as floats: left as they are
    frame.to_parquet(tmp_path / "cat.parquet")
    assert load_catalog(tmp_path / "cat.parquet")["id_str"].tolist() == ["6802.5", "12.0", "5.0"]


def test_a_wide_catalog_is_read_as_one_frame_that_takes_more_columns(tmp_path: Path) -> None:
    """A GZ2 catalog has ~250 columns: read_csv left one block per column, so the column
    galmorph adds to number the rows warned 'DataFrame is highly fragmented' in embed."""
    wide = pd.DataFrame({"id_str": ["J1", "J2"],
                         **{f"t01_a{i:03d}_count": [i, i + 1] for i in range(200)}})
    wide.to_csv(tmp_path / "wide.csv", index=False)
    frame = read_table(tmp_path / "wide.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.PerformanceWarning)
        frame = frame.assign(row=np.arange(2))
    assert frame["t01_a199_count"].tolist() == [199, 200]
    assert frame["id_str"].tolist() == ["J1", "J2"]


@pytest.mark.parametrize("name", ["coords.fits", "coords.ecsv"])
def test_tables_with_astropys_sky_coordinates_and_times_are_read(name: str,
                                                                 tmp_path: Path) -> None:
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from astropy.time import Time

    table = Table({"id_str": MaskedColumn([b"a", b"b", b"c"], mask=[False, False, True]),
                   "file_loc": ["a.jpg", "b.jpg", "c.jpg"]})
    table["coord"] = SkyCoord([10.0, 20.0, 30.0] * u.deg, [-1.0, 0.0, 1.0] * u.deg)
    table["observed"] = Time([55000.0, 55001.0, 55002.0], format="mjd")
    table.write(tmp_path / name)
    frame = read_table(tmp_path / name)
    assert list(frame["id_str"][:2]) == ["a", "b"] and pd.isna(frame["id_str"][2])
    assert list(frame["coord.ra"]) == [10.0, 20.0, 30.0]
    assert list(frame["coord.dec"]) == [-1.0, 0.0, 1.0]


def test_csv_ids_are_text_as_written_even_pandas_words_for_missing(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("id_str,file_loc,x\nNA,a.jpg,1\nnan, b.jpg ,NA\n 12 ,c.jpg,\n,d.jpg,2\n")
    frame = read_table(path)
    assert frame["id_str"][:3].tolist() == ["NA", "nan", "12"] and pd.isna(frame["id_str"][3])
    assert frame["file_loc"].tolist() == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    assert pd.isna(frame["x"][1]) and frame["x"][0] == 1.0  # other columns as pandas reads
