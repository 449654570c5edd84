"""Fine-tuning on an astronomer's own labels: how label columns are read and checked.

Label columns as people make them (text with stray spaces, blanks, one class, an id
column, a rare class), option values out of range, a second run in the same folder
and Ctrl-C. Models are the session's ``tiny_model`` (32 px); one epoch each.
"""

from __future__ import annotations

import logging
import re
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galmorph.exceptions import CatalogError, GalmorphWarning
from galmorph.models.checkpoint import load_model
from galmorph.training.finetune import finetune
from galmorph.training.finetune_module import FinetuneModule
from galmorph.training.train import TrainResult

FAST = {"epochs": 1, "batch_size": 8, "num_workers": 0, "progress": False}


def test_label_column_mistakes_name_the_file_and_the_close_name(
    tmp_path: Path, ring_frame: pd.DataFrame
) -> None:
    catalog = tmp_path / "labels.csv"
    ring_frame.to_csv(catalog, index=False)
    for typed in ("Ring", "rings"):
        with pytest.raises(CatalogError) as error:
            finetune(catalog, tmp_path / "run", label=typed, **FAST)
        assert str(error.value).startswith(f"{catalog} has no label column {typed!r}; "
                                           "did you mean 'ring'?")
    with pytest.raises(CatalogError, match=re.escape(
            f"{catalog}: label column 'ra' holds numbers that are not whole")):
        finetune(catalog, tmp_path / "run", label="ra", **FAST)
    assert not (tmp_path / "run").exists()


def test_text_labels_lose_stray_spaces_and_blank_ones_are_skipped(
    tmp_path: Path, ring_frame: pd.DataFrame, tiny_model: TrainResult
) -> None:
    frame = ring_frame.assign(kind=np.where(ring_frame["ring"] == 1, "ring", " not ring "))
    frame.loc[[0, 30], "kind"] = ["", "  "]
    frame.loc[1, "kind"] = None
    with pytest.warns(GalmorphWarning, match="skipping 3 of 48 galaxies without a 'kind' label"):
        result = finetune(frame, tmp_path, label="kind", model=tiny_model.model_path, **FAST)
    assert result.metadata["classes"] == ["not ring", "ring"]
    assert sum(result.metadata["training"]["split"]["sizes"].values()) == 45


def test_one_class_or_one_value_per_galaxy_is_not_a_classification(
    tmp_path: Path, ring_frame: pd.DataFrame, tiny_model: TrainResult
) -> None:
    model = tiny_model.model_path
    with pytest.raises(CatalogError, match="every labelled galaxy has the same 'ring' label, 1; "
                       "a classifier needs examples of at least two classes"):
        finetune(ring_frame.head(20), tmp_path, label="ring", model=model, **FAST)
    with pytest.raises(CatalogError, match=re.escape(
            "label column 'id_str' has 48 different values among 48 galaxies")) as error:
        finetune(ring_frame, tmp_path, label="id_str", model=model, **FAST)
    assert "--task regression" in str(error.value)


def test_rare_classes_are_warned_of_and_validation_counts_kept(
    tmp_path: Path, ring_frame: pd.DataFrame, tiny_model: TrainResult
) -> None:
    frame = pd.concat([ring_frame[ring_frame["ring"] == 1].head(2),
                       ring_frame[ring_frame["ring"] == 0]])
    with pytest.warns(GalmorphWarning) as warned:
        result = finetune(frame, tmp_path, label="ring", model=tiny_model.model_path, **FAST)
    messages = [str(w.message) for w in warned]
    assert any("too few galaxies to hold any out for validation in 'ring' class 1 (2)" in m
               and "at least 3 galaxies of each class" in m for m in messages)
    assert any("the 'ring' classes are unbalanced (0: 24, 1: 2 galaxies): always answering 0 "
               "is 92% right" in m and "--class-weights balanced" in m for m in messages)
    assert result.metadata["class_counts"] == [19, 2]
    assert result.metadata["val_class_counts"] == [5, 0]


@pytest.mark.parametrize(("options", "message"), [
    ({"learning_rate": -1e-3}, "learning_rate must be a finite number above 0"),
    ({"lr_decay": 0}, "lr_decay must be a finite number above 0"),
    ({"weight_decay": -0.1}, "weight_decay must be a finite number of at least 0"),
    ({"label_smoothing": 2}, "label_smoothing must be a number from 0 up to (not including) 1"),
    ({"dropout": 1.0}, "dropout must be a number from 0 up to (not including) 1"),
    ({"patience": 2, "val_fraction": 0}, "patience needs validation galaxies"),
])
def test_settings_out_of_range_are_refused_before_any_work(
    tmp_path: Path, ring_frame: pd.DataFrame, options: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        finetune(ring_frame, tmp_path / "run", label="ring", **{**FAST, **options})
    assert not (tmp_path / "run").exists()


def test_a_second_run_in_the_folder_warns_and_logs_apart(
    tmp_path: Path, make_catalog, tiny_model: TrainResult
) -> None:
    catalog = make_catalog(12, edit=lambda df: df.assign(ring=[0, 1] * 6))
    (catalog.parent / "images" / Path(pd.read_csv(catalog)["file_loc"][3]).name).unlink()
    run = tmp_path / "rings"
    options = {"label": "ring", "model": tiny_model.model_path, "val_fraction": 0,
               "skip_missing_images": True, **FAST}
    first = finetune(catalog, run, **options)
    assert first.metadata["name"] == "rings"  # not "model", the file's name
    assert first.metadata["training"]["split"]["sizes"]["train"] == 11
    with pytest.warns(GalmorphWarning, match="holds an earlier run .*this run replaces it"):
        second = finetune(catalog, run, **options)
    assert first.metrics_file is not None and second.metrics_file is not None
    assert first.metrics_file.is_file() and second.metrics_file.is_file()
    assert first.metrics_file != second.metrics_file
    assert load_model(second.model_path).metadata["name"] == "rings"


def test_the_python_api_prints_no_lightning_chatter(
    tmp_path: Path, ring_frame: pd.DataFrame, tiny_model: TrainResult,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Lightning logs these at INFO (to the terminal when logging is not set up)."""
    with caplog.at_level(logging.INFO):
        finetune(ring_frame, tmp_path, label="ring", model=tiny_model.model_path, **FAST)
    said = " ".join(record.getMessage() for record in caplog.records)
    for chatter in ("GPU available", "TPU available", "stepping batches", "Trainer.fit"):
        assert chatter not in said


def test_ctrl_c_while_training_is_a_keyboard_interrupt(
    tmp_path: Path, ring_frame: pd.DataFrame, tiny_model: TrainResult,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted(self: FinetuneModule, batch: dict, batch_idx: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(FinetuneModule, "training_step", interrupted)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):  # Lightning's own: sys.exit(1), Ctrl-C ignored
        finetune(ring_frame, tmp_path, label="ring", model=tiny_model.model_path, **FAST)
    assert signal.getsignal(signal.SIGINT) is handler
    assert not (tmp_path / "model.pt").exists()
