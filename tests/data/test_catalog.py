"""Tests of galmorph.data.catalog: reading tables, and loading a good catalog."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from galmorph.data.catalog import load_catalog, read_catalog
from galmorph.data.schemas import get_schema
from galmorph.data.table_files import read_table
from galmorph.exceptions import CatalogError, GalmorphWarning

T01 = get_schema("gz2").question("t01_smooth_or_features").columns
T10_T11 = [
    *get_schema("gz2").question("t10_arms_winding").columns,
    *get_schema("gz2").question("t11_arms_number").columns,
]


# ------------------------------------------------------------------ read_table
@pytest.fixture
def table(demo_catalog: pd.DataFrame) -> pd.DataFrame:
    frame = demo_catalog.head(5)[["id_str", "ra", "dec", "file_loc", *T01]].copy()
    frame["id_str"] = frame["id_str"].astype(object)
    frame["file_loc"] = frame["file_loc"].astype(object)
    return frame


def check_same(read: pd.DataFrame, written: pd.DataFrame) -> None:
    assert list(read.columns) == list(written.columns)
    assert isinstance(read.index, pd.RangeIndex)
    assert read["id_str"].map(type).eq(str).all()
    assert read["id_str"].tolist() == written["id_str"].tolist()
    np.testing.assert_allclose(read["ra"], written["ra"])
    assert read[list(T01)].to_numpy().tolist() == written[list(T01)].to_numpy().tolist()


def test_read_csv_keeps_ids_as_text(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("id_str,file_loc,x\n007,a.jpg,1\n12,b.jpg,2\n")
    assert read_table(path)["id_str"].tolist() == ["007", "12"]


def test_read_csv_gz(tmp_path: Path, table: pd.DataFrame) -> None:
    path = tmp_path / "cat.csv.gz"
    table.to_csv(path, index=False)
    check_same(read_table(path), table)


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
def test_parquet_round_trip(tmp_path: Path, table: pd.DataFrame, suffix: str) -> None:
    path = tmp_path / f"cat{suffix}"
    table.to_parquet(path)
    check_same(read_table(path), table)


def test_parquet_with_id_index_gets_id_column_back(tmp_path: Path, table: pd.DataFrame) -> None:
    path = tmp_path / "cat.parquet"
    table.set_index("id_str").to_parquet(path)
    assert read_table(path)["id_str"].tolist() == table["id_str"].tolist()


@pytest.mark.parametrize(
    ("suffix", "fmt"),
    [
        (".fits", "fits"),
        (".fit", "fits"),
        (".xml", "votable"),
        (".vot", "votable"),
        (".ecsv", "ascii.ecsv"),
    ],
)
def test_astropy_round_trip(tmp_path: Path, table: pd.DataFrame, suffix: str, fmt: str) -> None:
    path = tmp_path / f"cat{suffix}"
    Table.from_pandas(table).write(path, format=fmt)
    check_same(read_table(path), table)


def test_fits_gz_text_columns_are_str(tmp_path: Path, table: pd.DataFrame) -> None:
    plain = tmp_path / "cat.fits"
    Table.from_pandas(table).write(plain, format="fits")
    assert Table.read(plain)["id_str"].dtype.kind == "S"  # stored as bytes
    packed = tmp_path / "cat.fits.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    read = read_table(packed)
    check_same(read, table)
    assert read["file_loc"].map(type).eq(str).all()


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "cat.xlsx"
    path.write_text("id_str\n1\n")
    with pytest.raises(CatalogError, match=r"cat\.xlsx.*unknown table format.*\.parquet"):
        read_table(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"nope\.csv does not exist"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(CatalogError, match="is a folder"):
        read_table(tmp_path)


@pytest.mark.parametrize("name", ["bad.fits", "bad.parquet", "bad.xml", "bad.ecsv", "bad.csv.gz"])
def test_corrupt_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x00\x01 this is not a table \xff" * 20)
    with pytest.raises(CatalogError, match=rf"cannot read .*{name}"):
        read_table(path)


# ---------------------------------------------------------------- load_catalog
def test_load_good_catalog(small_catalog: Path, demo_catalog: pd.DataFrame) -> None:
    with pytest.warns(GalmorphWarning) as record:
        cat = load_catalog(small_catalog, "gz2")
    assert len(record) == 1  # one warning for all absent questions
    message = str(record[0].message)
    assert "t10_arms_winding" in message and "t11_arms_number" in message
    assert isinstance(cat.index, pd.RangeIndex) and len(cat) == 8
    assert set(demo_catalog.columns) <= set(cat.columns)  # original columns kept
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in cat["file_loc"])
    assert (cat[T10_T11] == 0).all().all()
    assert (cat[get_schema("gz2").label_cols].dtypes == "int64").all()
    assert cat["id_str"].tolist() == demo_catalog["id_str"].head(8).tolist()


def test_problems_name_the_columns_as_the_file_does(tmp_path: Path, table: pd.DataFrame) -> None:
    frame = table.rename(columns={"id_str": "objid", "file_loc": "cutout"})
    frame.loc[1, "objid"] = frame.loc[0, "objid"]
    frame.loc[2, "cutout"] = None
    frame.loc[3, "cutout"] = "https://x.org/a.jpg"
    path = tmp_path / "named.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(CatalogError) as caught:
        load_catalog(read_catalog(path, id_column="objid", file_column="cutout"))
    message = str(caught.value)
    assert "objid must be unique" in message and "column 'cutout' is empty" in message
    assert "cutout holds web addresses" in message
    assert "id_str" not in message and "file_loc" not in message
