"""Tests of galmorph.data.tree: a Schema's queries, its plain-data and YAML forms."""

import re

import numpy as np
import pytest

from galmorph.data.schemas import get_schema
from galmorph.data.tree import Schema, plain_name
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


def test_a_schema_prints_in_one_line():
    schema = get_schema("gz2")
    assert repr(schema) == (f"Schema('gz2', {len(schema.questions)} questions, "
                            f"{len(schema.label_cols)} answers)")


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
    assert Schema.from_yaml(path) == schema  # the same reader, from the class


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("questions:\n  - name: q1\n    answers: [a]\n", "question 'q1'.*at least two"),
        ("questions:\n  - name: q1\n    answers: [a, a]\n", "question 'q1'.*duplicate answer"),
        (
            "questions:\n  - name: q2\n    asked_after: q1/a\n    answers: [a, b]\n",
            "question 'q2'.*there is no question 'q1'",
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


RINGS = """\
name: rings
questions:
  - name: featured
    answers: [yes, no]
  - name: ring
    asked_after: featured/yes
    answers: [ring, none]
"""


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("featured/yes", "featurd/yes"),
         "line 6: question 'ring': asked_after 'featurd/yes': there is no question 'featurd'; "
         "did you mean 'featured'?"),
        (("featured/yes", "featured/yess"),
         "line 6: question 'ring': .*has no answer 'yess'; did you mean 'yes'\\? "
         "\\(its answers: yes, no\\)"),
        (("featured/yes", "ring/ring"),
         "line 6: question 'ring': .*cannot be asked after one of its own answers"),
        (("    answers: [yes, no]", "    asked_after: ring/ring\n    answers: [yes, no]"),
         "line 4: question 'featured': .*'featured' and 'ring' are each asked after the "
         "other, a cycle"),
        (("name: ring", "name: featured"), "line 5: question 'featured': duplicate question"),
        (("[ring, none]", "[ring, ring]"), "line 7: question 'ring': duplicate answer 'ring'"),
        (("[ring, none]", "[ring]"), "line 7: question 'ring': .*at least two answers"),
        (("[ring, none]", "[{name: ring, column: featured_yes}, none]"),
         "line 7: question 'ring', answer 'ring': column 'featured_yes' is already used by "
         "answer featured/yes"),
        (("asked_after:", "asked_afer:"),
         "line 6: question 'ring': unknown key 'asked_afer' \\(did you mean 'asked_after'\\?"),
        (("questions:", "question:"), "line 2: schema 'rings': unknown key 'question'"),
        (("[ring, none]", "[{name: ring, colum: r}, none]"),
         "line 7: answer 'ring': unknown key 'colum'"),
        (("[ring, none]", "[ring, ~]"), "line 7: question 'ring', answer #2: .*is missing"),
        (("[ring, none]", "[annulaire, élliptique]"),
         "line 7: .*answer name 'élliptique' must be ASCII .*e.g. 'elliptique'"),
        (("[ring, none]", "ring, none"), "line 7: .*must be a list .*not 'ring, none'"),
        (("  - name: ring\n", "  - name: ring\n\t"), "line 6, column 1: .*never tabs"),
        (("    asked_after", "     asked_after"), "not valid YAML: line 6"),
        (("name: rings\n", "name: rings\nname: other\n"),
         "line 2, column 1: 'name' is given twice"),
    ],
)
def test_yaml_mistakes_name_file_line_and_question(tmp_path, edit, message):
    path = tmp_path / "my_tree.yaml"
    path.write_text(RINGS.replace(*edit), encoding="utf-8")
    with pytest.raises(SchemaError, match=f"^{re.escape(str(path))}(, |: ).*{message}") as caught:
        get_schema(str(path))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "the file is empty"), ("- name: a\n  answers: [x, y]\n", "holds a list"),
     ("questions: [\n", "not valid YAML: line 2")],
)
def test_yaml_files_that_are_no_schema(tmp_path, text, message):
    path = tmp_path / "tree.yaml"
    path.write_text(text)
    with pytest.raises(SchemaError, match=f"^{re.escape(str(path))}.*{message}"):
        get_schema(str(path))


def test_unreadable_yaml_files_are_schema_errors(tmp_path):
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00questions")
    with pytest.raises(SchemaError, match="binary.yaml: it is not UTF-8 text"):
        get_schema(str(tmp_path / "binary.yaml"))
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(SchemaError, match="cannot read schema file .*folder.yaml"):
        get_schema(str(tmp_path / "folder.yaml"))


def test_yaml_words_stay_the_words_written(tmp_path):
    """YAML 1.1 reads on/off/yes/no as booleans and 007 as 7: answers mean the words."""
    path = tmp_path / "words.yaml"
    path.write_text("\ufeffquestions:\n  - name: light\n"
                    "    answers: [on, off, yes, no, 007, 0x1A]\n"
                    "  - name: 2024\n    answers: [true, false]\n")
    schema = get_schema(str(path))
    assert schema.name == "words"
    assert [a.name for a in schema.question("light").answers] == [
        "on", "off", "yes", "no", "007", "0x1A"]
    assert schema.label_cols[-2:] == ["2024_true", "2024_false"]


def test_yaml_error_lines_reach_the_command_line(tmp_path, capsys):
    from galmorph.cli import main

    path = tmp_path / "my_tree.yaml"
    path.write_text(RINGS.replace("featured/yes", "featurd/yes"))
    assert main(["train", str(tmp_path / "catalog.csv"), "--schema", str(path),
                 "-o", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}, line 6: question 'ring'") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_answers_in_words_drop_their_codes_and_name_the_question_of_a_yes_or_no():
    schema = get_schema("gz2")
    labels = {a.name: a.label for a in schema.answers}
    assert labels["a01_smooth"] == "smooth"
    assert labels["a02_features_or_disk"] == "features or disk"
    assert schema.question("t02_edgeon").answers[0].label == "edge-on yes"
    assert plain_name("t11_arms_number") == "arms number"
    assert plain_name("smooth-or-featured") == "smooth-or-featured"  # no code: as it is
    assert plain_name("a1b_x") == "a1b x"
