"""Tests of galmorph.data.validation: each catalog check, via load_catalog and summarize_catalog."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galmorph.data.catalog import load_catalog, read_catalog, summarize_catalog
from galmorph.data.schemas import get_schema
from galmorph.data.table_files import read_table
from galmorph.exceptions import CatalogError, GalmorphWarning

T01 = get_schema("gz2").question("t01_smooth_or_features").columns
SMOOTH = T01[0]
T10_T11 = [
    *get_schema("gz2").question("t10_arms_winding").columns,
    *get_schema("gz2").question("t11_arms_number").columns,
]


def load_quietly(source, schema="gz2", **kwargs) -> pd.DataFrame:
    """load_catalog without the expected t10/t11 warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GalmorphWarning)
        return load_catalog(source, schema, **kwargs)


def set_value(column: str, row: int, value: object):
    """An ``edit`` for make_catalog putting ``value`` at ``row`` of ``column``."""

    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame

    return edit


def test_load_without_schema_skips_votes(make_catalog) -> None:
    path = make_catalog(edit=set_value(SMOOTH, 2, np.nan))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning either: votes are not looked at
        cat = load_catalog(path)
    assert np.isnan(cat.loc[2, SMOOTH])
    assert not any(c in cat for c in T10_T11)


def test_load_dataframe_resolves_against_base_dir(
    small_catalog: Path, demo_catalog: pd.DataFrame, demo_dir: Path
) -> None:
    frame = demo_catalog.head(3).copy()
    frame.index = [10, 11, 12]
    cat = load_quietly(frame, base_dir=demo_dir)
    assert cat["file_loc"].tolist() == [str(demo_dir / p) for p in frame["file_loc"]]
    assert isinstance(cat.index, pd.RangeIndex)
    assert frame["file_loc"].iloc[0].startswith("images/")  # the input is not modified
    absolute = frame.assign(file_loc=[str(small_catalog.parent / p) for p in frame["file_loc"]])
    kept = load_quietly(absolute, base_dir="/nonexistent")
    assert kept["file_loc"].tolist() == absolute["file_loc"].tolist()


def test_load_accepts_schema_object_and_casts_ids(tmp_path: Path, make_catalog) -> None:
    frame = read_table(make_catalog(2)).assign(id_str=[101, 102])
    frame.to_parquet(tmp_path / "cat.parquet")
    cat = load_quietly(tmp_path / "cat.parquet", get_schema("gz2"))
    assert cat["id_str"].tolist() == ["101", "102"]


@pytest.mark.parametrize(
    ("dropped", "named"),
    [
        (["id_str"], "'id_str'"),
        (["file_loc"], "'file_loc'"),
        (["id_str", "file_loc"], "'id_str', 'file_loc'"),
    ],
)
def test_missing_required_columns(make_catalog, dropped: list[str], named: str) -> None:
    path = make_catalog(edit=lambda df: df.drop(columns=dropped))
    with pytest.raises(CatalogError, match="missing required column") as err:
        load_catalog(path, "gz2")
    assert named in str(err.value)
    assert "columns: " in str(err.value) and "ra, dec" in str(err.value)
    assert "more)" in str(err.value)  # the long column list is abbreviated
    # positions without images: the command that fetches them is named
    assert ("galmorph cutouts" in str(err.value)) == ("file_loc" in dropped)


def test_duplicate_ids(make_catalog, demo_catalog: pd.DataFrame) -> None:
    first, second = demo_catalog["id_str"].iloc[:2]
    path = make_catalog(
        edit=lambda df: df.assign(id_str=[first, second, first, *df["id_str"][3:6], second, first])
    )
    with pytest.raises(CatalogError, match="id_str must be unique; 2 ids repeated") as err:
        load_catalog(path, "gz2")
    assert f"{first} (rows 0, 2, 7); {second} (rows 1, 6)" in str(err.value)


def test_blank_ids(make_catalog) -> None:
    path = make_catalog(edit=set_value("id_str", 3, ""))
    with pytest.raises(CatalogError, match=r"'id_str' is empty in 1 row: row 3"):
        load_catalog(path, "gz2")


def test_question_without_columns_is_added_with_zeros(make_catalog) -> None:
    path = make_catalog(
        edit=lambda df: df.drop(columns=get_schema("gz2").question("t03_bar").columns)
    )
    with pytest.warns(GalmorphWarning, match="3 questions of schema 'gz2': t03_bar, t10") as record:
        cat = load_catalog(path, "gz2")
    assert len(record) == 1
    assert (cat[get_schema("gz2").question("t03_bar").columns] == 0).all().all()


