"""The ``embed``, ``similar`` and ``similar-eval`` commands, end to end on bundled galaxies.

A tiny untrained ``test_convnext`` model stands in for the starter model.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from galmorph.cli import build_parser, main
from galmorph.search import SimilaritySearch

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
        (["--image", "."], ".: a folder, not an image file: give the image file itself"),
    ],
)
def test_similar_errors_are_clear(files: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                  args: list[str], message: str) -> None:
    capsys.readouterr()
    assert main(["similar", str(files["embeddings"]), *args]) == 2
    assert message in " ".join(capsys.readouterr().err.split())


def test_similar_takes_sexagesimal_positions(files: dict[str, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from astropy.coordinates import SkyCoord

    catalog = pd.read_csv(files["catalog"])
    expected = similar_json(files["embeddings"], "--id", catalog["id_str"][5], capsys=capsys)
    place = SkyCoord(catalog["ra"][5], catalog["dec"][5], unit="deg")
    for style in ({"sep": ":"}, {}):  # 09:02:03.350 +59:05:29.900, 9h02m03.35s +59d05m29.9s
        ra, dec = place.to_string("hmsdms", precision=3, **style).split()
        found = similar_json(files["embeddings"], "--ra", ra, "--dec", dec, capsys=capsys)
        assert found["query"]["id_str"] == catalog["id_str"][5]
        assert found["neighbours"] == expected["neighbours"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--id", "a", "--id", "b"], "--id given twice: galmorph similar takes one query per run"),
        (["--ra", "10", "--dec", "1", "--dec", "2"], "--dec given twice"),
        (["--ra", "12:xx", "--dec", "1"], "expected degrees or sexagesimal (e.g. 135.514"),
        (["--ra", "10", "--dec", "5h"], "a declination is in degrees, not hours"),
        (["--id", "a", "--match-radius", "-1"], "--match-radius: expected arcsec of 0 or more"),
        (["--id", "a", "--duplicate-radius", "nan"], "expected arcsec of 0 or more, got nan"),
        (["--id", "a", "-m", "other.pt"], "-m/--model and --device are for --image queries"),
        (["--ra", "10", "--dec", "1", "--device", "cuda"], "are for --image queries"),
        (["--id", "a", "--match-radius", "9"], "--match-radius is for --ra/--dec queries"),
    ],
)
def test_similar_usage_errors_exit_2(files: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                     args: list[str], message: str) -> None:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["similar", str(files["embeddings"]), *args])
    err = " ".join(capsys.readouterr().err.split())
    assert exit_info.value.code == 2 and message in err and "Traceback" not in err


def test_similar_names_the_galaxy_a_copy_of_the_query_image_is(
        files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = pd.read_csv(files["catalog"])
    copy = tmp_path / "downloaded again.jpg"
    shutil.copyfile(files["root"] / catalog["file_loc"][5], copy)
    by_copy = similar_json(files["embeddings"], "--image", str(copy), capsys=capsys)
    by_id = similar_json(files["embeddings"], "--id", catalog["id_str"][5], capsys=capsys)
    assert by_copy["query"]["same_as"] == [catalog["id_str"][5]]
    assert SimilaritySearch(files["embeddings"]).by_image(copy).to_dict() == by_copy  # = Python
    first, *others = by_copy["neighbours"]  # the copy's galaxy is nearest, and marked
    assert first["id_str"] == catalog["id_str"][5] and first["distance"] < 1e-6
    assert [n["id_str"] for n in others] == [n["id_str"] for n in by_id["neighbours"][:-1]]
    import galmorph.report.plots as plots

    drawn: list[list[str]] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plots, "galaxy_grid", lambda files, captions, **kw: drawn.append(captions))
        assert main(["similar", str(files["embeddings"]), "--image", str(copy), "-k", "2",
                     "--grid", str(tmp_path / "g.png")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"the same image as {catalog['id_str'][5]} (rank 1) in the embeddings" in out
    assert drawn[0][0] == f"query image\ndownloaded again.jpg\n= {catalog['id_str'][5]}"
    assert drawn[0][1].endswith("distance 0 (the query)")
    original = similar_json(files["embeddings"], "--image", str(files["root"] /
                            catalog["file_loc"][5]), capsys=capsys)  # by its own path: left out
    assert original["query"]["same_as"] == [catalog["id_str"][5]]
    assert [n["id_str"] for n in original["neighbours"]] == [n["id_str"]
                                                             for n in by_id["neighbours"]]


def test_similar_embeds_an_image_on_the_cpu_as_python_and_serve_do() -> None:
    args = build_parser().parse_args(["similar", "emb.parquet", "--image", "new.jpg"])
    assert args.device == "cpu"  # "auto" took a GPU, whose bfloat16 changes the features


def test_similar_says_when_fewer_neighbours_exist(files: dict[str, Path],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    query = pd.read_csv(files["catalog"])["id_str"][0]
    capsys.readouterr()
    assert main(["similar", str(files["embeddings"]), "--id", query, "-k", "50"]) == 0
    captured = capsys.readouterr()
    assert f"only {N_GALAXIES - 1} neighbours of the 50 asked for" in " ".join(
        captured.err.split())
    assert "--grid neighbours.png" in captured.out  # what to do next


def test_similar_refuses_empty_embeddings_and_unwritable_grids(
        files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pyarrow.parquet as pq

    empty = tmp_path / "empty.parquet"
    pq.write_table(pq.read_table(files["embeddings"]).slice(0, 0), empty)
    capsys.readouterr()
    assert main(["similar", str(empty), "--ra", "10", "--dec", "0"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"error: {empty} holds no galaxies" in err and "Traceback" not in err
    grid = files["catalog"] / "g.png"  # under a file, not a folder
    assert main(["similar", str(files["embeddings"]), "--id", "x", "--grid", str(grid)]) == 2
    assert f"cannot write --grid {grid}" in " ".join(capsys.readouterr().err.split())


def test_a_grid_never_replaces_a_galaxys_image(files: dict[str, Path],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    catalog = pd.read_csv(files["catalog"])
    image = files["catalog"].parent / catalog["file_loc"].iloc[-1]  # not drawn: not a neighbour
    before = image.read_bytes()
    capsys.readouterr()
    assert main(["similar", str(files["embeddings"]), "--id", catalog["id_str"][0], "-k", "2",
                 "--grid", str(image)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"error: --grid {image} is the image of a galaxy in the embeddings" in err
    assert image.read_bytes() == before


def test_an_interrupted_grid_leaves_the_old_picture(
        files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    grid = tmp_path / "g.png"
    grid.write_bytes(b"old picture")

    def interrupted(self: Figure, fname: object, *args: object, **kwargs: object) -> None:
        Path(str(fname)).write_bytes(b"half a png")
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", interrupted)
    query = pd.read_csv(files["catalog"])["id_str"][0]
    assert main(["similar", str(files["embeddings"]), "--id", query, "--grid", str(grid)]) == 130
    assert grid.read_bytes() == b"old picture" and list(tmp_path.iterdir()) == [grid]


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


def test_similar_eval_checks_k_and_json_before_evaluating(
        files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base = ["similar-eval", str(files["embeddings"]), "--catalog", str(files["catalog"]),
            "--baselines", "random", "--no-progress", *CPU]
    capsys.readouterr()
    assert main([*base, "-k", str(N_GALAXIES)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"only {N_GALAXIES - 1} others each: use -k {N_GALAXIES - 1} or less" in err
    out_json = files["catalog"] / "eval.json"  # under a file, not a folder
    assert main([*base, "--json", str(out_json)]) == 2
    captured = capsys.readouterr()
    assert f"cannot write --json {out_json}" in " ".join(captured.err.split())
    assert "Tag retrieval" not in captured.out


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
    err = " ".join(capsys.readouterr().err.split())
    assert "use --index ivf or auto, not hnsw" in err


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


@pytest.mark.parametrize("output", [["--json"], []])
def test_a_reader_that_stops_early_gets_no_traceback(files: dict[str, Path],
                                                     output: list[str]) -> None:
    """``galmorph similar ... | true``: the reader is gone before the first line is written."""
    command = [sys.executable, "-m", "galmorph", "similar", str(files["embeddings"]), "--id",
               "-k", str(N_GALAXIES - 1), *output]
    command.insert(command.index("--id") + 1, pd.read_csv(files["catalog"])["id_str"][0])
    script = f"{shlex.join(command)} | true; echo status=${{PIPESTATUS[0]}} >&2"
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "100"})
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert done.stderr.strip().endswith("status=1"), done.stderr
