"""What fine-tuning tells an astronomer about their label table: rows named as in the file,
and warnings that point at the line of their own script."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galmorph.exceptions import CatalogError, GalmorphWarning
from galmorph.training.finetune import finetune
from galmorph.training.targets import labelled_catalog
from galmorph.training.train import TrainResult


def test_rows_keep_their_catalog_numbers_after_missing_images_are_skipped(
    tmp_path: Path, ring_frame: pd.DataFrame
) -> None:
    frame = ring_frame.copy()
    frame.loc[2, "file_loc"] = str(tmp_path / "gone.jpg")
    frame.loc[5, "ring"] = np.nan
    catalog = tmp_path / "labels.csv"
    frame.to_csv(catalog, index=False)
    with pytest.warns(GalmorphWarning) as warned:
        kept = labelled_catalog(catalog, "classification", "ring", None, skip_missing_images=True)
    skipped = [str(w.message) for w in warned if "without a 'ring' label" in str(w.message)]
    assert skipped == [f"{catalog}: skipping 1 of 47 galaxies without a 'ring' label: "
                       f"row 5 ({frame.at[5, 'id_str']})"]
    assert len(kept) == 46 and kept.index.equals(pd.RangeIndex(46))


def test_a_regression_label_that_is_not_a_number_names_its_rows(
    tmp_path: Path, ring_frame: pd.DataFrame
) -> None:
    frame = ring_frame.assign(size=np.linspace(1, 5, len(ring_frame)).astype(object))
    frame.loc[[3, 7], "size"] = ["?", "2.5 kpc"]
    with pytest.raises(CatalogError, match=re.escape(
            f"catalog: label column 'size' must hold numbers (or be left blank); "
            f"row 3 ({frame.at[3, 'id_str']}): '?', row 7 ({frame.at[7, 'id_str']}): "
            "'2.5 kpc' are not numbers")):
        labelled_catalog(frame, "regression", "size", None)


def test_class_warnings_point_at_the_callers_line_and_count_the_classes(
    tmp_path: Path, ring_frame: pd.DataFrame, tiny_model: TrainResult
) -> None:
    frame = ring_frame.assign(kind="disk")
    frame.loc[[0, 1], "kind"] = "merger"
    frame.loc[[2, 3], "kind"] = "ring"
    with pytest.warns(GalmorphWarning) as warned:
        finetune(frame, tmp_path, label="kind", model=tiny_model.model_path, epochs=1,
                 batch_size=8, num_workers=0, progress=False)
    rare = [w for w in warned if "too few galaxies" in str(w.message)]
    assert len(rare) == 1
    assert "class 'merger' (2), 'ring' (2): the validation scores leave them out" in str(
        rare[0].message)
    assert {Path(w.filename) for w in warned} == {Path(__file__)}


def test_a_regression_label_of_class_codes_is_warned_of(
    tmp_path: Path, ring_frame: pd.DataFrame, tiny_model: TrainResult
) -> None:
    codes = ring_frame.assign(kind=np.arange(len(ring_frame)) % 3)
    with pytest.warns(GalmorphWarning, match=re.escape(
            "label column 'kind' holds only the whole numbers 0, 1, 2: learnt as a number per "
            "galaxy; if they are classes, use task='classification'")) as warned:
        finetune(codes, tmp_path, task="regression", label="kind", model=tiny_model.model_path,
                 epochs=1, batch_size=8, num_workers=0, progress=False)
    assert {Path(w.filename) for w in warned} == {Path(__file__)}
    sizes = ring_frame.assign(size=np.arange(len(ring_frame)) % 4 + 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labelled_catalog(sizes, "regression", "size", None)


def test_a_regression_label_of_words_suggests_classification(ring_frame: pd.DataFrame) -> None:
    words = ring_frame.assign(kind=np.where(ring_frame["ring"] == 1, "ring", "other"))
    with pytest.raises(CatalogError, match=re.escape(
            "are not numbers; if they are classes, use task='classification'")):
        labelled_catalog(words, "regression", "kind", None)


def test_a_regression_label_of_fractions_suggests_squash(
    tmp_path: Path, ring_frame: pd.DataFrame, tiny_model: TrainResult
) -> None:
    fractions = ring_frame.assign(smooth=np.linspace(0.05, 0.95, len(ring_frame)))
    options = dict(task="regression", label="smooth", model=tiny_model.model_path, epochs=1,
                   batch_size=8, num_workers=0, progress=False)
    with pytest.warns(GalmorphWarning, match=re.escape(
            "the 'smooth' values all lie in [0, 1]: if they are fractions, squash=True "
            "(--squash)")) as warned:
        finetune(fractions, tmp_path / "plain", **options)
    assert {Path(w.filename) for w in warned} == {Path(__file__)}
    with warnings.catch_warnings():  # squashed, or values beyond [0, 1]: nothing to say
        warnings.simplefilter("error")
        finetune(fractions, tmp_path / "squashed", squash=True, **options)
        finetune(fractions.assign(smooth=fractions["smooth"] * 3), tmp_path / "wide",
                 **options)
