"""Train, predict, embed and fine-tune on an accelerator in bfloat16 mixed precision.

The accelerator is ``$GALMORPH_TEST_ACCELERATOR`` (``cuda`` or ``cpu``); unset, it
is ``cuda`` when a CUDA GPU is present, and these tests are skipped otherwise.
``scripts/gpu_job.sh`` runs them on the GPU, and its ``--tiny`` test in the suite
runs them on the CPU (``GALMORPH_TEST_ACCELERATOR=cpu``), so they are known to
work before they meet a GPU.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from galmorph.data import bundled
from galmorph.inference.embed import embed_catalog
from galmorph.inference.predict import predict_catalog
from galmorph.training.finetune import finetune
from galmorph.training.train import train

ACCELERATOR = os.environ.get("GALMORPH_TEST_ACCELERATOR") or (
    "cuda" if torch.cuda.is_available() else None
)
pytestmark = [
    pytest.mark.accelerator,
    pytest.mark.skipif(ACCELERATOR is None, reason="no CUDA GPU (set GALMORPH_TEST_ACCELERATOR)"),
]


@pytest.fixture(scope="module")
def galaxies(demo_catalog: pd.DataFrame) -> pd.DataFrame:
    frame = demo_catalog.head(96).copy()
    frame["file_loc"] = [str(bundled.demo_dir() / loc) for loc in frame["file_loc"]]
    return frame


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, galaxies: pd.DataFrame) -> Path:
    """A vote model trained for two epochs in bf16 on the accelerator."""
    if ACCELERATOR == "cuda":
        torch.cuda.reset_peak_memory_stats()
    result = train(
        galaxies, "gz2-no-odd", tmp_path_factory.mktemp("accelerated"),
        encoder="test_convnext", image_size=32, epochs=2, batch_size=16, num_workers=0,
        accelerator="gpu" if ACCELERATOR == "cuda" else "cpu", devices=1,
        precision="bf16-mixed", progress=False,
    )
    assert result.best_val_loss is not None and np.isfinite(result.best_val_loss)
    if ACCELERATOR == "cuda":  # it really ran there
        assert torch.cuda.max_memory_allocated() > 0
    return result.model_path


def test_bf16_training_lowers_the_loss_from_its_start(trained: Path) -> None:
    training = torch.load(trained, weights_only=False)["galmorph"]["training"]
    assert training["best_val_loss"] < training["initial_val_loss"]
    hardware = training["hardware"]  # what it ran on, recorded
    assert hardware["precision"] == "bf16-mixed" and hardware["devices"] == 1
    if ACCELERATOR == "cuda":
        assert hardware["device"] == torch.cuda.get_device_name(0)
    else:
        assert hardware["device"].startswith("cpu (")


def test_prediction_on_the_accelerator_matches_the_cpu(
    trained: Path, galaxies: pd.DataFrame
) -> None:
    options = {"num_workers": 0, "progress": False, "batch_size": 32}
    here = predict_catalog(galaxies, trained, device=ACCELERATOR, **options)
    cpu = predict_catalog(galaxies, trained, device="cpu", **options)
    assert list(here["id_str"]) == list(galaxies["id_str"])
    fractions = [c for c in cpu.columns if c.endswith("_fraction")]
    assert fractions
    # bf16 keeps ~3 significant digits; the head computes in float32
    np.testing.assert_allclose(here[fractions], cpu[fractions], atol=0.03)


def test_embeddings_on_the_accelerator_match_the_cpu(
    trained: Path, galaxies: pd.DataFrame
) -> None:
    options = {"num_workers": 0, "progress": False, "views": 1}
    here = embed_catalog(galaxies, trained, device=ACCELERATOR, **options)
    cpu = embed_catalog(galaxies, trained, device="cpu", **options)
    features = [c for c in cpu.columns if c.startswith("feat_")]
    a, b = here[features].to_numpy(), cpu[features].to_numpy()
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() > 0.99


def test_finetuning_in_bf16_on_the_accelerator(
    tmp_path: Path, trained: Path, galaxies: pd.DataFrame
) -> None:
    labelled = galaxies.assign(
        ring=(galaxies["t01_smooth_or_features_a02_features_or_disk_count"] > 20).astype(int)
    )
    result = finetune(
        labelled, tmp_path, label="ring", model=trained, n_blocks=1, epochs=2, batch_size=16,
        num_workers=0, accelerator="gpu" if ACCELERATOR == "cuda" else "cpu", devices=1,
        precision="bf16-mixed", progress=False,
    )
    assert result.best_val_loss is not None and np.isfinite(result.best_val_loss)
    predicted = predict_catalog(labelled, result.model_path, device=ACCELERATOR,
                                num_workers=0, progress=False)
    assert set(predicted["predicted_label"].astype(int)) <= {0, 1}
    np.testing.assert_allclose(predicted["prob_0"] + predicted["prob_1"], 1, atol=1e-5)