def test_no_question_of_schema(small_catalog: Path) -> None:
    with pytest.raises(CatalogError, match="schema 'gz-decals-dr5'") as err:
        load_catalog(small_catalog, "gz-decals-dr5")
    assert "smooth-or-featured_smooth" in str(err.value)
    assert "--schema" in str(err.value)


def test_vote_fractions_given_as_counts_are_one_error(make_catalog) -> None:
    columns = get_schema("gz2").question("t01_smooth_or_features").columns

    def as_fractions(frame: pd.DataFrame) -> pd.DataFrame:
        frame[columns] = frame[columns].div(frame[columns].sum(axis=1), axis=0)
        return frame

    with pytest.raises(CatalogError) as err:
        load_quietly(make_catalog(edit=as_fractions))
    message = str(err.value)
    assert "these look like vote fractions, not counts" in message
    assert "must hold vote counts" not in message and "problems" not in message


def test_partial_question(make_catalog) -> None:
    column = "t02_edgeon_a05_no_count"
    path = make_catalog(edit=lambda df: df.drop(columns=[column]))
    with pytest.raises(CatalogError, match=rf"'t02_edgeon' has only some.*missing {column}"):
        load_quietly(path)


@pytest.mark.parametrize(
    ("value", "shown"), [(np.nan, "nan"), (-3, "-3"), (2.5, "2.5"), ("many", "many")]
)
def test_bad_votes(make_catalog, demo_catalog: pd.DataFrame, value: object, shown: str) -> None:
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame[SMOOTH] = frame[SMOOTH].astype(object)
        frame.loc[[1, 4], SMOOTH] = value
        return frame

    with pytest.raises(CatalogError, match=rf"{SMOOTH}' must hold vote counts") as err:
        load_quietly(make_catalog(edit=edit))
    ids = demo_catalog["id_str"]
    assert f"2 bad values: row 1 ({ids[1]}): {shown}, row 4 ({ids[4]}): {shown}" in str(err.value)


def test_bad_votes_list_only_the_first_rows(make_catalog) -> None:
    path = make_catalog(edit=lambda df: df.assign(**{SMOOTH: -1}))
    with pytest.raises(CatalogError, match=r"8 bad values: row 0 .*row 4 \(.*\): -1 and 3 more"):
        load_quietly(path)


def test_whole_float_votes_become_int(make_catalog) -> None:
    path = make_catalog(edit=lambda df: df.assign(**{SMOOTH: df[SMOOTH] + 0.0}))
    assert load_quietly(path)[SMOOTH].dtype == "int64"


def remove_images(path: Path, rows: list[int]) -> list[Path]:
    frame = read_table(path)
    gone = [path.parent / frame["file_loc"][i] for i in rows]
    for image in gone:
        image.unlink()
    return gone


def test_missing_images(small_catalog: Path) -> None:
    gone = remove_images(small_catalog, [2, 5])
    with pytest.raises(CatalogError, match="image file missing for 2 of 8 rows") as err:
        load_quietly(small_catalog)
    assert f"row 2 ({gone[0].stem}): {gone[0]}" in str(err.value)
    assert "--skip-missing-images" in str(err.value)
    assert len(load_quietly(small_catalog, check_images=False)) == 8


def test_drop_missing_images(small_catalog: Path) -> None:
    gone = remove_images(small_catalog, [2, 5])
    with pytest.warns(GalmorphWarning) as record:
        cat = load_catalog(small_catalog, "gz2", drop_missing_images=True)
    messages = [str(w.message) for w in record]
    assert any("skipping 2 of 8 rows with a missing image file" in m for m in messages)
    assert len(cat) == 6 and isinstance(cat.index, pd.RangeIndex)
    assert not set(cat["id_str"]) & {p.stem for p in gone}


def test_all_images_missing_is_an_error_even_when_dropping(small_catalog: Path) -> None:
    with pytest.raises(CatalogError, match="none of the 8 image files exist") as err:
        load_quietly(small_catalog, base_dir=small_catalog.parent / "elsewhere")
    assert "elsewhere" in str(err.value)
    with pytest.raises(CatalogError, match="none of the 8 image files exist"):
        load_quietly(small_catalog, base_dir="/nonexistent", drop_missing_images=True)


def test_a_folder_as_an_image_is_named_as_a_folder(small_catalog: Path) -> None:
    frame = pd.read_csv(small_catalog)
    frame.loc[4, "file_loc"] = "images"
    frame.to_csv(small_catalog, index=False)
    with pytest.raises(CatalogError, match=r"file_loc names a folder, not an image file, in "
                                           r"1 row: row 4 \(.+\): .+images$") as err:
        load_quietly(small_catalog, drop_missing_images=True)
    assert "missing" not in str(err.value)


