"""galmorph's CSV tables read as plain CSV in other tools: astropy, pandas and (when
installed) STILTS, with the metadata in a ``NAME.csv.meta.json`` sidecar."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from galmorph.data.table_files import read_table
from galmorph.exceptions import GalmorphError
from galmorph.inference import outputs
from galmorph.inference.outputs import (
    metadata_sidecar,
    read_metadata,
    write_table,
    write_table_chunks,
)

META = {"galmorph_model": "gz2-starter", "galmorph_model_sha256": "ab" * 32,
        "galmorph_views": "1"}
IDS = ["J090203.35+590529.9", "J132412.86+622922.7", "J152247.79+010515.5"]


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"id_str": IDS, "x_fraction": np.float32([0.25, np.nan, 1.0]),
                         "labelled": [True, False, True]})


def check_plain_csv(path: Path, rows: int) -> None:
    """``path`` is one header row and ``rows`` rows, read alike by astropy and pandas."""
    assert path.read_text().splitlines()[0] == "id_str,x_fraction,labelled"
    for options in ({}, {"format": "ascii.csv"}):
        table = Table.read(path, **options)
        assert table.colnames == ["id_str", "x_fraction", "labelled"]
        assert list(table["id_str"]) == (IDS * 2)[:rows]
        assert table["x_fraction"].dtype.kind == "f"
    back = pd.read_csv(path)
    assert back["id_str"].tolist() == (IDS * 2)[:rows]
    assert back["x_fraction"].isna().tolist() == ([False, True, False] * 2)[:rows]
    assert back["labelled"].dtype == bool


def test_csv_is_plain_with_metadata_beside_it(tmp_path: Path, frame: pd.DataFrame) -> None:
    path = write_table(frame, tmp_path / "p.csv", META)
    check_plain_csv(path, 3)
    sidecar = tmp_path / "p.csv.meta.json"
    assert metadata_sidecar(path) == sidecar
    assert json.loads(sidecar.read_text()) == META
    assert read_metadata(path) == META
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "p.csv.meta.json"]


def test_streamed_csv_is_plain_with_metadata_beside_it(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    path, rows = write_table_chunks([frame, frame], tmp_path / "p.csv", META)
    assert rows == 6
    check_plain_csv(path, 6)
    assert read_metadata(path) == META


def test_csv_of_earlier_versions_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "old.csv"
    lines = [f"# {key}: {value}" for key, value in META.items()]
    path.write_text("\n".join([*lines, "id_str,x_fraction", f"{IDS[0]},0.5", f"{IDS[1]},"]))
    # a sidecar left by a newer version before an older one rewrote the table is stale
    metadata_sidecar(path).write_text(json.dumps({"galmorph_model": "other"}))
    assert read_metadata(path) == META
    table = read_table(path)
    assert table["id_str"].tolist() == IDS[:2]
    assert table["x_fraction"].isna().tolist() == [False, True]


def test_rewrite_replaces_or_removes_the_sidecar(tmp_path: Path, frame: pd.DataFrame) -> None:
    path = write_table(frame, tmp_path / "p.csv", META)
    write_table(frame, path, {"galmorph_model": "other"})
    assert json.loads(metadata_sidecar(path).read_text()) == {"galmorph_model": "other"}
    assert read_metadata(path) == {"galmorph_model": "other"}
    write_table(frame, path)
    assert read_metadata(path) == {}
    assert [p.name for p in tmp_path.iterdir()] == ["p.csv"]


def test_failed_write_keeps_table_and_sidecar(
    tmp_path: Path, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_table(frame, tmp_path / "p.csv", META)
    before = path.read_text()

    def fail(frame: pd.DataFrame, target: Path, metadata: dict[str, str]) -> None:
        target.write_text("id_str\nJ1")
        raise RuntimeError("disk full")

    monkeypatch.setitem(outputs._WRITERS, "csv", fail)
    with pytest.raises(RuntimeError):
        write_table(frame, path, {"galmorph_model": "other"})
    assert path.read_text() == before and read_metadata(path) == META
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "p.csv.meta.json"]


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_unreadable_sidecar_is_named(tmp_path: Path, frame: pd.DataFrame, text: str) -> None:
    path = write_table(frame, tmp_path / "p.csv", META)
    metadata_sidecar(path).write_text(text)
    with pytest.raises(GalmorphError, match=r"metadata of .*p\.csv: .*p\.csv\.meta\.json"):
        read_metadata(path)


@pytest.mark.skipif(shutil.which("stilts") is None, reason="needs STILTS (Java)")
def test_stilts_reads_the_csv(tmp_path: Path, frame: pd.DataFrame) -> None:
    path = write_table(frame, tmp_path / "p.csv", META)
    run = subprocess.run(["stilts", "tpipe", f"in={path}", "ifmt=csv", "omode=meta"],
                         capture_output=True, text=True, timeout=120, check=True)
    assert "Rows:    3" in run.stdout and "id_str(String)" in run.stdout
    assert "labelled(Boolean)" in run.stdout


@pytest.mark.parametrize("chunked", [False, True])
def test_ecsv_keeps_types_and_metadata_in_one_file(
    tmp_path: Path, frame: pd.DataFrame, chunked: bool
) -> None:
    odd = frame.assign(id_str=["007", *IDS[1:]])  # an id that plain CSV reads as a number
    if chunked:
        path, rows = write_table_chunks([odd.head(2), odd.tail(1)], tmp_path / "p.ecsv", META)
        assert rows == 3
    else:
        path = write_table(odd, tmp_path / "p.ecsv", META)
    assert [p.name for p in tmp_path.iterdir()] == ["p.ecsv"]
    assert read_metadata(path) == META
    table = Table.read(path)
    assert table.meta == META and list(table["id_str"]) == ["007", *IDS[1:]]
    assert table["labelled"].dtype == bool and table["x_fraction"].dtype == np.float32
    assert list(np.ma.getmaskarray(table["x_fraction"])) == [False, True, False]
    back = read_table(path)
    assert back["id_str"].tolist() == ["007", *IDS[1:]]


def test_a_file_named_ecsv_that_is_not_is_named(tmp_path: Path) -> None:
    path = tmp_path / "p.ecsv"
    path.write_text("id_str,x\nJ1,1\n")
    with pytest.raises(GalmorphError, match=r"p\.ecsv is not an ECSV file"):
        read_metadata(path)


@pytest.mark.skipif(shutil.which("stilts") is None, reason="needs STILTS (Java)")
def test_stilts_reads_the_ecsv_types_and_metadata(tmp_path: Path, frame: pd.DataFrame) -> None:
    path = write_table(frame.assign(id_str=["007", *IDS[1:]]), tmp_path / "p.ecsv", META)
    run = subprocess.run(["stilts", "tpipe", f"in={path}", "omode=out", "ofmt=text"],
                         capture_output=True, text=True, timeout=120, check=True)
    assert "galmorph_model: gz2-starter" in run.stdout and "| 007 " in run.stdout


def test_fits_metadata_is_also_history_that_topcat_shows(tmp_path: Path,
                                                        frame: pd.DataFrame) -> None:
    meta = {**META, "galmorph_note": "two\nlines"}
    path = write_table(frame, tmp_path / "p.fits", meta)
    header = fits.getheader(path, 1)
    assert header["galmorph_model"] == "gz2-starter"  # HIERARCH, as before
    history = " ".join(str(line) for line in header["HISTORY"])
    assert "galmorph_model = gz2-starter" in history and "galmorph_note = two lines" in history
    # the HISTORY lines are not read twice; a header card holds one line of text
    assert read_metadata(path) == {**META, "galmorph_note": "two lines"}
    if shutil.which("stilts") is None:
        return
    run = subprocess.run(["stilts", "tpipe", f"in={path}", "omode=meta"],
                         capture_output=True, text=True, timeout=120, check=True)
    assert "HISTORY:" in run.stdout and "galmorph_views = 1" in run.stdout


def test_column_descriptions_go_where_the_format_keeps_them(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    notes = {"x_fraction": "predicted fraction of volunteers answering 'x' to 'y'",
             "id_str": "galaxy id, as in the catalog"}
    fits_path = write_table(frame, tmp_path / "p.fits", META, notes)
    header = fits.getheader(fits_path, 1)
    described = {header[f"TTYPE{i}"]: header.get(f"TCOMM{i}") for i in range(1, 4)}
    assert described == {**notes, "labelled": None}
    assert read_metadata(fits_path) == META  # TCOMMn describe columns: not metadata
    ecsv_path, _ = write_table_chunks([frame, frame], tmp_path / "p.ecsv", META, notes)
    table = Table.read(ecsv_path)
    assert table["x_fraction"].description == notes["x_fraction"]
    assert table["labelled"].description is None
    write_table(frame, tmp_path / "p.csv", META, notes)  # CSV has no place for them
    assert read_metadata(tmp_path / "p.csv") == META


def test_predictions_describe_their_columns(tmp_path: Path, demo_catalog: pd.DataFrame,
                                            demo_dir: Path, untrained_model: Path) -> None:
    from galmorph.inference.predict import predict_to_file

    catalog = demo_catalog.head(3).assign(file_loc=lambda f: [str(demo_dir / p)
                                                               for p in f["file_loc"]])
    written = predict_to_file(catalog, tmp_path / "p.ecsv", untrained_model, views=1,
                              num_workers=0, progress=False, device="cpu")
    assert written is not None
    table = Table.read(written.path)
    assert table["t03_bar_a06_bar_fraction"].description == (
        "predicted fraction of volunteers answering 'bar' to 'bar'")
    assert table["t02_edgeon_asked"].description.startswith("probability that 'edge-on' is")
    assert all(table[name].description for name in table.colnames)
