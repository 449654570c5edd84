"""``keep_columns`` (``predict --keep-columns ra,dec``): catalog columns copied into the
predictions after ``id_str``, on the right galaxies, in every path; the predictions
themselves unchanged."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from galmorph.cli import main
from galmorph.exceptions import CatalogError, GalmorphError, GalmorphWarning
from galmorph.inference.predict import predict_catalog, predict_to_file
from galmorph.models.checkpoint import LoadedModel

FAST = {"num_workers": 0, "progress": False, "views": 1, "batch_size": 5}


def test_kept_columns_follow_the_id_and_change_nothing_else(
    catalog: pd.DataFrame, loaded: LoadedModel
) -> None:
    kept = predict_catalog(catalog, loaded, keep_columns=("dec", "ra"), **FAST)
    plain = predict_catalog(catalog, loaded, **FAST)
    assert list(kept.columns[:3]) == ["id_str", "dec", "ra"]
    assert kept["ra"].tolist() == catalog["ra"].tolist()
    pd.testing.assert_frame_equal(kept.drop(columns=["ra", "dec"]), plain)
    one = predict_catalog(catalog, loaded, keep_columns="ra", **FAST)  # a name, not letters
    assert list(one.columns[:2]) == ["id_str", "ra"]


def test_a_batch_size_below_1_is_named(catalog: pd.DataFrame, loaded: LoadedModel) -> None:
    with pytest.raises(ValueError, match="batch_size must be a whole number of at least 1, "
                                         "got 0"):  # not an error from inside torch
        predict_catalog(catalog, loaded, **{**FAST, "batch_size": 0})


def test_kept_columns_stay_on_their_galaxies_when_some_are_left_out(
    tmp_path: Path, catalog: pd.DataFrame, loaded: LoadedModel
) -> None:
    frame = catalog.copy()
    (tmp_path / "images").mkdir()
    frame["file_loc"] = [str(shutil.copyfile(p, tmp_path / "images" / Path(p).name))
                         for p in frame["file_loc"]]
    Path(frame["file_loc"].iloc[2]).write_bytes(b"")
    with pytest.warns(GalmorphWarning, match="left out 1 of 12"):
        written = predict_to_file(frame, tmp_path / "p.parquet", loaded, chunk_size=5,
                                  keep_columns=("ra",), skip_unreadable_images=True, **FAST)
    assert written is not None
    back = pd.read_parquet(written.path)
    assert back["ra"].tolist() == frame["ra"].drop(index=2).tolist()
    assert back["id_str"].tolist() == frame["id_str"].drop(index=2).tolist()


def test_columns_galmorph_reads_under_its_own_names_are_kept_under_the_files(
    tmp_path: Path, catalog: pd.DataFrame, loaded: LoadedModel
) -> None:
    path = tmp_path / "upper.csv"
    catalog.rename(columns={"ra": "RA", "dec": "DEC", "id_str": "ID_STR"}).to_csv(path)
    kept = predict_catalog(path, loaded, keep_columns=("DEC", "RA"), **FAST)
    assert list(kept.columns[:3]) == ["id_str", "DEC", "RA"]
    assert kept["RA"].tolist() == catalog["ra"].tolist()
    with pytest.raises(CatalogError, match="ID_STR: the predictions start with it already"):
        predict_catalog(path, loaded, keep_columns=("ID_STR",), **FAST)


def test_a_column_the_catalog_lacks_or_the_predictions_have_is_refused(
    catalog: pd.DataFrame, loaded: LoadedModel
) -> None:
    with pytest.raises(CatalogError, match="has no column 'RA' to keep .it has 'ra'."):
        predict_catalog(catalog, loaded, keep_columns=("RA",), **FAST)
    with pytest.raises(CatalogError, match="--keep-columns names ra more than once"):
        predict_catalog(catalog, loaded, keep_columns=("ra", "dec", "ra"), **FAST)
    with pytest.raises(CatalogError, match="id_str: the predictions start with it"):
        predict_catalog(catalog, loaded, keep_columns=("id_str",), **FAST)
    clash = catalog.assign(t01_smooth_or_features_asked=1.0)
    with pytest.raises(CatalogError, match="have a column of that name already"):
        predict_catalog(clash, loaded, keep_columns=("t01_smooth_or_features_asked",), **FAST)


def test_the_command_line_keeps_them_in_a_file_and_in_partitions(
    tmp_path: Path, catalog: pd.DataFrame, model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog[["id_str", "file_loc", "ra", "dec"]].to_csv(tmp_path / "catalog.csv", index=False)
    (tmp_path / "cat").mkdir()
    catalog[["id_str", "file_loc", "ra", "dec"]].to_parquet(tmp_path / "cat" / "p=0.parquet")
    common = ["-m", str(model_path), "--num-workers", "0", "--no-progress", "--views", "1",
              "--keep-columns", "ra, dec"]
    assert main(["predict", str(tmp_path / "catalog.csv"), "-o", str(tmp_path / "p.ecsv"),
                 *common]) == 0
    assert "(and id_str, ra, dec)" in capsys.readouterr().out
    from astropy.table import Table

    table = Table.read(tmp_path / "p.ecsv")
    assert table.colnames[:3] == ["id_str", "ra", "dec"]
    assert table["dec"].description == "declination (degrees), from the catalog"
    assert list(table["dec"]) == catalog["dec"].tolist()
    assert main(["predict", str(tmp_path / "cat"), "-o", str(tmp_path / "out"), *common]) == 0
    partition = pd.read_parquet(tmp_path / "out" / "p=0.parquet")
    assert partition["ra"].tolist() == catalog["ra"].tolist()


def test_text_a_fits_table_cannot_hold_is_refused_before_any_galaxy_is_predicted(
    tmp_path: Path, catalog: pd.DataFrame, loaded: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    import galmorph.inference.predict as predict

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the galaxies were predicted")

    monkeypatch.setattr(predict, "model_outputs", never)
    named = catalog.assign(name=["a", "Hoag’s Object", *catalog["id_str"][2:]])
    named.loc[0, "file_loc"] = str(tmp_path / "gone.jpg")  # a row left out before it
    with pytest.raises(GalmorphError, match=r"ASCII text only, and column 'name' has "
                                            rf"'Hoag’s Object' \(galaxy "
                                            rf"{re.escape(named['id_str'][1])}\); "
                                            "write .parquet"):
        predict_to_file(named, tmp_path / "p.fits", loaded, keep_columns=("name",),
                        drop_missing_images=True, **FAST)
    accented = catalog.assign(id_str=["Galaxie à anneau", *catalog["id_str"][1:]])
    with pytest.raises(GalmorphError, match="column 'id_str' has 'Galaxie à anneau'"):
        predict_to_file(accented, tmp_path / "p.fits", loaded, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_a_fits_table_refuses_text_that_is_not_ascii_and_writes_nothing(tmp_path: Path) -> None:
    from galmorph.inference.fits_tables import write_fits_table

    frame = pd.DataFrame({"name": ["a", "ÅB 1"], "x": [1.0, 2.0]})
    with pytest.raises(GalmorphError, match=r"column 'name' has 'ÅB 1' \(row 1 of the table\)"):
        write_fits_table(frame, tmp_path / "t.fits", {"a": "1"})
    assert not (tmp_path / "t.fits").exists()
    write_fits_table(frame.iloc[:1], tmp_path / "t.fits", {"a": "1"})
    assert (tmp_path / "t.fits").is_file()
