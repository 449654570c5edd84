"""What ``train`` says about the votes it is given: fractions for counts, no votes at all,
questions and galaxies without votes (all checked before any training)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

from galmorph.data.catalog import load_catalog
from galmorph.data.schemas import get_schema
from galmorph.exceptions import CatalogError, GalmorphWarning
from galmorph.training.train import train
from galmorph.training.training_votes import check_training_votes

SCHEMA = get_schema("gz2-no-odd")
FIRST = SCHEMA.questions[0].columns


def _as_fractions(frame: pd.DataFrame) -> pd.DataFrame:
    """The first question's counts divided by their total, as in a ``_fraction`` column."""
    frame = frame.copy()
    frame[FIRST] = frame[FIRST].div(frame[FIRST].sum(axis=1), axis=0).round(3)
    return frame


def _published_fractions(frame: pd.DataFrame) -> pd.DataFrame:
    """Only GZ2's ``_weighted_fraction`` columns, as the published table also has."""
    counts = [c for c in frame if c.endswith("_count")]
    return frame.drop(columns=counts).assign(
        **{c.replace("_count", "_weighted_fraction"): 0.5 for c in counts})


@pytest.mark.parametrize(("edit", "message"), [
    (_as_fractions, "vote columns t01_.* hold numbers from 0 to 1 .*look like vote fractions, "
                    "not counts; .*number of volunteers"),
    (_published_fractions, "no vote-count columns of schema 'gz2-no-odd', only vote "
                           "fractions \\(t01_smooth_or_features_a01_smooth_weighted_fraction"),
    (lambda df: df.assign(**{c: 0 for c in df if c.endswith("_count")}),
     "no galaxy of the training split has a vote"),
])
def test_votes_that_cannot_train_are_one_clear_error(
    tmp_path: Path, make_catalog, edit, message: str
) -> None:
    catalog = make_catalog(12, edit=edit)
    with pytest.raises(CatalogError, match=f"^{catalog}: {message}") as caught:
        train(catalog, SCHEMA, tmp_path / "run", epochs=1, num_workers=0, progress=False,
              split_fractions=(0.6, 0.4, 0.0))
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "run").exists()


def test_questions_and_galaxies_without_votes_are_named(demo_catalog: pd.DataFrame) -> None:
    frame = demo_catalog.head(10).copy()
    frame[list(SCHEMA.question("t03_bar").columns)] = 0  # present, never voted on
    frame.loc[[2, 5], [c for c in SCHEMA.label_cols if c in frame]] = 0
    with warnings.catch_warnings():  # the demo catalog has no t10/t11 columns
        warnings.simplefilter("ignore", GalmorphWarning)
        loaded = load_catalog(frame, SCHEMA, check_images=False)
    splits = {"train": loaded, "predict": loaded}
    with pytest.warns(GalmorphWarning) as caught:
        check_training_votes(frame, splits, SCHEMA)
    said = [str(w.message) for w in caught]
    # t10/t11 have no columns in the demo catalog: reading it said so already
    assert said[0].startswith("the catalog: no galaxy of the training split has a vote for "
                              "t03_bar (the vote columns are all 0): the model cannot learn it")
    assert said[1] == ("the catalog: 2 of 10 galaxies have no vote for any question: they "
                       "teach the model nothing (a vote column missing, or galaxies nobody "
                       "classified?)")
    assert len(said) == 2


def test_finetune_on_votes_refuses_a_catalog_without_votes(
    tmp_path: Path, make_catalog, untrained_model: Path
) -> None:
    from galmorph.training.finetune import finetune

    catalog = make_catalog(12, edit=lambda df: df.assign(
        **{c: 0 for c in df if c.endswith("_count")}))
    with pytest.raises(CatalogError, match=f"^{catalog}: no galaxy of the training split"):
        finetune(catalog, tmp_path / "run", task="votes", schema="gz2", model=untrained_model,
                 epochs=1, num_workers=0, progress=False)