def test_a_tilde_in_an_image_path_is_the_home_folder(
    small_catalog: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(small_catalog.parent))
    frame = pd.read_csv(small_catalog)
    frame["file_loc"] = "~/" + frame["file_loc"]
    frame.to_csv(small_catalog, index=False)
    cat = load_quietly(small_catalog, base_dir="/nonexistent")
    assert cat["file_loc"].str.startswith(str(small_catalog.parent / "images")).all()
    frame.loc[2, "file_loc"] = "~no\x00body/a.jpg"  # expanduser raises ValueError on it
    frame.to_csv(small_catalog, index=False)
    with pytest.raises(CatalogError, match=r"image file missing for 1 of 8 rows: row 2"):
        load_quietly(small_catalog, base_dir="/nonexistent")


def test_empty_catalog(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("id_str,file_loc\n")
    with pytest.raises(CatalogError, match="no rows"):
        load_catalog(path)


# ----------------------------------------------------------- summarize_catalog
def test_summary_of_good_catalog(small_catalog: Path, demo_catalog: pd.DataFrame) -> None:
    s = summarize_catalog(small_catalog, "gz2")
    assert s.usable and s.errors == []
    assert (s.n_rows, s.n_rows_kept, s.n_images_found, s.n_images_missing) == (8, 8, 8, 0)
    assert s.questions_absent == ["t10_arms_winding", "t11_arms_number"]
    assert len(s.questions_present) == 9
    totals = demo_catalog.head(8)[list(T01)].sum(axis=1)
    assert s.votes_question == "t01_smooth_or_features"
    assert (s.votes_median, s.votes_min, s.votes_max) == (
        totals.median(),
        totals.min(),
        totals.max(),
    )
    assert len(s.warnings) == 1


def test_a_dataframe_is_summarised_as_its_file_is(small_catalog: Path) -> None:
    frame = read_table(small_catalog)
    frame.loc[2, "file_loc"] = "gone.jpg"
    from_file = summarize_catalog(small_catalog, "gz2")
    in_memory = summarize_catalog(frame, "gz2")  # relative paths: from the working folder
    assert (in_memory.n_rows, in_memory.n_images_found) == (8, 0)
    frame.attrs["base_dir"] = str(small_catalog.parent)
    in_memory = summarize_catalog(frame, "gz2")
    assert (in_memory.n_images_found, in_memory.n_images_missing) == (7, 1)
    assert in_memory.votes_median == from_file.votes_median
    with pytest.raises(TypeError, match="a catalog is a table file's path or a pandas DataFrame"):
        summarize_catalog(8, "gz2")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"this reads a catalog file, given by its path; check "
                                        r"a DataFrame you already have with load_catalog"):
        read_catalog(frame)  # type: ignore[arg-type]


def test_summary_gathers_every_problem(make_catalog, demo_catalog: pd.DataFrame) -> None:
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[1, "id_str"] = frame.loc[0, "id_str"]
        frame.loc[3, SMOOTH] = -1
        return frame.drop(columns=["t02_edgeon_a04_yes_count"])

    path = make_catalog(edit=edit)
    remove_images(path, [6])
    s = summarize_catalog(path, "gz2")
    assert not s.usable
    assert len(s.errors) == 4, s.errors
    assert (s.n_images_found, s.n_images_missing) == (7, 1)
    assert s.first_missing == [str(path.parent / demo_catalog["file_loc"][6])]
    assert s.votes_question is None  # no statistics from invalid votes


@pytest.mark.parametrize(("column", "value"), [("ra", "abc"), ("ra", 361.0), ("ra", -5.0),
                                               ("dec", 95.0), ("dec", float("inf"))])
def test_sky_positions_must_be_degrees_in_range(make_catalog, demo_catalog: pd.DataFrame,
                                                column: str, value: object) -> None:
    catalog = make_catalog(edit=set_value(column, 2, value))
    row = re.escape(f"row 2 ({demo_catalog['id_str'][2]})")
    with pytest.raises(CatalogError, match=rf"column '{column}' must hold degrees.*{row}"):
        load_catalog(catalog)


def test_unknown_sky_positions_may_be_empty(make_catalog) -> None:
    frame = load_catalog(make_catalog(edit=set_value("ra", 2, None)))
    assert np.isnan(float(frame["ra"][2])) and len(frame) == 8


def test_a_catalog_is_a_path_or_a_dataframe() -> None:
    with pytest.raises(TypeError, match="table file's path or a pandas DataFrame, not a list"):
        load_catalog([1, 2])
