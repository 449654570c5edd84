"""Tests of galmorph.data.tree: a Schema's queries, its plain-data and YAML forms."""

import numpy as np
import pytest

from galmorph.data.schemas import get_schema
from galmorph.data.tree import Schema
from galmorph.exceptions import SchemaError


def test_index_groups_cover_answers_in_order():
    schema = get_schema("gz2")
    groups = schema.question_index_groups
    assert groups[0] == (0, 3)
    assert all(a[1] == b[0] for a, b in zip(groups, groups[1:], strict=False))
    assert groups[-1][1] == schema.n_answers


def test_prob_asked_is_product_along_chain():
    schema = get_schema("gz2")
    fractions = np.zeros((1, schema.n_answers))
    for q in schema.questions:
        fractions[0, q.start : q.stop] = 1.0 / (q.stop - q.start)
    f = {a.full_name: fractions[0, a.index] for a in schema.answers}
    asked = dict(zip([q.name for q in schema.questions], schema.prob_asked(fractions)[0],
                     strict=True))
    assert asked["t01_smooth_or_features"] == 1.0
    assert asked["t02_edgeon"] == pytest.approx(f["t01_smooth_or_features_a02_features_or_disk"])
    expected_arms = (
        f["t01_smooth_or_features_a02_features_or_disk"]
        * f["t02_edgeon_a05_no"]
        * f["t04_spiral_a08_spiral"]
    )
    assert asked["t10_arms_winding"] == pytest.approx(expected_arms)
    with pytest.raises(ValueError):
        schema.prob_asked(np.zeros((2, 3)))


def test_answer_lookup_and_unknown_question():
    schema = get_schema("gz2")
    a = schema.answer("t03_bar_a06_bar")
    assert a.column == "t03_bar_a06_bar_count" and schema.answer("t03_bar/a06_bar") == a
    with pytest.raises(SchemaError, match="no question 'nope'"):
        schema.question("nope")


def test_round_trip_through_dict():
    schema = get_schema("gz2-no-odd")
    again = Schema.from_dict(schema.to_dict())
    assert again.label_cols == schema.label_cols
    assert [q.asked_after for q in again.questions] == [q.asked_after for q in schema.questions]


def test_custom_yaml_schema(tmp_path):
    path = tmp_path / "rings.yaml"
    path.write_text(
        "questions:\n"
        "  - name: featured\n"
        "    answers: [yes, no]\n"
        "  - name: ring\n"
        "    asked_after: featured/yes\n"
        "    answers:\n"
        "      - {name: ring, column: ring_votes}\n"
        "      - none\n"
    )
    schema = get_schema(str(path))
    assert schema.name == "rings"
    assert schema.label_cols == ["featured_yes", "featured_no", "ring_votes", "ring_none"]
    assert schema.question("ring").asked_after.name == "yes"


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("questions:\n  - name: q1\n    answers: [a]\n", "question 'q1'.*at least two"),
        ("questions:\n  - name: q1\n    answers: [a, a]\n", "question 'q1'.*duplicate answer"),
        (
            "questions:\n  - name: q2\n    asked_after: q1/a\n    answers: [a, b]\n",
            "question 'q2'.*'q1'.*defined earlier",
        ),
        (
            "questions:\n  - name: q1\n    answers: [a, b]\n"
            "  - name: q2\n    asked_after: q1/zzz\n    answers: [a, b]\n",
            "question 'q2'.*no answer 'zzz'",
        ),
        (
            "questions:\n  - name: q1\n    answers: [a, b]\n"
            "  - name: q2\n    answers: [{name: a, column: q1_a}, b]\n",
            "question 'q2'.*q1_a",
        ),
        ("questions: [\n", "not valid YAML"),
        ("name: x\n", "non-empty list"),
    ],
)
def test_invalid_yaml_names_the_problem(tmp_path, yaml_text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(SchemaError, match=message):
        get_schema(str(path))


def test_removing_a_parent_question_is_refused():
    with pytest.raises(SchemaError, match="t08_odd_feature"):
        get_schema("gz2").without("t06_odd")


def test_unanswered_lists_questions_with_no_vote_in_schema_order():
    schema = get_schema("gz2")
    counts = np.zeros((4, schema.n_answers))
    assert schema.unanswered(counts) == [q.name for q in schema.questions]
    spiral = schema.question("t04_spiral")
    counts[2, spiral.start] = 1  # one vote for one answer is enough
    counts[:, schema.question("t01_smooth_or_features").start:spiral.start] = 3
    unanswered = schema.unanswered(counts)
    assert "t04_spiral" not in unanswered and "t01_smooth_or_features" not in unanswered
    assert unanswered[:2] == ["t05_bulge_prominence", "t06_odd"]
