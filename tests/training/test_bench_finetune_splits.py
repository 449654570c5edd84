"""benchmarks/bench_finetune_splits.py: recipes over validation splits, resumable."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galmorph.inference.predict import predict_catalog
from galmorph.training.targets import normalise_classes, stratified_split
from galmorph.training.train import TrainResult

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_finetune_splits.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_finetune_splits", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recipes_over_splits(
    tmp_path: Path, ring_frame: pd.DataFrame, tiny_model: TrainResult,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    bench = _bench()
    catalog = tmp_path / "rings.csv"
    ring_frame.to_csv(catalog, index=False)
    fast = {"model": str(tiny_model.model_path), "epochs": 1, "batch_size": 8}
    recipes = ["--recipe", "head", json.dumps({**fast, "n_blocks": 0}),
               "--recipe", "probe", json.dumps({**fast, "n_blocks": 0, "head_init": "probe"})]
    argv = ["--catalog", str(catalog), *recipes, "--seeds", "0", "1", "--views", "1",
            "--num-workers", "0", "--out", str(tmp_path / "out")]
    summary = bench.main(argv)
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert len(runs) == 4 and set(runs["recipe"]) == {"head", "probe"}
    assert set(runs.loc[runs["recipe"] == "probe", "kept"]) <= {"probe", "best epoch"}
    for name, row in summary.iterrows():
        accuracies = runs.loc[runs["recipe"] == name, "accuracy"]
        assert row["mean"] == pytest.approx(accuracies.mean())
        assert row["spread"] == pytest.approx(accuracies.max() - accuracies.min())
    assert "probe" in capsys.readouterr().out

    # each accuracy is that of the model kept, on its own split's validation galaxies
    run = runs.iloc[3]
    values = normalise_classes(ring_frame["ring"])
    val = ring_frame[stratified_split(values, ring_frame["id_str"], 0.2, int(run["seed"]))]
    model = tmp_path / "out" / "models" / f"{run['recipe']}-split{run['seed']}" / "model.pt"
    table = predict_catalog(val, model, views=1, num_workers=0, progress=False)
    expected = np.mean(table["predicted_label"].to_numpy() == val["ring"].to_numpy())
    assert run["accuracy"] == pytest.approx(expected) and run["n_val"] == len(val)

    # finished runs are read back, not trained again
    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(bench, "finetune", no_training)
    again = bench.main(argv)
    pd.testing.assert_frame_equal(again, summary)
