"""Resuming a run: ``last.ckpt`` holds the last epoch, improved or not; each run has its
own time limit; a run resumed past its schedule's end is refused, one stopping before it
is warned of."""

import warnings
from pathlib import Path

import pandas as pd
import pytest
import torch

from galmorph.data import bundled
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.training.resume import planned_epochs, schedule_note
from galmorph.training.train import train


def _frame(n: int) -> pd.DataFrame:
    frame = pd.read_csv(bundled.demo_catalog()).head(n)
    frame["file_loc"] = [str(bundled.demo_dir() / loc) for loc in frame["file_loc"]]
    return frame


def test_last_checkpoint_is_the_last_epoch_even_without_improvement(tmp_path):
    # a learning rate of 0 keeps the validation loss equal: epoch 2 is no improvement
    options = dict(encoder="convnext_atto", image_size=32, epochs=2, batch_size=8,
                   learning_rate=0.0, num_workers=0, progress=False,
                   split_fractions=(0.7, 0.3, 0.0))
    result = train(_frame(24), "gz2-no-odd", tmp_path, **options)
    last = torch.load(tmp_path / "last.ckpt", map_location="cpu", weights_only=False)
    best = torch.load(tmp_path / "best.ckpt", map_location="cpu", weights_only=False)
    assert result.epochs_completed == 2
    assert last["epoch"] == 1 and best["epoch"] == 0  # 0-based
    assert last["global_step"] == 2 * best["global_step"]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = train(_frame(24), "gz2-no-odd", tmp_path, resume=True, **options)
    said = [str(w.message) for w in caught if issubclass(w.category, GalmorphWarning)]
    assert any("nothing more to train" in s and "after 2 epochs" in s for s in said), said
    assert again.epochs_completed == 2
    resumed = torch.load(tmp_path / "last.ckpt", map_location="cpu", weights_only=False)
    assert resumed["global_step"] == last["global_step"]  # no epoch trained again


def test_time_limit_is_said_and_a_resumed_run_gets_its_own_minutes(tmp_path):
    options = dict(encoder="convnext_atto", image_size=32, epochs=500, batch_size=8,
                   num_workers=0, progress=False, split_fractions=(0.7, 0.3, 0.0),
                   max_minutes=0.03)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = train(_frame(24), "gz2-no-odd", tmp_path, **options)
    said = " ".join(str(w.message) for w in caught if issubclass(w.category, GalmorphWarning))
    assert "stopped at the time limit (--max-minutes 0.03)" in said
    assert "of 500" in said and "run again with --resume to go on from epoch" in said
    assert first.metadata["training"]["time_limit_reached"] is True
    steps = torch.load(tmp_path / "last.ckpt", map_location="cpu", weights_only=False)
    # the same limit again (a batch job's): the run trains on, not stopping at once
    train(_frame(24), "gz2-no-odd", tmp_path, resume=True, **options)
    after = torch.load(tmp_path / "last.ckpt", map_location="cpu", weights_only=False)
    assert after["global_step"] > steps["global_step"]


def test_resuming_past_the_schedule_is_refused_and_stopping_before_it_warns(tmp_path):
    options = dict(encoder="convnext_atto", image_size=32, batch_size=8, num_workers=0,
                   progress=False, split_fractions=(0.7, 0.3, 0.0))
    train(_frame(16), "gz2-no-odd", tmp_path, epochs=1, **options)
    before = (tmp_path / "last.ckpt").read_bytes()
    with pytest.raises(GalmorphError) as refused:
        train(_frame(16), "gz2-no-odd", tmp_path, epochs=2, resume=True, **options)
    said = str(refused.value)
    assert "was started with --epochs 1: its cosine learning-rate schedule was set for " \
        "1 epoch and a resumed run keeps it, so it cannot go on to epoch 2" in said
    assert f"--init {tmp_path / 'model.pt'} --epochs N" in said
    assert (tmp_path / "last.ckpt").read_bytes() == before  # nothing trained or written
    note = schedule_note(10, 6, "cosine", tmp_path)
    assert note is not None and "stopping after epoch 6 leaves the learning rate" in note
    assert schedule_note(10, 10, "cosine", tmp_path) is None
    assert schedule_note(10, 20, "plateau", tmp_path) is None


def test_the_schedule_is_the_first_runs_even_after_a_shorter_resumed_run() -> None:
    """--epochs 20, resumed with --epochs 10, then with --epochs 20 again: the schedule was
    set for 20 all along, so the last run is allowed."""
    assert planned_epochs({"training": {"epochs": 20}}) == 20
    shorter = {"training": {"epochs": 10, "schedule_epochs": 20}}  # what the resumed run wrote
    assert planned_epochs(shorter) == 20
    assert schedule_note(planned_epochs(shorter), 20, "cosine", Path("run")) is None
    assert planned_epochs({}) is None and schedule_note(None, 5, "cosine", Path("run")) is None
