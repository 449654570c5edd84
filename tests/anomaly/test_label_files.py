"""Scores read from a file: tables of id_str and score (exported or hand-edited), sessions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from galmorph.anomaly.label_files import read_label_file
from galmorph.anomaly.labels import LabelStore
from galmorph.exceptions import GalmorphError


def test_an_exported_table_and_a_session_file_give_their_scores(tmp_path: Path) -> None:
    table = tmp_path / "labels.csv"  # as `galmorph serve` exports it, edited by hand
    table.write_text("# my hunt\nid_str,score,labelled_at,ra\nG1, 4 ,2024-01-01,10.5\n"
                     "G2,0.5,2024-01-02,11\n")
    assert read_label_file(table) == [("G1", 4.0), ("G2", 0.5)]
    with LabelStore.create(tmp_path / "s.db", {}, ["G1", "G2", "G3"]) as store:
        store.label("G3", 2)
        store.label("G1", 5)
    assert read_label_file(tmp_path / "s.db") == [("G3", 2.0), ("G1", 5.0)]


@pytest.mark.parametrize(("rows", "expected"), [
    ("G1,4\nG2,high\nG3,7\n", "column 'score' must hold numbers from 0 to 5 but has 2 bad "
                              "values: row 1 (G2): high, row 2 (G3): 7"),
    ("G1,4\nG1,2\n", "id_str must be unique; 1 id repeated: G1 (rows 0, 1)"),
    ("G1,4\n,2\n", "column 'id_str' is empty in 1 row: row 1"),
    ("G1,4\nG2,\n", "column 'score' is empty in 1 row: row 1 (G2) (a blank score is not a 0: "
                    "leave out the galaxies you have not scored"),
    ("G1,inf\n", "row 0 (G1): inf"),
])
def test_bad_rows_are_named_with_file_row_and_column(tmp_path: Path, rows: str,
                                                     expected: str) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("id_str,score\n" + rows)
    with pytest.raises(GalmorphError) as raised:
        read_label_file(path)
    assert str(raised.value).startswith(f"labels file {path}: ")
    assert expected in str(raised.value) and "nothing was stored" in str(raised.value)


def test_missing_columns_and_files_are_named(tmp_path: Path) -> None:
    path = tmp_path / "labels.parquet"
    pd.DataFrame({"galaxy": ["G1"], "score": [3]}).to_parquet(path)
    with pytest.raises(GalmorphError, match=r"labels.parquet has no column 'id_str': it needs "
                                            r"id_str .* its columns: galaxy, score"):
        read_label_file(path)
    with pytest.raises(GalmorphError, match="labels file .*missing.csv does not exist"):
        read_label_file(tmp_path / "missing.csv")
