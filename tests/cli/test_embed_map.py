"""``galmorph embed --map``: the map of the embeddings, cached beside a file or in a folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from galmorph.cli import main
from galmorph.inference.embedding_folder import open_embeddings
from galmorph.inference.maps import read_map

FAST = ["--device", "cpu", "--num-workers", "0", "--no-progress", "--views", "1"]


def test_embed_map_writes_the_map_beside_the_file(
    capsys: pytest.CaptureFixture[str], make_catalog, untrained_model: Path, tmp_path: Path,
) -> None:
    catalog = make_catalog(8)
    out = tmp_path / "emb.parquet"
    status = main(["embed", str(catalog), "-o", str(out), "-m", str(untrained_model), "--map",
                   "--map-method", "pca", *FAST])
    stdout = " ".join(capsys.readouterr().out.split())
    assert status == 0
    assert "computing the map: PCA of 8 galaxies..." in stdout
    assert "Wrote the map (PCA, " in stdout and "emb.map.parquet" in stdout
    galaxy_map = read_map(tmp_path / "emb.map.parquet", open_embeddings(out).ids)
    assert galaxy_map is not None and galaxy_map.method == "pca"
    assert galaxy_map.ids.tolist() == pd.read_csv(catalog, dtype=str)["id_str"].tolist()


def test_embed_map_of_a_partitioned_catalog(
    capsys: pytest.CaptureFixture[str], make_catalog, untrained_model: Path, tmp_path: Path,
) -> None:
    frame = pd.read_csv(make_catalog(6), dtype=str)
    frame["file_loc"] = [str(tmp_path / loc) for loc in frame["file_loc"]]
    (tmp_path / "cat").mkdir()
    for i in range(3):
        frame.iloc[2 * i:2 * i + 2].to_parquet(tmp_path / "cat" / f"p{i}.parquet", index=False)
    out = tmp_path / "emb"
    status = main(["embed", str(tmp_path / "cat"), "-o", str(out), "-m", str(untrained_model),
                   "--map", *FAST])
    assert status == 0, capsys.readouterr().err
    assert "computing the map: PCA of 6 galaxies" in capsys.readouterr().out
    folder = open_embeddings(out)
    assert len(folder.partitions) == 3 and len(folder) == 6  # _map.parquet is no partition
    galaxy_map = read_map(out / "_map.parquet", folder.ids)
    assert galaxy_map is not None and sorted(galaxy_map.ids) == sorted(frame["id_str"])


def test_map_method_needs_map(capsys: pytest.CaptureFixture[str], small_catalog: Path,
                              tmp_path: Path) -> None:
    status = main(["embed", str(small_catalog), "-o", str(tmp_path / "e.parquet"),
                   "--map-method", "umap"])
    assert status == 2 and "--map-method: only with --map" in capsys.readouterr().err
    assert not (tmp_path / "e.parquet").exists()
