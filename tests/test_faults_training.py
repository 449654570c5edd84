"""Fault tests of ``galmorph train``: killed with SIGKILL at seeded points, then resumed.

The process machinery (kill points, the forkserver) is in ``tests/_faults.py``. The
resumed run is compared with an uninterrupted one: the same number of epochs, no
unreadable checkpoint at any time, and a best validation loss within the run-to-run
noise, measured here as the spread of uninterrupted runs with other seeds.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import torch
from tests._faults import SEED, hidden_leftovers, in_parallel, run_galmorph, start_forkserver

from galmorph.data.splits import assign_splits


@pytest.fixture(scope="module", autouse=True)
def forkserver() -> None:
    """Start the forkserver (and its imports) before any run is timed."""
    start_forkserver()


# ------------------------------------------------------------------ training
TRAIN_IMAGES = 56
EPOCHS = 3
BATCH = 8


def _train_argv(catalog: Path, out: Path, seed: int = 0) -> list[str | Path]:
    return [
        "train", catalog, "--schema", "gz2-no-odd", "-o", out, "--encoder", "test_convnext",
        "--image-size", "32", "--epochs", str(EPOCHS), "--batch-size", str(BATCH),
        "--num-workers", "0", "--split", "0.7", "0.3", "0.0", "--seed", str(seed),
        "--lr", "3e-3",
    ]


def _checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def _training(out: Path) -> dict:
    """Epochs done (from last.ckpt) and the model file's training record."""
    record = torch.load(out / "model.pt", map_location="cpu", weights_only=False)
    return {"epochs": _checkpoint(out / "last.ckpt")["epoch"] + 1,
            **record["galmorph"]["training"]}


def _train_kill_points(n_train: int, n_val: int, rng: random.Random) -> list[tuple[str, str]]:
    """Seeded kill points spread over a run; (name, hook) where the hook may be ``delay:F``."""
    per_epoch = n_train // BATCH  # the last partial training batch is dropped
    val_batches = -(-n_val // BATCH)
    # validation steps: the initial validation, Lightning's sanity check (2), then each epoch
    before_epoch_1_val = val_batches + min(2, val_batches) + val_batches
    return [
        ("epoch 0, training step", f"train_step:{rng.randint(1, per_epoch)}"),
        ("epoch 1, training step", f"train_step:{per_epoch + rng.randint(1, per_epoch)}"),
        ("epoch 1, validation step",
         f"val_step:{before_epoch_1_val + rng.randint(1, val_batches)}"),
        ("writing an epoch-0 checkpoint", f"save:{rng.randint(1, 2)}:{rng.uniform(0.1, 0.9):.2f}"),
        ("writing a later checkpoint", f"save:{rng.randint(3, 4)}:{rng.uniform(0.1, 0.9):.2f}"),
        ("renaming last.ckpt into place", "replace:last.ckpt"),
        ("writing model.pt", f"save:model:{rng.uniform(0.1, 0.9):.2f}"),
        ("a random moment", f"delay:{rng.uniform(0.2, 0.8):.2f}"),
    ]


def test_training_killed_anywhere_resumes_to_the_same_result(
    make_catalog: Callable[..., Path], tmp_path: Path
) -> None:
    catalog = make_catalog(TRAIN_IMAGES)
    ids = pd.read_csv(catalog, dtype={"id_str": str})["id_str"]
    split = assign_splits(ids, (0.7, 0.3, 0.0), 0)
    n_train, n_val = int((split == "train").sum()), int((split == "val").sum())

    # uninterrupted runs: seed 0 is the reference, seeds 1 and 2 measure the noise
    def reference(seed: int) -> tuple[dict, float]:
        out = tmp_path / f"reference-{seed}"
        run = run_galmorph(_train_argv(catalog, out, seed), tmp_path)
        assert run.exitcode == 0, run.tail()
        return {**_training(out), "cpu": run.cpu}, run.seconds

    references = in_parallel([lambda s=s: reference(s) for s in (0, 1, 2)])
    losses = [r[0]["best_val_loss"] for r in references]  # type: ignore[index]
    reference0, duration = references[0]  # type: ignore[misc]
    assert reference0["epochs"] == EPOCHS
    noise = max(abs(a - b) for a, b in itertools.combinations(losses, 2))
    tolerance = 1.5 * noise

    points = _train_kill_points(n_train, n_val, random.Random(SEED))

    def scenario(number: int, name: str, hook: str) -> dict:
        out = tmp_path / f"killed-{number}"
        argv = _train_argv(catalog, out)
        if hook.startswith("delay:"):
            killed = run_galmorph(argv, tmp_path, kill_after=float(hook[6:]) * duration)
        else:
            killed = run_galmorph(argv, tmp_path, hook=hook)
            assert killed.killed, f"{name} ({hook}) was not reached:\n{killed.tail()}"
        for ckpt in out.glob("*.ckpt"):  # whatever was there when it died is readable
            _checkpoint(ckpt)
        resumed = run_galmorph([*argv, "--resume"], tmp_path)
        assert resumed.exitcode == 0, f"{name} ({hook}):\n{resumed.tail()}"
        assert hidden_leftovers(out) == [], name
        return {"name": name, "hook": hook, "killed": killed.killed, "cpu": resumed.cpu,
                **_training(out)}

    results = in_parallel([
        lambda i=i, n=n, h=h: scenario(i, n, h) for i, (n, h) in enumerate(points)
    ])
    summary = [
        {k: r[k] for k in ("name", "hook", "killed", "epochs", "best_val_loss")}  # type: ignore[index]
        for r in results
    ]
    cpu = sum(r[0]["cpu"] for r in references) + sum(r["cpu"] for r in results)  # type: ignore
    print(json.dumps({"seed_losses": losses, "tolerance": tolerance, "runs": summary,
                      "cpu_seconds_of_finished_runs": round(cpu, 1)}, indent=1))
    assert sum(r["killed"] for r in summary) >= 5
    for r in summary:
        assert r["epochs"] == EPOCHS, r
        assert abs(r["best_val_loss"] - reference0["best_val_loss"]) <= tolerance, (r, losses)


def test_resuming_from_a_damaged_checkpoint_is_a_clear_error(
    make_catalog: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # galmorph writes checkpoints atomically, but a copy cut short can still damage one
    from galmorph.cli import main

    out = tmp_path / "run"
    out.mkdir()
    (out / "last.ckpt").write_bytes(b"PK\x03\x04" + bytes(100))
    (out / ".last.ckpt.x1y2.tmp").write_bytes(b"half a checkpoint")  # a killed write's
    status = main([str(a) for a in _train_argv(make_catalog(24), out)] + ["--resume"])
    assert status == 2
    assert "cannot resume from" in capsys.readouterr().err
    assert hidden_leftovers(out) == []
