"""Mistakes an astronomer makes with train, finetune and adapt: one clear message, early.

Also what a run says at its end: a vote model's validation loss beside the loss of
answering every galaxy with the average votes, so that a non-expert can tell whether
the model learnt anything from the images.
"""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galmorph.cli import main
from galmorph.cli.train import vote_loss_report
from galmorph.data.schemas import get_schema
from galmorph.exceptions import CatalogError, GalmorphWarning
from galmorph.models.checkpoint import load_model
from galmorph.models.metrics import evaluate_votes, fit_vote_baseline
from galmorph.training.targets import check_classes, labelled_catalog
from galmorph.training.train import train
from galmorph.training.training_votes import baseline_val_loss

TINY = ["--schema", "gz2-no-odd", "--encoder", "test_convnext", "--image-size", "32",
        "--epochs", "1", "--batch-size", "8", "--num-workers", "0", "--split", "0.6", "0.4",
        "0.0", "--no-progress"]


def test_resume_refuses_other_settings_and_says_when_there_is_nothing_to_do(
    tmp_path: Path, make_catalog, capsys
) -> None:
    catalog = make_catalog(24)
    run = tmp_path / "run"
    options = {"encoder": "test_convnext", "image_size": 32, "epochs": 1, "batch_size": 8,
               "num_workers": 0, "split_fractions": (0.6, 0.4, 0.0), "progress": False,
               "resume": True}
    with pytest.warns(GalmorphWarning, match=r"nothing to resume: .*run holds no last\.ckpt"):
        train(catalog, "gz2-no-odd", run, **options)
    with pytest.warns(GalmorphWarning, match="nothing more to train: .* after 1 epoch of 1"):
        train(catalog, "gz2-no-odd", run, **options)
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.is_file()}
    assert main(["train", str(catalog), "-o", str(run), *TINY, "--encoder", "test_resnet",
                 "--schema", "gz2", "--resume"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "cannot resume from" in err and "last.ckpt" in err
    assert "encoder 'test_convnext', not 'test_resnet'" in err
    assert "--schema gz2-no-odd, not gz2" in err and "leave out --resume" in err
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.is_file()} == before


@pytest.mark.parametrize(("options", "said"), [
    (["--imagenet-weights", "weights.pth"], "--imagenet-weights weights.pth needs --init imagenet"),
    (["--init", "gz2-starter", "--encoder", "resnet18"], "--encoder resnet18 needs --init scratch"),
])
def test_start_options_that_would_be_ignored_are_usage_errors(
    tmp_path: Path, small_catalog: Path, capsys, options: list[str], said: str
) -> None:
    status = main(["train", str(small_catalog), "-o", str(tmp_path / "run"), *options])
    assert status == 2
    assert said in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_end_of_a_vote_run_compares_with_the_average_votes(
    tmp_path: Path, make_catalog, capsys
) -> None:
    run = tmp_path / "run"
    assert main(["train", str(make_catalog(24)), "-o", str(run), *TINY]) == 0
    out = " ".join(capsys.readouterr().out.split())
    training = load_model(run / "model.pt").metadata["training"]
    assert training["baseline_val_loss"] > 0
    assert (f"best validation loss {training['best_val_loss']:.3f} on "
            f"{training['split']['sizes']['val']} galaxies") in out
    assert f"{training['initial_val_loss']:.3f} before training" in out
    assert f"{training['baseline_val_loss']:.3f} for the catalog's average votes" in out


def test_the_verdict_says_when_the_model_does_not_beat_the_average_votes() -> None:
    training = {"best_val_loss": 30.0, "initial_val_loss": 60.0, "baseline_val_loss": 20.0,
                "split": {"sizes": {"val": 12}}}
    worse = vote_loss_report(training)
    assert len(worse) == 2 and "does not yet beat the average votes" in worse[1]
    (better,) = vote_loss_report({**training, "best_val_loss": 10.0})
    assert "60.000 before training" in better and "20.000 for the catalog's" in better
    assert vote_loss_report({**training, "best_val_loss": None}) == []
    # trained on from a finished model (its head kept), no epoch did better than the start
    on = vote_loss_report({**training, "best_val_loss": 15.393, "initial_val_loss": 15.216})
    assert len(on) == 2 and on[1].startswith(
        "no epoch beat the model it started from (its validation loss 15.216 before training)")


def test_the_baseline_loss_is_the_evaluation_baseline(demo_catalog: pd.DataFrame) -> None:
    schema = get_schema("gz2-no-odd")
    counts = demo_catalog.reindex(columns=schema.label_cols, fill_value=0).to_numpy(float)
    baseline = fit_vote_baseline(counts[:80], schema)
    held_out = counts[80:120]
    expected = evaluate_votes(held_out, np.tile(baseline, (len(held_out), 1)), schema,
                              baseline)["baseline_mean_nll"]
    assert baseline_val_loss(held_out, baseline, schema) == pytest.approx(expected, rel=1e-6)
    assert baseline_val_loss(held_out[:0], baseline, schema) is None


@pytest.mark.parametrize(("values", "said"), [
    ([0.3] + [None] * 47, "the only labelled galaxy has the 'z' value 0.3"),
    ([0.25] * 48, "all 48 labelled galaxies have the 'z' value 0.25"),
])
def test_a_regression_without_different_values_is_refused(
    ring_frame: pd.DataFrame, values: list, said: str
) -> None:
    frame = ring_frame.assign(z=values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GalmorphWarning)  # the rows without a value
        with pytest.raises(CatalogError, match="needs galaxies with different values") as err:
            labelled_catalog(frame, "regression", "z", None)
    assert said in str(err.value)


def test_a_folder_of_images_is_told_about_label_folder(
    tmp_path: Path, ring_frame: pd.DataFrame
) -> None:
    for cls in ("rings", "others"):
        (tmp_path / cls).mkdir()
        for path in ring_frame["file_loc"].head(3):
            (tmp_path / cls / Path(path).name).write_bytes(Path(path).read_bytes())
    with pytest.raises(CatalogError, match=r"no label column 'ring'; .* give --label folder\. "
                       "Its columns"):
        labelled_catalog(tmp_path, "classification", "ring", None)
    with pytest.raises(CatalogError, match=r"no label column 'xyzzy'\. Its columns"):
        labelled_catalog(ring_frame, "classification", "xyzzy", None)


def test_an_output_under_a_file_is_refused_before_any_work(
    tmp_path: Path, small_catalog: Path, capsys, monkeypatch
) -> None:
    def no_work(*args, **kwargs):
        raise AssertionError("the images were read before the output was checked")

    for module, name in (("train", "GalaxyDataModule"), ("finetune", "labelled_catalog"),
                         ("adapt", "adapt_model")):
        monkeypatch.setattr(importlib.import_module(f"galmorph.training.{module}"), name, no_work)
    blocking = tmp_path / "notes.txt"
    blocking.write_text("not a folder")
    for command in (["train", str(small_catalog), "-o", str(blocking / "run")],
                    ["finetune", str(small_catalog), "--label", "ring", "-o", str(blocking)],
                    ["adapt", str(small_catalog), "-o", str(blocking / "adapted.pt")]):
        assert main(command) == 2, command
        err = " ".join(capsys.readouterr().err.split())
        assert str(blocking) in err and "folder" in err, err
    assert blocking.read_text() == "not a folder"


def test_classes_that_differ_only_in_case_are_warned_of() -> None:
    counts = np.array([8, 8, 8])
    with pytest.warns(GalmorphWarning, match="'Spiral' and 'spiral' differ only in upper"):
        check_classes(["Spiral", "elliptical", "spiral"], counts, counts // 4, "cat.csv", "cls",
                      0.2, False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_classes(["S", "elliptical", "spiral"], counts, counts // 4, "cat.csv", "cls",
                      0.2, False)


def test_numbers_mixed_with_words_are_warned_of() -> None:
    counts = np.array([12, 8, 1])
    with pytest.warns(GalmorphWarning, match=r"the 'ring' column mixes numbers and words "
                      r"\('0': 12, '1': 8, 'yes': 1 galaxies\): each is learnt as a class of "
                      r"its own; if 'yes' \(1\) means one of the numbers"):
        check_classes(["0", "1", "yes"], counts, np.array([3, 2, 0]), "cat.csv", "ring", 0.2,
                      True)
    with warnings.catch_warnings():  # all numbers, or all words
        warnings.simplefilter("error")
        for classes in (["0", "1", "2"], ["no", "ring", "yes"]):
            check_classes(classes, counts, np.array([3, 2, 1]), "cat.csv", "ring", 0.2, True)


@pytest.mark.parametrize("command", [["train"], ["finetune", "--label", "ring"]])
def test_an_image_size_below_8_is_a_usage_error(
    tmp_path: Path, small_catalog: Path, capsys, command: list[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([command[0], str(small_catalog), *command[1:], "-o", str(tmp_path / "run"),
              "--image-size", "4"])
    assert stopped.value.code == 2
    assert "--image-size: expected a whole number of 8 or more, got 4" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
