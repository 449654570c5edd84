"""FITS tables' metadata (galmorph.inference.fits_tables): keywords astropy reads, HISTORY
lines TOPCAT shows, long values without CONTINUE cards, and files of earlier versions."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from galmorph.inference.fits_tables import (
    CARD,
    HISTORY_WIDTH,
    fits_metadata,
    write_fits_table,
)

FRAME = pd.DataFrame({"id_str": ["J1", "J2"], "x": [0.5, 0.25]})
QUERY = json.dumps({"kind": "examples", "ids": [f"J{i:03d}+{i:03d}" for i in range(30)],
                    "note": "a  b\tc"})
META = {"galmorph_model": "gz2-starter", "galmorph_model_sha256": "0123456789abcdef" * 4,
        "galmorph_query": QUERY, "galmorph_views": "8"}


def test_long_values_are_history_lines_only_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "t.fits"
    write_fits_table(FRAME, path, META)
    header = fits.getheader(path, 1)
    cards = [card.image for card in header.cards]
    assert all(len(image) == CARD for image in cards)
    assert not any(image.startswith("CONTINUE") for image in cards)  # TOPCAT's stray param
    assert header["galmorph_model"] == "gz2-starter" and header["galmorph_views"] == "8"
    assert "galmorph_model_sha256" not in header and "galmorph_query" not in header
    history = [str(line) for line in header["HISTORY"]]
    assert all(len(line) <= HISTORY_WIDTH for line in history)
    assert history[0] == "galmorph_model = gz2-starter"
    assert sum(line.startswith("galmorph_query = ") for line in history) == 1
    back = fits_metadata(path)
    assert list(back) == list(META)  # in the order written
    assert back == {**META, "galmorph_query": " ".join(QUERY.split())}
    assert json.loads(back["galmorph_query"])["ids"] == json.loads(QUERY)["ids"]
    assert Table.read(path)["x"].tolist() == [0.5, 0.25]


@pytest.mark.parametrize("length", range(60, 150, 7))
def test_a_space_where_a_line_ends_is_kept(tmp_path: Path, length: int) -> None:
    """A card's trailing spaces are padding: a line never ends with one that is text."""
    value = " ".join(["ab"] * (length // 3))
    path = tmp_path / "t.fits"
    write_fits_table(FRAME, path, {"k": "x" * 60, "galmorph_long_key_name": value})
    assert fits_metadata(path)["galmorph_long_key_name"] == value


def test_files_of_earlier_versions_still_read(tmp_path: Path) -> None:
    """Earlier versions wrote every value as a keyword (CONTINUE cards for long ones) and
    let astropy wrap the HISTORY lines; other HISTORY text is not metadata."""
    table = Table({"x": [1.0]})
    table.meta.update({"galmorph_model": "gz2-starter",
                       "galmorph_model_sha256": "0123456789abcdef" * 4})
    with pytest.warns(fits.verify.VerifyWarning):
        hdu = fits.table_to_hdu(table)
    hdu.header.add_history("galmorph_model_sha256 = " + "0123456789abcdef" * 4)
    hdu.header.add_history("reduced by hand")
    path = tmp_path / "old.fits"
    hdu.writeto(path)
    assert fits_metadata(path) == {"galmorph_model": "gz2-starter",
                                   "galmorph_model_sha256": "0123456789abcdef" * 4}


@pytest.mark.skipif(shutil.which("stilts") is None, reason="needs STILTS (Java)")
def test_topcat_shows_the_history_and_no_stray_parameter(tmp_path: Path) -> None:
    path = tmp_path / "t.fits"
    write_fits_table(FRAME, path, META)
    run = subprocess.run(["stilts", "tpipe", f"in={path}", "omode=meta"],
                         capture_output=True, text=True, timeout=120, check=True)
    assert "HISTORY:" in run.stdout and "galmorph_views = 8" in run.stdout
    assert "CONTINUE" not in run.stdout


def test_characters_a_header_cannot_hold_are_escaped(tmp_path: Path) -> None:
    """An embeddings path under 'Données' failed the write after the whole run."""
    path = tmp_path / "t.fits"
    write_fits_table(FRAME, path, {"galmorph_embeddings": "Données/émb.parquet", "b": "x\x07y"})
    assert fits_metadata(path) == {"galmorph_embeddings": "Donn\\xe9es/\\xe9mb.parquet",
                                   "b": "x\\x07y"}
