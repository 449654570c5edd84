"""Tests of galmorph.training.refit and of the concentration bound recorded in vote models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from galmorph.data import bundled
from galmorph.exceptions import GalmorphError
from galmorph.models.checkpoint import load_model, save_model
from galmorph.models.model import LEGACY_MIN_CONCENTRATION, MIN_CONCENTRATION
from galmorph.training.refit import refit_vote_head


@pytest.fixture
def legacy_model(tiny_model, tmp_path):
    """The tiny model as a file written before the bound was recorded (bound 1)."""
    payload = torch.load(tiny_model.model_path, weights_only=False)
    assert payload["galmorph"]["min_concentration"] == MIN_CONCENTRATION
    del payload["galmorph"]["min_concentration"]
    path = tmp_path / "legacy.pt"
    torch.save(payload, path)
    return path


def _frame() -> pd.DataFrame:
    frame = pd.read_csv(bundled.demo_catalog()).head(120)
    frame["file_loc"] = [str(bundled.demo_dir() / loc) for loc in frame["file_loc"]]
    return frame


def test_models_without_a_recorded_bound_load_with_the_legacy_bound(legacy_model, tiny_model):
    assert load_model(legacy_model).model.head.min_concentration == LEGACY_MIN_CONCENTRATION
    assert load_model(tiny_model.model_path).model.head.min_concentration == MIN_CONCENTRATION


def test_refit_keeps_the_encoder_lowers_the_validation_loss_and_round_trips(
    legacy_model, tmp_path
):
    legacy = load_model(legacy_model)
    encoder_before = {k: v.clone() for k, v in legacy.model.encoder.state_dict().items()}
    model, meta = refit_vote_head(legacy, _frame(), max_steps=60, eval_every=10,
                                  learning_rate=1e-2, num_workers=0, progress=False)
    for name, value in model.encoder.state_dict().items():
        assert torch.equal(value, encoder_before[name]), name
    refit = meta["training"]["head_refit"]
    assert model.head.min_concentration == meta["min_concentration"] == MIN_CONCENTRATION
    assert refit["min_concentration_before"] == LEGACY_MIN_CONCENTRATION
    assert refit["steps"] > 0 and refit["val_loss_after"] < refit["val_loss_before"]
    assert refit["n_train"] + refit["n_val"] < len(_frame())  # the test split is left out
    path = save_model(model, meta, tmp_path / "refit.pt")
    reloaded = load_model(path)
    images = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(reloaded.model(images), model.eval()(images),
                                   atol=0.05, rtol=2e-3)


def test_refit_needs_a_vote_model_with_a_seeded_split(tiny_model, tmp_path):
    loaded = load_model(tiny_model.model_path)
    meta = {**loaded.metadata, "training": {}}
    path = save_model(loaded.model, meta, tmp_path / "nosplit.pt")
    with pytest.raises(GalmorphError, match="seeded split"):
        refit_vote_head(path, _frame(), progress=False)


def test_refit_script_reports_bad_input_in_one_line_and_writes_nothing(tmp_path):
    script = Path(__file__).resolve().parents[2] / "scripts" / "refit_vote_head.py"
    out = tmp_path / "refit.pt"
    done = subprocess.run(
        [sys.executable, str(script), "gz2-starter", str(tmp_path / "missing.csv"), "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert "missing.csv" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()
