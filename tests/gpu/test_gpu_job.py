"""The GPU job, packed and run on the CPU with ``--tiny`` before it ever meets a GPU."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import torch

from galmorph.models.checkpoint import load_model

ROOT = Path(__file__).resolve().parents[2]
MiB = 1 << 20


def test_tiny_gpu_job_packs_runs_and_reports_within_the_limits(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "HF_HUB_OFFLINE": "1"}
    bundle, out = tmp_path / "bundle", tmp_path / "out"
    packed = subprocess.run(
        ["bash", str(ROOT / "scripts" / "pack_gpu_job.sh"), str(bundle), "--tiny"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert packed.returncode == 0, packed.stderr
    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    assert size <= 64 * MiB
    with tarfile.open(bundle / "galmorph-src.tar.gz") as source:
        names = source.getnames()
    assert "src/galmorph/training/train.py" in names and "scripts/gpu_job.sh" in names
    assert not any(n.startswith((".venv", ".git/")) for n in names)

    ran = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_job.sh"), "--tiny", str(bundle), str(out)],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(files) <= 8 and all(p.stat().st_size <= 16 * MiB for p in files)
    assert "4 passed" in (out / "job.log").read_text()
    with tarfile.open(out / "logs.tar.gz") as logs:
        assert "./tests.log" in logs.getnames()

    throughput = json.loads((out / "throughput.json").read_text())
    for task in ("train", "predict"):
        assert throughput[f"{task}_model_only"] > 0 and throughput[f"{task}_pipeline"] > 0
        ratio = throughput[f"{task}_pipeline"] / throughput[f"{task}_model_only"]
        assert throughput[f"{task}_ratio"] == ratio
    assert throughput["predict_loader_only"] > 0 and throughput["predict_file_ratio"] > 0
    assert throughput["large_image_px"] == 128  # --tiny packs the demo images as the large ones
    assert throughput["large_loader_only"] > 0 and throughput["large_predict_ratio"] > 0

    candidates = json.loads((out / "candidates.json").read_text())
    assert set(candidates) == {"a-atto-scratch", "b-lite0-imagenet"}
    for name, row in candidates.items():
        assert row["epochs_completed"] == 1 and math.isfinite(row["best_val_loss"])
        assert row["hardware"]["device"].startswith("cpu (")  # --tiny runs on the CPU
        loaded = load_model(out / f"cand-{name}.pt")
        assert loaded.metadata["training"]["split"]["seed"] == 0
    imagenet = torch.load(out / "cand-b-lite0-imagenet.pt", weights_only=False)["galmorph"]
    assert imagenet["training"]["start"]["init"] == "imagenet"
    assert "done: tests exit 0, benchmark exit 0" in (out / "job.log").read_text()
