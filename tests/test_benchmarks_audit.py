"""benchmarks/: bad input ends in one ``error:`` line (status 2), before any slow work."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from galmorph.exceptions import CatalogError

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = BENCHMARKS.parent / "scripts"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _exit(main, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:  # noqa: ANN001
    """The exit status of ``run_main(main)`` and what it printed on stderr."""
    with pytest.raises(SystemExit) as stopped:
        _load("_cli").run_main(main)
    return stopped.value.code, capsys.readouterr().err


def test_run_main_input_errors(capsys: pytest.CaptureFixture[str]) -> None:
    def bad_catalog() -> None:
        raise CatalogError("catalog x.csv does not exist")

    def missing_file() -> None:
        pd.read_csv("/nonexistent/catalog.csv")

    assert _exit(bad_catalog, capsys) == (2, "error: catalog x.csv does not exist\n")
    status, err = _exit(missing_file, capsys)
    assert status == 2 and err == "error: No such file or directory: /nonexistent/catalog.csv\n"
    assert _exit(lambda: 1, capsys) == (1, "")
    assert _exit(lambda: pd.DataFrame(), capsys) == (0, "")


def test_run_main_keeps_tracebacks_of_bugs() -> None:
    def bug() -> None:
        raise OSError("no file involved")

    with pytest.raises(OSError, match="no file involved"):
        _load("_cli").run_main(bug)
    with pytest.raises(KeyError):
        _load("_cli").run_main(lambda: {}["x"])


@pytest.mark.parametrize(("recipe", "message"), [
    ("{bad", "--recipe r: '{bad' is not JSON"),
    ("[2]", "--recipe r: give finetune() keyword arguments as a JSON object"),
    ('{"lr": 0.001}', "--recipe r: finetune() has no argument lr"),
    ('{"split_seed": 3}', "--recipe r: split_seed set by the benchmark, not a recipe"),
])
def test_finetune_splits_bad_recipe(
    tmp_path: Path, recipe: str, message: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench = _load("bench_finetune_splits")
    monkeypatch.setattr(bench, "finetune", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(SystemExit) as stopped:
        bench.main(["--recipe", "ok", "{}", "--recipe", "r", recipe, "--out", str(tmp_path)])
    assert stopped.value.code == 2 and message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_finetune_benchmarks_check_the_label(
    tmp_path: Path, small_catalog: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    splits = _load("bench_finetune_splits")
    monkeypatch.setattr(splits, "finetune", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(SystemExit) as stopped:
        splits.main(["--catalog", str(small_catalog), "--label", "bars", "--recipe", "a", "{}",
                     "--out", str(tmp_path / "splits")])
    assert stopped.value.code == 2
    assert f"{small_catalog} has no column 'bars' (--label)" in capsys.readouterr().err

    bench = _load("bench_finetune")
    monkeypatch.setattr(bench, "load_model", lambda *a, **k: pytest.fail("model loaded"))
    with pytest.raises(SystemExit) as stopped:
        bench.main(["--catalog", str(small_catalog), "--label", "bars", "--quick",
                    "--out", str(tmp_path / "finetune")])
    assert stopped.value.code == 2
    assert f"{small_catalog} has no column 'bars' (--label)" in capsys.readouterr().err


def test_missing_catalog_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.csv"
    for name, argv in (("bench_starter", [str(missing), "gz2-starter"]),
                       ("bench_onnx", ["--catalog", str(missing)])):
        main = _load(name).main
        assert _exit(lambda main=main, argv=argv: main(argv), capsys) == (
            2, f"error: catalog {missing} does not exist\n")


WRAPPED = ("adapt", "cutouts", "dask", "data", "finetune", "finetune_splits", "gpu", "memory",
           "model", "onnx", "ring_profiles", "similarity", "starter", "web_map")


@pytest.mark.parametrize("name", WRAPPED)
def test_benchmarks_end_through_run_main(name: str) -> None:
    text = (BENCHMARKS / f"bench_{name}.py").read_text()
    assert text.endswith('if __name__ == "__main__":\n    from _cli import run_main\n\n'
                         "    run_main(main)\n")


def test_script_reports_a_missing_catalog_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "none.csv"
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_model.py"), "--catalog", str(missing), "--quick"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr and f"catalog {missing} does not exist" in last
    assert done.stdout == ""


def test_gpu_benchmark_without_cuda(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    bench = _load("bench_gpu")
    monkeypatch.setattr(bench.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(bench, "model_only_training", lambda *a: pytest.fail("trained"))
    with pytest.raises(SystemExit) as stopped:
        bench.main(["catalog.csv"])
    assert stopped.value.code == 2
    assert "no CUDA device here: run it on a GPU machine, or give --device cpu" in (
        capsys.readouterr().err)


def test_anomaly_benchmark_prints_a_line_per_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    bench = _load("bench_anomaly")
    result = {"labels": 200, "fit_s": 0.131, "propose_s": 0.712, "iteration_s": 0.843,
              "n_exact": 2048, "brute_s": 2.861, "recall_at_10": 1.0}
    assert bench.summary_line(result) == (
        "  200 labels: iteration 0.84 s (fit 0.13 s, proposal 0.71 s, 2,048 exact sigma); "
        "every galaxy 2.86 s, recall@10 1.00")
    assert bench.label_sizes("200,500") == [200, 500]
    for bad in ("200,x", "0,5"):
        monkeypatch.setattr(sys, "argv", ["bench_anomaly.py", "--labels", bad])
        with pytest.raises(SystemExit) as stopped:
            bench.main()
        assert stopped.value.code == 2 and "argument --labels" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::galmorph.exceptions.GalmorphWarning")
def test_starter_figures_record_their_split_and_views(
    tmp_path: Path, make_catalog, tiny_model, capsys: pytest.CaptureFixture[str],  # noqa: ANN001
) -> None:
    bench = _load("bench_starter")
    catalog = make_catalog(40)
    out = tmp_path / "figures.json"
    rows = bench.split_rows(catalog, "test", 1)
    [figures] = bench.main([str(catalog), str(tiny_model.model_path), "--split", "test",
                            "--views", "1", "--eval-views", "4", "--out", str(out)])
    assert json.loads(out.read_text())[0]["summed_nll"] == pytest.approx(figures["summed_nll"])
    assert {k: figures[k] for k in ("split", "split_seed", "n_galaxies", "views",
                                    "eval_views")} == {
        "split": "test", "split_seed": 1, "n_galaxies": len(rows), "views": 1, "eval_views": 4}
    assert f"{len(rows)} galaxies in split test (seed 1)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stopped:
        bench.main([str(catalog), "gz2-starter", "--eval-views", "3"])
    assert stopped.value.code == 2


def test_adapt_benchmark_prints_rounded_rows() -> None:
    row = {"model": "crop only", "repeat": 0, "smooth-or-featured": 0.18996072983730936,
           "ring probe": 0.6727272727272727}
    assert _load("bench_adapt").row_line(row) == (
        "draw 0, crop only  smooth-or-featured 0.190  ring probe 0.673")


def test_gz2_catalog_script_reports_bad_catalogs(
    tmp_path: Path, make_catalog, capsys: pytest.CaptureFixture[str],  # noqa: ANN001
) -> None:
    spec = importlib.util.spec_from_file_location("gz2_catalog", SCRIPTS / "gz2_catalog.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    catalog = make_catalog(3)
    script.main([str(tmp_path), "-o", str(tmp_path / "copied"), "--copy-images"])
    assert len(pd.read_csv(tmp_path / "copied" / "catalog.csv")) == 3
    (tmp_path / pd.read_csv(catalog)["file_loc"][1]).unlink()
    missing = r"^error: .*catalog.csv: image .*jpg does not exist \(1 missing\)$"
    with pytest.raises(SystemExit, match=missing):
        script.main([str(tmp_path), "-o", str(tmp_path / "again"), "--copy-images"])
    pd.read_csv(catalog).drop(columns="file_loc").to_csv(catalog, index=False)
    with pytest.raises(SystemExit, match=r"^error: .*catalog.csv has no column file_loc$"):
        script.main([str(tmp_path), "-o", str(tmp_path / "again")])
    assert capsys.readouterr().out.endswith("copied/catalog.csv: 3 galaxies\n")


def test_ring_profiles_find_a_ring_and_its_colour() -> None:
    bench = _load("bench_ring_profiles")
    side = 101
    y, x = np.mgrid[:side, :side] - (side - 1) / 2
    radius = np.hypot(y, x)
    disc = 200 * np.exp(-radius / 6)
    ring = 60 * np.exp(-((radius - 30) / 3) ** 2)  # blue: bright in the third band
    pixels = np.stack([disc, disc, disc + ring], axis=-1)
    polar = bench.polar_image(pixels, max_radius=50)
    assert polar.shape == (3, bench.N_RADII, bench.N_ANGLES)
    measures = bench.ring_measures(polar)
    radii = np.linspace(0, 50, bench.N_RADII)
    outside = (radii > 15) & (radii < 45)
    assert abs(radii[outside][np.argmax(measures["median"][outside])] - 30) < 1.5
    assert abs(radii[np.argmin(measures["colour"])] - 30) < 1.5  # bluest at the ring
    assert measures["uniformity"].max() < 0.05  # round: the same at every position angle
    barred = pixels.copy()
    barred[45:56, :, :] += 80  # a horizontal bar: bright on two sides only
    assert bench.ring_measures(bench.polar_image(barred, 50))["uniformity"].max() > 0.3


def test_examples_benchmark_scores_each_way_against_the_tag() -> None:
    """Two clusters, the tag one of them: every way finds only tagged galaxies, and the
    share is what a random pick scores."""
    from galmorph.inference.embeddings import EmbeddingInfo, Embeddings
    from galmorph.search.search import SimilaritySearch

    bench = _load("bench_examples")
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(0, 0.1, (40, 4)) + [5, 0, 0, 0],
                               rng.normal(0, 0.1, (60, 4)) + [0, 5, 0, 0]]).astype(np.float32)
    info = EmbeddingInfo(model={"spec": "-", "path": "-", "name": "-", "sha256": "-"},
                         encoder="-", feature_dim=4, image={}, n_features=4)
    emb = Embeddings(ids=np.array([f"G{i}" for i in range(100)], dtype=object),
                     features=features, info=info)
    assert bench.split_embeddings(emb, None) is emb
    tags = pd.DataFrame({"first": np.arange(100) < 40, "few": np.arange(100) < 5})
    rows = bench.measure(SimilaritySearch(emb), tags, n_examples=3, k=20, repeats=2,
                         min_members=10, seed=0)
    assert [row["tag"] for row in rows] == ["first"]  # 5 members: too few to draw from
    row = rows[0]
    assert row["members"] == 40 and row["share"] == pytest.approx(0.4)
    for way in ("centroid", "nearest", "rank", "one example"):
        assert row[way] == (pytest.approx(1.0), pytest.approx(0.0)), way
