"""Tests of galmorph.data.schemas: the built-in trees and looking schemas up."""

import pytest

from galmorph.data.schemas import builtin_schemas, get_schema
from galmorph.exceptions import SchemaError


def test_builtins_have_published_shapes():
    assert builtin_schemas() == ["gz-decals-dr5", "gz2", "gz2-no-odd"]
    gz2 = get_schema("gz2")
    assert gz2.n_questions == 11 and gz2.n_answers == 37
    assert gz2.label_cols[0] == "t01_smooth_or_features_a01_smooth_count"
    assert "t08_odd_feature_a38_dust_lane_count" in gz2.label_cols
    decals = get_schema("gz-decals-dr5")
    assert decals.n_questions == 10 and decals.n_answers == 34
    assert decals.label_cols[:3] == [
        "smooth-or-featured_smooth",
        "smooth-or-featured_featured-or-disk",
        "smooth-or-featured_artifact",
    ]


def test_gz2_no_odd_drops_odd_questions_only():
    full, no_odd = get_schema("gz2"), get_schema("gz2-no-odd")
    names = [q.name for q in no_odd.questions]
    assert "t06_odd" not in names and "t08_odd_feature" not in names
    assert len(names) == full.n_questions - 2
    assert not any(c.startswith(("t06", "t08")) for c in no_odd.label_cols)
    # indices are renumbered contiguously
    assert [a.index for a in no_odd.answers] == list(range(no_odd.n_answers))


def test_dependencies_follow_the_gz2_tree():
    schema = get_schema("gz2")
    assert schema.question("t01_smooth_or_features").asked_after is None
    assert schema.question("t06_odd").asked_after is None
    assert schema.question("t03_bar").asked_after.full_name == "t02_edgeon_a05_no"
    assert schema.question("t09_bulge_shape").asked_after.full_name == "t02_edgeon_a04_yes"
    assert schema.question("t11_arms_number").asked_after.full_name == "t04_spiral_a08_spiral"
    decals = get_schema("gz-decals-dr5")
    assert decals.question("spiral-winding").asked_after.column == "has-spiral-arms_yes"


def test_unknown_schema_lists_builtins():
    with pytest.raises(SchemaError, match="gz2-no-odd"):
        get_schema("gz3")
    with pytest.raises(SchemaError, match="not found"):
        get_schema("/nonexistent/schema.yaml")


def test_importing_galmorph_builds_no_schema():
    import subprocess
    import sys

    code = (
        "import galmorph, galmorph.data.schemas as s; import galmorph.cli; "
        "print(s._builtin.cache_info().currsize)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
