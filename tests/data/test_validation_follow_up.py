"""Follow-up questions voted on where the answer leading to them got no vote."""

from __future__ import annotations

import warnings

import pandas as pd

from galmorph.data.catalog import load_catalog, summarize_catalog
from galmorph.data.schemas import get_schema
from galmorph.exceptions import GalmorphWarning

SCHEMA = get_schema("gz2")
FEATURES = SCHEMA.question("t01_smooth_or_features").columns[1]
EDGE_ON = SCHEMA.question("t02_edgeon").columns


def _no_features_but_edge_on_votes(votes: int):
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[3, FEATURES] = 0
        frame.loc[3, EDGE_ON] = [0, votes]
        return frame

    return edit


def test_follow_up_votes_without_the_leading_answer_are_named(make_catalog) -> None:
    summary = summarize_catalog(make_catalog(8, edit=_no_features_but_edge_on_votes(7)), "gz2")
    stray = [w for w in summary.warnings if "t02_edgeon" in w]
    assert summary.usable and len(stray) == 1
    assert "asked after t01_smooth_or_features/a02_features_or_disk" in stray[0]
    assert f"none in {FEATURES!r}" in stray[0]
    assert "1 galaxy of 8 has votes for it" in stray[0] and "row 3 (" in stray[0]
    assert "): 7 (votes for 't02_edgeon')" in stray[0] and "asked_after" in stray[0]
    with warnings.catch_warnings(record=True) as caught:  # training is told too
        warnings.simplefilter("always")
        load_catalog(make_catalog(8, edit=_no_features_but_edge_on_votes(7)), "gz2")
    assert any("t02_edgeon" in str(w.message) for w in caught
               if issubclass(w.category, GalmorphWarning))


def test_a_single_stray_vote_is_not_warned_of(make_catalog) -> None:
    # Galaxy Zoo 2's own table has a few such single votes
    summary = summarize_catalog(make_catalog(8, edit=_no_features_but_edge_on_votes(1)), "gz2")
    assert not [w for w in summary.warnings if "t02_edgeon" in w]
