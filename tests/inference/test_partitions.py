"""Partitioned catalogs: finding partitions (folders, HATS, globs), output paths, reading one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from galmorph.data.catalog import rename_columns
from galmorph.exceptions import CatalogError, GalmorphError, GalmorphWarning
from galmorph.inference.partitions import (
    Partition,
    check_output_dir,
    find_partitions,
    is_partitioned,
    read_ids,
    read_partition,
)
from galmorph.inference.resumable import ids_digest


def _touch_parquet(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id_str": [path.stem]}).to_parquet(path)
    return path


def _relatives(partitions: list[Partition]) -> list[str]:
    return [p.relative for p in partitions]


def test_a_folder_has_its_parquet_files_at_any_depth_and_nothing_else(tmp_path: Path) -> None:
    for name in ["b.parquet", "a/c.parquet", "a/deep/er/d.parquet", ".hidden/e.parquet",
                 "_temporary/f.parquet", "a/.c.parquet.x1.tmp.parquet", "a/_g.parquet"]:
        _touch_parquet(tmp_path / name)
    (tmp_path / "notes.csv").write_text("id_str\n")
    (tmp_path / "_metadata").write_bytes(b"PAR1")
    (tmp_path / "folder.parquet").mkdir()  # a folder named like a file is not one

    with pytest.warns(GalmorphWarning, match=r"1 table file\(s\).*left out.*: notes\.csv;"):
        partitions = find_partitions(tmp_path)

    assert _relatives(partitions) == ["a/c.parquet", "a/deep/er/d.parquet", "b.parquet"]
    assert all(p.root == tmp_path for p in partitions)
    assert partitions[1].path == tmp_path / "a" / "deep" / "er" / "d.parquet"


def test_a_hats_thumbnail_is_not_a_partition(tmp_path: Path) -> None:
    hats = tmp_path / "gz_hats"
    pixels = ["dataset/Norder=0/Dir=0/Npix=4.parquet", "dataset/Norder=1/Dir=0/Npix=33.parquet"]
    for name in [*pixels, "dataset/data_thumbnail.parquet"]:
        _touch_parquet(hats / name)
    assert _relatives(find_partitions(hats)) == pixels
    assert _relatives(find_partitions(hats / "dataset")) == [p.removeprefix("dataset/")
                                                             for p in pixels]


def test_a_hats_catalog_keeps_its_layout(tmp_path: Path) -> None:
    hats = tmp_path / "gz_hats"
    names = ["dataset/Norder=1/Dir=0/Npix=33.parquet", "dataset/Norder=0/Dir=0/Npix=4.parquet",
             "dataset/Norder=1/Dir=0/Npix=40.parquet"]
    for name in names:
        _touch_parquet(hats / name)
    for other in ["properties", "partition_info.csv", "dataset/_metadata",
                  "dataset/_common_metadata"]:
        (hats / other).write_text("x")

    assert _relatives(find_partitions(hats)) == sorted(names)
    assert _relatives(find_partitions(hats / "dataset")) == sorted(
        n.removeprefix("dataset/") for n in names)


def test_a_hats_collection_is_refused_for_its_main_catalog(tmp_path: Path) -> None:
    collection = tmp_path / "gz_collection"
    for catalog in ["gz", "gz_10arcs"]:  # the main catalog and its margin catalog
        _touch_parquet(collection / catalog / "dataset/Norder=0/Dir=0/Npix=4.parquet")
    (collection / "collection.properties").write_text(
        "obs_collection=gz\nhats_primary_table_url=gz\nall_margins=gz_10arcs\n")

    with pytest.raises(CatalogError) as caught:
        find_partitions(collection)

    assert str(caught.value).startswith(f"{collection} is a HATS collection")
    assert str(caught.value).endswith(f"give the main catalog's folder, {collection / 'gz'}")
    main = find_partitions(collection / "gz")
    assert _relatives(main) == ["dataset/Norder=0/Dir=0/Npix=4.parquet"]


def test_a_glob_is_rooted_at_its_folder_before_the_first_wildcard(tmp_path: Path) -> None:
    for name in ["dataset/Norder=0/Dir=0/Npix=4.parquet", "dataset/Norder=1/Dir=0/Npix=33.parquet",
                 "dataset/Norder=1/Dir=0/Npix=33.csv"]:
        _touch_parquet(tmp_path / name)

    hats = find_partitions(str(tmp_path / "dataset" / "Norder=*" / "Dir=*" / "Npix=*"))
    deep = find_partitions(str(tmp_path / "**" / "*.parquet"))

    assert hats[0].root == tmp_path / "dataset"
    assert _relatives(hats) == ["Norder=0/Dir=0/Npix=4.parquet", "Norder=1/Dir=0/Npix=33.parquet"]
    assert deep[0].root == tmp_path
    assert _relatives(deep) == ["dataset/" + r for r in _relatives(hats)]


def test_a_relative_glob_starts_in_the_working_folder(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _touch_parquet(tmp_path / "part-1.parquet")
    monkeypatch.chdir(tmp_path)

    (partition,) = find_partitions("part-*.parquet")

    assert (partition.root, partition.relative) == (tmp_path, "part-1.parquet")


@pytest.mark.parametrize("pattern", ["{tmp}/empty", "{tmp}/empty/*.parquet", "{tmp}/notes.csv"])
def test_no_partitions_is_a_clear_error(tmp_path: Path, pattern: str) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "table.csv").write_text("id_str\n")
    (tmp_path / "notes.csv").write_text("id_str\n")
    source = pattern.format(tmp=tmp_path)

    with pytest.raises(CatalogError) as caught:
        find_partitions(source)

    assert source in str(caught.value)
    assert "parquet" in str(caught.value)


def test_which_arguments_are_partitioned(tmp_path: Path) -> None:
    table = _touch_parquet(tmp_path / "cat.parquet")
    assert is_partitioned(tmp_path)
    assert is_partitioned(str(tmp_path / "*.parquet"))
    assert not is_partitioned(table)
    assert not is_partitioned(tmp_path / "missing.csv")
    cutouts = tmp_path / "cutouts"
    (cutouts / "deep").mkdir(parents=True)
    (cutouts / "deep" / "J000314.90-000217.7.jpg").touch()
    assert not is_partitioned(cutouts)  # a folder of images is one catalog of them
    _touch_parquet(cutouts / "part.parquet")
    assert is_partitioned(cutouts)
    (tmp_path / "empty").mkdir()
    assert is_partitioned(tmp_path / "empty")  # find_partitions then says what is missing
    with pytest.raises(CatalogError, match="no parquet files .* and no images"):
        find_partitions(tmp_path / "empty")


def test_outputs_mirror_the_partitions(tmp_path: Path) -> None:
    hats = tmp_path / "hats"
    _touch_parquet(hats / "dataset/Norder=0/Dir=0/Npix=4.parquet")
    partitions = find_partitions(hats)

    out = check_output_dir(partitions, tmp_path / "preds")

    assert out == tmp_path / "preds"
    assert partitions[0].output(out) == out / "dataset" / "Norder=0" / "Dir=0" / "Npix=4.parquet"


@pytest.mark.parametrize("where", ["hats", "hats/preds", "file.txt"])
def test_an_output_inside_the_catalog_or_a_file_is_refused(tmp_path: Path, where: str) -> None:
    _touch_parquet(tmp_path / "hats" / "Npix=4.parquet")
    (tmp_path / "file.txt").write_text("x")

    with pytest.raises(GalmorphError, match="inside the catalog|is a file"):
        check_output_dir(find_partitions(tmp_path / "hats"), tmp_path / where)


@pytest.mark.parametrize("name", ["preds.parquet", "preds.csv", "preds.FITS", "preds.csv.gz"])
def test_an_output_named_like_a_table_file_is_refused(tmp_path: Path, name: str) -> None:
    _touch_parquet(tmp_path / "hats" / "Npix=4.parquet")
    partitions = find_partitions(tmp_path / "hats")

    with pytest.raises(GalmorphError) as caught:
        check_output_dir(partitions, tmp_path / name)

    message = str(caught.value)
    assert f"the output {tmp_path / name} names a table file" in message
    assert "(1 parquet file)" in message and f"e.g. {tmp_path / 'preds'}" in message
    assert not (tmp_path / name).exists()


def test_a_folder_named_like_a_table_file_from_an_earlier_run_is_taken(tmp_path: Path) -> None:
    _touch_parquet(tmp_path / "hats" / "Npix=4.parquet")
    (tmp_path / "preds.parquet").mkdir()

    out = check_output_dir(find_partitions(tmp_path / "hats"), tmp_path / "preds.parquet")

    assert out == tmp_path / "preds.parquet"


# ------------------------------------------------------------ reading one partition
@pytest.fixture
def root(tmp_path: Path, demo_dir: Path, demo_catalog: pd.DataFrame) -> Path:
    """A catalog root with 4 demo images in images/ and a HATS-like partition of them."""
    root = tmp_path / "cat"
    (root / "images").mkdir(parents=True)
    frame = demo_catalog.head(4)
    for loc in frame["file_loc"]:
        shutil.copyfile(demo_dir / loc, root / loc)
    part = root / "dataset" / "Norder=0" / "Dir=0" / "Npix=1.parquet"
    part.parent.mkdir(parents=True)
    frame[["id_str", "file_loc", "ra", "dec"]].rename(
        columns={"id_str": "objid", "file_loc": "cutout"}).to_parquet(part, index=False)
    return root


def test_relative_image_paths_are_read_from_the_root(root: Path) -> None:
    (partition,) = find_partitions(root)

    frame, ids = read_partition(partition, id_column="objid", file_column="cutout")

    assert list(frame.columns[:2]) == ["id_str", "file_loc"]
    assert all(Path(p).parent == root / "images" for p in frame["file_loc"])
    assert all(Path(p).is_file() for p in frame["file_loc"])
    assert ids.tolist() == frame["id_str"].tolist()


def test_named_columns_replace_those_of_the_standard_names() -> None:
    frame = pd.DataFrame({"id_str": ["x"], "objid": [7], "file_loc": ["a"], "cutout": ["b"]})

    renamed = rename_columns(frame, "p.parquet", "objid", "cutout")

    assert renamed.to_dict("list") == {"id_str": [7], "file_loc": ["b"]}
    assert rename_columns(frame, "p.parquet", None, "file_loc").equals(frame)


def test_a_missing_named_column_names_the_file_and_option(root: Path) -> None:
    (partition,) = find_partitions(root)

    with pytest.raises(CatalogError) as caught:
        read_partition(partition, id_column="objid", file_column="image")
    with pytest.raises(CatalogError, match="both name 'objid'"):
        rename_columns(pd.DataFrame({"objid": [1]}), "p", "objid", "objid")

    message = str(caught.value)
    assert str(partition.path) in message and "'image'" in message
    assert "--file-column" in message and "cutout" in message


def test_a_bad_row_names_the_partition_file_and_the_row(root: Path) -> None:
    (partition,) = find_partitions(root)
    frame = pd.read_parquet(partition.path)
    (root / frame.at[2, "cutout"]).unlink()

    with pytest.raises(CatalogError) as caught:
        read_partition(partition, id_column="objid", file_column="cutout")
    with pytest.warns(GalmorphWarning) as warned:
        kept, ids = read_partition(partition, id_column="objid", file_column="cutout",
                                   drop_missing_images=True)

    assert str(partition.path) in str(caught.value)
    assert f"row 2 ({frame.at[2, 'objid']})" in str(caught.value)
    assert str(partition.path) in str(warned[0].message) and "skipping 1" in str(warned[0].message)
    assert len(kept) == 3 and frame.at[2, "objid"] not in set(kept["id_str"])
    assert len(ids) == 4  # the partition's ids as stored, for the manifest


def test_read_ids_reads_the_ids_read_partition_gives(root: Path) -> None:
    (partition,) = find_partitions(root)
    _, ids = read_partition(partition, id_column="objid", file_column="cutout")

    alone = read_ids(partition, "objid")

    assert ids_digest(alone) == ids_digest(ids)
    with pytest.raises(CatalogError, match="'id_str'") as caught:
        read_ids(partition)
    assert str(partition.path) in str(caught.value)


def test_integer_ids_read_the_same_both_ways(tmp_path: Path, demo_dir: Path) -> None:
    part = tmp_path / "Npix=0.parquet"
    image = next((demo_dir / "images").iterdir())
    pd.DataFrame({"objid": [587722981742084144, 3], "file_loc": [str(image)] * 2}).to_parquet(part)
    (partition,) = find_partitions(tmp_path)

    frame, ids = read_partition(partition, id_column="objid")

    assert frame["id_str"].tolist() == ["587722981742084144", "3"]
    assert ids_digest(read_ids(partition, "objid")) == ids_digest(ids)


def test_upper_case_id_and_file_columns_are_read_both_ways(root: Path) -> None:
    """FITS-born tables often name them ID_STR and FILE_LOC; read_partition took them, and
    read_ids (the manifest's check) failed on them."""
    (partition,) = find_partitions(root)
    frame = pd.read_parquet(partition.path)
    frame.rename(columns={"objid": "ID_STR", "cutout": "FILE_LOC"}).to_parquet(
        partition.path, index=False)

    read, ids = read_partition(partition)

    assert read["id_str"].tolist() == frame["objid"].tolist()
    assert ids_digest(read_ids(partition)) == ids_digest(ids)
