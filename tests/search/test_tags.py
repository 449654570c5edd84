"""Morphology tags from Galaxy Zoo 2 votes and catalog columns (galmorph.search.tags)."""

from __future__ import annotations

import pandas as pd
import pytest

from galmorph.data.bundled import demo_dir
from galmorph.data.schemas import get_schema
from galmorph.exceptions import GalmorphError
from galmorph.search.tags import derive_tags


def gz2_row(**counts: int) -> dict[str, int]:
    row = dict.fromkeys(get_schema("gz2").without("t10_arms_winding", "t11_arms_number")
                        .label_cols, 0)
    for key, value in counts.items():
        row[get_schema("gz2").answer(key).column] = value
    return row


def test_tags_follow_their_definitions() -> None:
    votes = pd.DataFrame([
        gz2_row(**{"t01_smooth_or_features/a01_smooth": 40, "t01_smooth_or_features/"
                   "a02_features_or_disk": 5, "t07_rounded/a18_cigar_shaped": 30,
                   "t06_odd/a15_no": 40}),
        gz2_row(**{"t01_smooth_or_features/a02_features_or_disk": 30, "t02_edgeon/a05_no": 30,
                   "t03_bar/a06_bar": 20, "t03_bar/a07_no_bar": 10, "t04_spiral/a08_spiral": 29,
                   "t04_spiral/a09_no_spiral": 1, "t06_odd/a14_yes": 20, "t06_odd/a15_no": 10,
                   "t08_odd_feature/a19_ring": 9, "t08_odd_feature/a24_merger": 9}),
        gz2_row(**{"t01_smooth_or_features/a02_features_or_disk": 30, "t02_edgeon/a04_yes": 29,
                   "t02_edgeon/a05_no": 1, "t06_odd/a14_yes": 4, "t06_odd/a15_no": 26,
                   "t08_odd_feature/a24_merger": 4, "t08_odd_feature/a19_ring": 2}),
    ])
    tags, kinds, skipped = derive_tags(votes)
    assert skipped == {} and kinds["ring"] == "transfer" and kinds["bar"] == "trained"
    expected = {
        "smooth": [1, 0, 0], "completely-round": [0, 0, 0], "cigar-shaped": [1, 0, 0],
        "edge-on": [0, 0, 1], "bar": [0, 1, 0], "spiral": [0, 1, 0], "odd": [0, 1, 0],
        "ring": [0, 1, 0], "merger": [0, 1, 1],
    }
    assert {k: v.astype(int).tolist() for k, v in tags.items()} == expected
    custom, kinds, _ = derive_tags(votes.assign(mine=[1, 0, 1]), ["mine", "bar"])
    assert custom["mine"].tolist() == [True, False, True] and kinds["mine"] == "custom"
    with pytest.raises(GalmorphError, match="unknown tag 'nope'"):
        derive_tags(votes, ["nope"])
    _, _, skipped = derive_tags(votes.drop(columns=get_schema("gz2").question("t08_odd_feature")
                                           .columns))
    assert set(skipped) == {"ring", "merger"}


def test_ring_tag_equals_the_bundled_ring_column() -> None:
    catalog = pd.read_csv(demo_dir() / "catalog.csv")
    tags, _, _ = derive_tags(catalog, ["ring"])
    assert tags["ring"].tolist() == (catalog["ring"] == 1).tolist()



@pytest.mark.parametrize(("values", "shown"), [
    (["a", "b", "a"], "3 other values: row 0 (G0): a, row 1 (G1): b, row 2 (G2): a"),
    ([1, None, 0], "1 other value: row 1 (G1): nan"),
    ([1, 2, 0], "1 other value: row 1 (G1): 2"),
])
def test_custom_tag_columns_must_hold_only_0_and_1(values: list[object], shown: str) -> None:
    catalog = pd.DataFrame({"id_str": ["G0", "G1", "G2"], "lab": values})
    with pytest.raises(GalmorphError) as caught:
        derive_tags(catalog, ["lab"], source="cat.csv")
    assert str(caught.value) == ("cat.csv: column 'lab' must be a boolean (0/1) tag column but "
                                 f"has {shown}")
