"""A partitioned catalog's folder of embeddings files (galmorph.inference.embedding_folder).

The folders are embeddings files of ``tests/inference/conftest.py`` cut into partitions.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.inference.embedding_folder import (
    PartitionedEmbeddings,
    open_embeddings,
    read_embedding_folder,
)
from galmorph.inference.embeddings import Embeddings, read_embeddings
from galmorph.inference.manifest import Manifest, PartitionRecord

Split = Callable[[Path, Path, list[int]], Path]
SIZES = [5, 0, 7]  # 12 galaxies; an empty partition too


def _manifest(folder: Path, kind: str, names: list[str]) -> None:
    """A manifest listing only ``names`` as complete."""
    (folder / "_manifest.json").unlink(missing_ok=True)
    manifest = Manifest(folder, {"kind": kind, "model_sha256": "ab12"})
    for name in names:
        manifest.record(name, PartitionRecord(3, "ids", "ab12", 3))
    manifest.save()


def test_a_folder_reads_as_its_file(raw_file: Path, tmp_path: Path,
                                    split_embeddings: Split) -> None:
    folder = split_embeddings(raw_file, tmp_path / "emb", SIZES)
    whole, parts = open_embeddings(raw_file), open_embeddings(folder)
    assert isinstance(whole, Embeddings) and isinstance(parts, PartitionedEmbeddings)
    assert [p.relative for p in parts.partitions] == [f"part={i}/emb.parquet" for i in range(3)]
    assert parts.offsets.tolist() == [0, 5, 5, 12] and len(parts) == 12
    assert parts.ids.tolist() == whole.ids.tolist()
    np.testing.assert_array_equal(parts.ra, whole.ra)
    np.testing.assert_array_equal(parts.dec, whole.dec)
    assert parts.file_loc.tolist() == whole.file_loc.tolist()
    assert parts.info == whole.info and parts.path == folder
    blocks = list(parts.blocks())
    assert [(start, block.shape) for start, block in blocks] == [(0, (5, 64)), (5, (0, 64)),
                                                                  (5, (7, 64))]
    np.testing.assert_array_equal(parts.read_features(), whole.features)
    assert parts.row_of(whole.ids[6]) == 6
    with pytest.raises(GalmorphError, match=f"no galaxy with id 'nope' in {folder}"):
        parts.row_of("nope")
    with pytest.raises(GalmorphError, match="emb is a folder; this needs one embeddings file"):
        read_embeddings(folder)  # as commands that take a file only do


def test_the_manifest_says_which_partitions_are_complete(raw_file: Path, tmp_path: Path,
                                                         split_embeddings: Split) -> None:
    folder = split_embeddings(raw_file, tmp_path / "emb", SIZES)
    _manifest(folder, "embed", ["part=0/emb.parquet", "part=2/emb.parquet", "gone.parquet"])
    with pytest.warns(GalmorphWarning) as caught:
        parts = read_embedding_folder(folder)
    messages = " ".join(str(w.message) for w in caught)
    assert "1 partition file(s)" in messages and "e.g. part=1/emb.parquet" in messages
    assert "missing, listed in _manifest.json (e.g. gone.parquet)" in messages
    assert [p.relative for p in parts.partitions] == ["part=0/emb.parquet",
                                                      "part=2/emb.parquet"]
    _manifest(folder, "embed", ["elsewhere.parquet"])
    with pytest.warns(GalmorphWarning), pytest.raises(GalmorphError, match="no complete"):
        read_embedding_folder(folder)
    _manifest(folder, "predict", ["part=0/emb.parquet"])
    with pytest.raises(GalmorphError, match="output of galmorph predict"):
        read_embedding_folder(folder)
    (folder / "_manifest.json").write_text("[1, 2]")
    with pytest.raises(GalmorphError, match="_manifest.json is not a galmorph manifest"):
        read_embedding_folder(folder)


def test_bad_folders_are_named(raw_file: Path, pca_file: Path, catalog: pd.DataFrame,
                               tmp_path: Path, split_embeddings: Split) -> None:
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    with pytest.raises(GalmorphError, match="empty holds no embeddings: no parquet files"):
        open_embeddings(empty)

    mixed = split_embeddings(raw_file, tmp_path / "mixed", [6, 6])
    shutil.copyfile(pca_file, mixed / "part=1" / "emb.parquet")
    with pytest.raises(GalmorphError, match=r"part=0/emb.parquet and .*part=1/emb.parquet "
                                            r"differ in n_features \(64 vs 5\)"):
        open_embeddings(mixed)

    catalog.to_parquet(mixed / "part=1" / "emb.parquet")  # a catalog, not embeddings
    with pytest.raises(GalmorphError, match="part=1/emb.parquet is not a galmorph embeddings"):
        open_embeddings(mixed)

    part = mixed / "part=1" / "emb.parquet"
    table = pq.read_table(raw_file).slice(6, 6)
    pq.write_table(table.drop_columns(["ra", "dec"]), part)
    with pytest.raises(GalmorphError, match=r"differ in their columns \(dec, ra\): only "
                                            r"part=0/emb\.parquet has dec, ra; every partition"):
        open_embeddings(mixed)
    pq.write_table(table.drop_columns(["feat_3"]), part)
    with pytest.raises(GalmorphError, match="part=1/emb.parquet lacks columns feat_3"):
        open_embeddings(mixed)

    pq.write_table(table, part)
    opened = read_embedding_folder(mixed)
    pq.write_table(table.slice(0, 2), part)  # changed after it was opened
    with pytest.raises(GalmorphError, match="has 2 rows, not 6 .* open it again"):
        opened.read_features()


def test_a_galaxy_in_two_partitions_is_named(raw_file: Path, tmp_path: Path,
                                            split_embeddings: Split) -> None:
    folder = split_embeddings(raw_file, tmp_path / "emb", SIZES)
    last = folder / "part=2" / "emb.parquet"
    table = pq.read_table(last)
    ids = table.column("id_str").to_pylist()
    first = pq.read_table(folder / "part=0" / "emb.parquet").column("id_str")[0].as_py()
    ids[3] = first
    column = table.schema.get_field_index("id_str")
    pq.write_table(table.set_column(column, "id_str", [ids]), last)
    named = re.escape(f"1 repeated: {first} (in part=0/emb.parquet and part=2/emb.parquet)")
    with pytest.raises(GalmorphError, match=f"unique across the folder's partitions; {named}"):
        read_embedding_folder(folder)
