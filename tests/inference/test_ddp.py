"""Scale-out: training and prediction under Lightning DDP, two CPU processes (gloo).

``galmorph train --devices 2 --strategy ddp`` and ``galmorph predict --devices 2``
run as real commands: Lightning starts the second process by running the same
command again, and the two talk over gloo. The training must share the
batches (half the optimizer steps of one process); the prediction must give
every galaxy once, with the values of a single-process run (to 1e-5). The
catalog has an odd number of galaxies, so a sampler that pads the shares to
equal length would repeat one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from galmorph.data.splits import assign_splits
from galmorph.inference.predict import predict_catalog

N_GALAXIES = 31
BATCH = 4


def galmorph(*args: str | Path, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("LOCAL_RANK", None)  # let Lightning start the processes
    return subprocess.run(
        [sys.executable, "-m", "galmorph", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=env,
    )


def test_ddp_training_and_prediction_match_one_process(
    make_catalog: Callable[..., Path], tmp_path: Path
) -> None:
    catalog = make_catalog(N_GALAXIES)
    run = tmp_path / "run"
    trained = galmorph(
        "train", catalog, "--schema", "gz2-no-odd", "-o", run, "--encoder", "test_convnext",
        "--image-size", "32", "--epochs", "1", "--batch-size", BATCH, "--num-workers", "0",
        "--split", "0.7", "0.3", "0.0", "--accelerator", "cpu", "--devices", "2",
        "--strategy", "ddp",
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    model = run / "model.pt"
    assert model.is_file()
    ids = pd.read_csv(catalog, dtype={"id_str": str})["id_str"]
    n_train = int((assign_splits(ids, (0.7, 0.3, 0.0), 0) == "train").sum())
    last = torch.load(run / "last.ckpt", map_location="cpu", weights_only=False)
    # each process trains on its half of the galaxies (padded to equal halves)
    assert last["global_step"] == -(-n_train // 2) // BATCH < n_train // BATCH
    assert last["epoch"] == 0

    out = tmp_path / "ddp.parquet"
    predicted = galmorph(
        "predict", catalog, "-m", model, "-o", out, "--device", "cpu", "--devices", "2",
        "--num-workers", "0", "--batch-size", BATCH, "--chunk-size", "13", "--no-progress",
    )
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert predicted.stdout.count("Wrote 31 galaxies") == 1  # only the first process writes
    ddp = pd.read_parquet(out)
    single = predict_catalog(catalog, model, device="cpu", num_workers=0, batch_size=BATCH,
                             progress=False, backend="torch")  # as each DDP process runs
    assert ddp["id_str"].is_unique  # no galaxy twice from sampler padding
    assert ddp["id_str"].tolist() == single["id_str"].tolist() == ids.tolist()
    assert list(ddp.columns) == list(single.columns)
    # equal to 1e-5: absolute for values below 1 (fractions, intervals), relative above,
    # since concentrations run to 101, where float32 steps are 8e-6 and batches of other
    # rows may round their last bit differently
    values = [c for c in single.columns if c != "id_str"]
    np.testing.assert_allclose(ddp[values].to_numpy(), single[values].to_numpy(),
                               rtol=1e-5, atol=1e-5)
