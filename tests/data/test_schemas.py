"""Tests of galmorph.data.schemas: the built-in trees and looking schemas up."""

import pytest

from galmorph.data.schemas import builtin_schemas, fraction_hint, get_schema
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


def test_schema_files_are_found_by_their_suffix_in_any_case(tmp_path):
    (tmp_path / "Rings.YAML").write_text("questions:\n  - name: featured\n    answers: [yes, no]\n")
    assert get_schema(str(tmp_path / "Rings.YAML")).label_cols == ["featured_yes", "featured_no"]
    (tmp_path / "rings.txt").write_text("questions: []\n")
    with pytest.raises(SchemaError, match="rings.txt: name it .yaml or .yml"):
        get_schema(str(tmp_path / "rings.txt"))


def test_fraction_hint_spots_fractions_given_for_counts(demo_catalog):
    gz2 = get_schema("gz2")
    counts = demo_catalog.head(6)
    assert fraction_hint(counts, gz2) is None
    assert fraction_hint(counts.astype({c: float for c in gz2.label_cols if c in counts}),
                         gz2) is None  # 12.0 is a count
    first = gz2.questions[0].columns
    fractions = counts.copy()
    fractions[first] = counts[first].div(counts[first].sum(axis=1), axis=0)
    assert "look like vote fractions, not counts" in fraction_hint(fractions, gz2)
    published = counts[["id_str", "file_loc"]].assign(
        **{c.replace("_count", "_weighted_fraction"): 0.5 for c in first})
    hint = fraction_hint(published, gz2)
    assert "no vote-count columns" in hint and "_weighted_fraction" in hint
    assert fraction_hint(counts[["id_str", "file_loc"]], gz2) is None
