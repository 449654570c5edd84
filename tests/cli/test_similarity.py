"""The ``embed``, ``similar`` and ``similar-eval`` commands, end to end on bundled galaxies.

A tiny untrained ``test_convnext`` model stands in for the starter model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from galmorph.cli import main

N_GALAXIES = 16
CPU = ["--device", "cpu", "--num-workers", "0"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path,
          demo_catalog: pd.DataFrame, untrained_model: Path) -> dict[str, Path]:
    """A catalog of bundled galaxies (relative image paths), a model and its embeddings."""
    root = tmp_path_factory.mktemp("cli")
    frame = demo_catalog.head(N_GALAXIES)
    (root / "images").mkdir()
    for loc in frame["file_loc"]:
        shutil.copyfile(demo_dir / loc, root / loc)
    frame.to_csv(root / "catalog.csv", index=False)
    shutil.copyfile(untrained_model, root / "tiny.pt")
    status = main(["embed", str(root / "catalog.csv"), "-m", str(root / "tiny.pt"), "-o",
                   str(root / "emb.parquet"), "--pca", "4", "--no-progress", *CPU])
    assert status == 0
    return {"root": root, "catalog": root / "catalog.csv", "model": root / "tiny.pt",
            "embeddings": root / "emb.parquet"}


def similar_json(embeddings: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    assert main(["similar", str(embeddings), "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_commands_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in ("embed", "similar", "similar-eval"))


def test_embed_writes_every_galaxy(files: dict[str, Path]) -> None:
    table = pd.read_parquet(files["embeddings"])
    catalog = pd.read_csv(files["catalog"])
    assert table["id_str"].tolist() == catalog["id_str"].tolist()
    assert [c for c in table if c.startswith("feat_")] == ["feat_0", "feat_1", "feat_2", "feat_3"]
    assert table["file_loc"].tolist() == [str(files["root"] / p) for p in catalog["file_loc"]]


def test_embed_with_stages_says_so_and_rejects_bad_ones(
        files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = files["root"] / "stages.parquet"
    base = ["embed", str(files["catalog"]), "-m", str(files["model"]), "-o", str(out),
            "--no-progress", "--views", "1", *CPU]
    capsys.readouterr()
    assert main([*base, "--stages", "1"]) == 0
    assert "96 features (encoder stages 1 and its output)" in capsys.readouterr().out
    assert pd.read_parquet(out).filter(like="feat_").shape == (N_GALAXIES, 32 + 64)
    out.unlink()
    assert main([*base, "--stages", "3"]) != 0
    assert "stages must be different numbers from 0 to 2" in " ".join(
        capsys.readouterr().err.split())
    assert not out.exists()


def test_similar_by_id_prints_and_draws(files: dict[str, Path],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    query = pd.read_csv(files["catalog"])["id_str"][2]
    grid = files["root"] / "g.png"
    capsys.readouterr()
    assert main(["similar", str(files["embeddings"]), "--id", query, "-k", "4",
                 "--grid", str(grid)]) == 0
    out = capsys.readouterr().out
    assert f"Query: {query}" in out and "cosine distance; exact search" in out
    with Image.open(grid) as png:
        png.verify()

    result = similar_json(files["embeddings"], "--id", query, "-k", "4", "--metric",
                          "manhattan", capsys=capsys)
    neighbours = result["neighbours"]
    assert [n["rank"] for n in neighbours] == [1, 2, 3, 4]
    assert query not in [n["id_str"] for n in neighbours]
    assert sorted(n["distance"] for n in neighbours) == [n["distance"] for n in neighbours]
    assert result["query"]["id_str"] == query and result["metric"] == "manhattan"


def test_similar_by_position_and_by_image(files: dict[str, Path],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    catalog = pd.read_csv(files["catalog"])
    ra, dec = catalog["ra"][5], catalog["dec"][5]
    by_position = similar_json(files["embeddings"], "--ra", str(ra + 1e-4), "--dec", str(dec),
                               capsys=capsys)
    assert by_position["query"]["id_str"] == catalog["id_str"][5]
    assert by_position["query"]["separation_arcsec"] < 1
    by_id = similar_json(files["embeddings"], "--id", catalog["id_str"][5], capsys=capsys)
    assert by_position["neighbours"] == by_id["neighbours"]

    image = files["root"] / catalog["file_loc"][5]
    by_image = similar_json(files["embeddings"], "--image", str(image), "-m",
                            str(files["model"]), "--device", "cpu", capsys=capsys)
    assert [n["id_str"] for n in by_image["neighbours"]] == [n["id_str"]
                                                             for n in by_id["neighbours"]]
    np.testing.assert_allclose([n["distance"] for n in by_image["neighbours"]],
                               [n["distance"] for n in by_id["neighbours"]], atol=1e-4)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--id", "J000000.00+000000.0"], "no galaxy with id 'J000000.00+000000.0'"),
        (["--ra", "1.0", "--dec", "-80.0"], "no galaxy within 5 arcsec of RA 1.000000"),
        (["--id", "x", "--metric", "manhattan", "--index", "hnsw"], "searched exactly only"),
        (["--id", "x", "--grid", "grid.txt"], "cannot draw grid.txt"),
        (["--image", "nowhere.jpg"], "image file not found: nowhere.jpg"),
    ],
)
def test_similar_errors_are_clear(files: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                  args: list[str], message: str) -> None:
    capsys.readouterr()
    assert main(["similar", str(files["embeddings"]), *args]) == 2
    assert message in " ".join(capsys.readouterr().err.split())


def test_similar_needs_ra_with_dec(files: dict[str, Path],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["similar", str(files["embeddings"]), "--ra", "10"])
    assert exit_info.value.code == 2 and "--ra and --dec go together" in capsys.readouterr().err


def test_similar_eval_prints_every_baseline(files: dict[str, Path],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out_json = files["root"] / "eval.json"
    capsys.readouterr()
    assert main(["similar-eval", str(files["embeddings"]), "--catalog", str(files["catalog"]),
                 "-k", "3", "--json", str(out_json), "--no-progress", *CPU]) == 0
    out = capsys.readouterr().out
    for heading in ("random", "pixel PCA", "untrained", "votes", "model", "mean all",
                    "mean trained", "smooth", "ring"):
        assert heading in out
    result = json.loads(out_json.read_text())
    assert result["methods"] == ["random", "pixels", "untrained", "votes", "model"]
    assert result["n_galaxies"] == N_GALAXIES and result["k"] == 3


@pytest.fixture(scope="module")
def partitioned(files: dict[str, Path]) -> dict[str, Path]:
    """The catalog cut into 3 parquet partitions, embedded into a folder by galmorph embed,
    and embedded as one file the same way (raw features: partitions take no --pca)."""
    root = files["root"]
    catalog = pd.read_csv(files["catalog"], dtype={"id_str": str})
    catalog["file_loc"] = [str(root / loc) for loc in catalog["file_loc"]]
    (root / "cat").mkdir()
    for i, (start, stop) in enumerate([(0, 5), (5, 6), (6, N_GALAXIES)]):
        catalog.iloc[start:stop].to_parquet(root / "cat" / f"part-{i}.parquet", index=False)
    same = ["-m", str(files["model"]), "--views", "1", "--no-progress", "--device", "cpu"]
    assert main(["embed", str(root / "cat"), "-o", str(root / "emb_parts"), *same]) == 0
    assert main(["embed", str(files["catalog"]), "-o", str(root / "raw.parquet"), *same,
                 "--num-workers", "0"]) == 0
    return {"folder": root / "emb_parts", "file": root / "raw.parquet"}


def test_similar_searches_a_partitioned_folder_as_its_file(
        files: dict[str, Path], partitioned: dict[str, Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    catalog = pd.read_csv(files["catalog"], dtype={"id_str": str})
    query = catalog["id_str"][7]
    folder, file = partitioned["folder"], partitioned["file"]
    assert (folder / "_manifest.json").is_file()
    expected = similar_json(file, "--id", query, "-k", "5", capsys=capsys)
    for extra in ([], ["--index", "ivf"]):
        found = similar_json(folder, "--id", query, "-k", "5", *extra, capsys=capsys)
        assert found["index"] == (extra[-1] if extra else "exact")
        assert [n["id_str"] for n in found["neighbours"]] == [
            n["id_str"] for n in expected["neighbours"]]
        assert [n["row"] for n in found["neighbours"]] == [n["row"] for n in expected["neighbours"]]
        np.testing.assert_allclose([n["distance"] for n in found["neighbours"]],
                                   [n["distance"] for n in expected["neighbours"]], atol=1e-5)
    assert (folder / "_index.ivf-cosine.faiss").is_file()
    by_position = similar_json(folder, "--ra", str(catalog["ra"][7]), "--dec",
                               str(catalog["dec"][7]), "-k", "5", capsys=capsys)
    assert by_position["query"]["id_str"] == query
    by_image = similar_json(folder, "--image", str(files["root"] / catalog["file_loc"][7]),
                            "-k", "5", "--device", "cpu", capsys=capsys)
    assert [n["id_str"] for n in by_image["neighbours"]] == [
        n["id_str"] for n in expected["neighbours"]]


def test_similar_names_what_is_wrong_with_a_folder(
        files: dict[str, Path], partitioned: dict[str, Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    empty = files["root"] / "no_parquet"
    empty.mkdir()
    capsys.readouterr()
    assert main(["similar", str(empty), "--id", "x"]) == 2
    assert "holds no embeddings: no parquet files" in " ".join(capsys.readouterr().err.split())
    assert main(["similar", str(partitioned["folder"]), "--id", "x", "--index", "hnsw"]) == 2
    assert "use --index ivf (or auto), not hnsw" in " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize(("column", "value", "expected"), [
    ("t01_smooth_or_features_a01_smooth_count", "abc", "must hold vote counts"),
    ("t01_smooth_or_features_a01_smooth_count", -4, "must hold vote counts"),
    ("lab", "a", "must be a boolean (0/1) tag column"),
])
def test_similar_eval_rejects_bad_catalog_values(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], column: str, value: object,
        expected: str) -> None:
    from galmorph.data.schemas import get_schema
    from galmorph.inference.embeddings import METADATA_KEY, EmbeddingInfo, feature_columns
    from galmorph.inference.outputs import write_table

    ids = [f"G{i}" for i in range(8)]
    info = EmbeddingInfo(model={"spec": "none", "path": "none", "name": "none", "sha256": "0"},
                         encoder="none", feature_dim=3, image={}, n_features=3)
    features = pd.DataFrame(np.random.default_rng(0).normal(size=(8, 3)),
                            columns=feature_columns(3))
    emb = write_table(pd.concat([pd.DataFrame({"id_str": ids}), features], axis=1),
                      tmp_path / "emb.parquet", {METADATA_KEY: info.to_json()})
    catalog = pd.DataFrame(0, index=range(8), columns=get_schema("gz2").label_cols)
    catalog.insert(0, "id_str", ids)
    catalog.insert(1, "file_loc", [f"{i}.jpg" for i in ids])
    for loc in catalog["file_loc"]:
        (tmp_path / loc).touch()
    catalog["lab"] = [0, 1] * 4
    catalog[column] = catalog[column].astype(object)
    catalog.loc[5, column] = value
    catalog.to_csv(tmp_path / "cat.csv", index=False)
    capsys.readouterr()
    assert main(["similar-eval", str(emb), "--catalog", str(tmp_path / "cat.csv"),
                 "--baselines", "random", "--tags", "lab" if column == "lab" else "smooth",
                 "--no-progress", *CPU]) == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert f"error: {tmp_path / 'cat.csv'}: column {column!r} {expected}" in err
    assert f"row 5 (G5): {value}" in err and "Traceback" not in err
