"""The browse filter grammar (galmorph.web.query): parsing, precedence, evaluation, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from galmorph.web.query import (
    MAX_DEPTH,
    MAX_LENGTH,
    Compare,
    FilterError,
    Join,
    Name,
    Not,
    evaluate,
    parse,
    typed,
    unquote,
)

COLUMNS = {
    "bar": np.array([0.9, 0.7, 0.1, np.nan, 0.5]),
    "spiral": np.array([0.9, 0.2, 0.95, 0.9, 0.5]),
    "disk-edge-on.yes": np.array([0.0, 1.0, 0.0, 1.0, 0.0]),
    "prob_not ring": np.array([0.9, 0.1, 0.6, np.nan, 0.5]),  # a classifier's class names
    "prob_S0/Sa": np.array([0.2, 0.8, 0.6, 0.1, 0.0]),
    "and": np.array([1.0, 0.0, 1.0, 0.0, 1.0]),
}


def rows(text: str) -> list[int]:
    return np.flatnonzero(evaluate(parse(text), lambda name: COLUMNS[name.text])).tolist()


def shape(node: object) -> object:
    """A tree as nested lists of operators and names (positions left out)."""
    if isinstance(node, Compare):
        return node.name.text
    if isinstance(node, Not):
        return ["not", shape(node.item)]
    return [node.op, *(shape(item) for item in node.items)]


@pytest.mark.parametrize(("text", "tree"), [
    ("a > 0 or b > 0 and c > 0", ["or", "a", ["and", "b", "c"]]),
    ("a > 0 OR b > 0 AND c > 0", ["or", "a", ["and", "b", "c"]]),
    ("a > 0 and b > 0 or c > 0", ["or", ["and", "a", "b"], "c"]),
    ("(a > 0 or b > 0) and c > 0", ["and", ["or", "a", "b"], "c"]),
    ("not a > 0 and b > 0", ["and", ["not", "a"], "b"]),
    ("not (a > 0 and b > 0)", ["not", ["and", "a", "b"]]),
    ("a > 0 and b > 0 and c > 0", ["and", "a", "b", "c"]),
    ("((a > 0))", "a"),
])
def test_the_tree_follows_precedence_and_parentheses(text: str, tree: object) -> None:
    assert shape(parse(text)) == tree


def test_comparisons_keep_names_and_places() -> None:
    assert parse("  bar >= 0.6") == Compare(Name("bar", 3), ">=", 0.6)
    assert parse("0.6 < bar") == Compare(Name("bar", 7), ">", 0.6)
    assert parse("not bar < 1") == Not(Compare(Name("bar", 5), "<", 1.0))
    assert parse("a < 1 or b > 2") == Join("or", (Compare(Name("a", 1), "<", 1.0),
                                                   Compare(Name("b", 10), ">", 2.0)))


@pytest.mark.parametrize(("text", "expected"), [
    ("bar > 0.6", [0, 1]),
    ("bar >= 0.7", [0, 1]),
    ("bar < 0.5", [2]),
    ("bar <= 0.5", [2, 4]),
    ("0.5 < bar", [0, 1]),  # a number first: the sides are swapped
    ("0.5 >= bar", [2, 4]),
    ("bar > 0.6 and spiral > 0.8", [0]),
    ("bar > 0.6 or spiral > 0.8", [0, 1, 2, 3]),
    ("not bar > 0.6", [2, 3, 4]),  # NaN compares False, so not of it is True
    ("not not bar > 0.6", [0, 1]),
    ("bar < 0.2 or bar > 0.8 and spiral < 0.5", [2]),  # and before or
    ("(bar < 0.2 or bar > 0.8) and spiral > 0.5", [0, 2]),
    ("not (bar > 0.6 or spiral < 0.5) and spiral > 0.6", [2, 3]),
    ("NOT bar > 0.6 AnD spiral >= 0.95", [2]),
    ("bar>0.6and spiral>0.8", [0]),
    ("disk-edge-on.yes > 0.5", [1, 3]),
    ("bar > -1 and bar < +1e0 and spiral > .1E-1", [0, 1, 2, 4]),
    ("bar > 5.", []),
    ("bar < 1e999", [0, 1, 2, 4]),  # beyond float range, still no NaN
])
def test_expressions_select_the_right_rows(text: str, expected: list[int]) -> None:
    assert rows(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("`prob_not ring` > 0.5", [0, 2]),
    ("0.5 <= `prob_not ring` and `prob_S0/Sa`>0.5", [2]),
    ("not `prob_not ring` > 0.5 or (`prob_S0/Sa` > 0.7)", [1, 3, 4]),
    ("`and` > 0.5 and `bar` > 0.6", [0]),  # a keyword, or any name, may be backquoted
    ("`disk-edge-on.yes` > 0.5", [1, 3]),
])
def test_backquoted_names_may_hold_any_character(text: str, expected: list[int]) -> None:
    assert rows(text) == expected


def test_backquoted_names_keep_their_text_and_place() -> None:
    assert parse(" `prob_not ring` >= 0.5") == Compare(Name("prob_not ring", 2), ">=", 0.5)
    assert parse("0.5 < `S0/Sa (early)`") == Compare(Name("S0/Sa (early)", 7), ">", 0.5)
    assert parse("`__import__('os')` > 1").name.text == "__import__('os')"  # only a name


@pytest.mark.parametrize(("name", "spelled"), [
    ("bar", "bar"), ("prob_0", "prob_0"), ("prob_edge-on", "prob_edge-on"),
    ("prob_v1.2", "prob_v1.2"), ("prob_not ring", "`prob_not ring`"),
    ("prob_S0/Sa", "`prob_S0/Sa`"), ("0", "`0`"), ("not", "`not`"), ("Or", "`Or`"),
])
def test_names_are_spelled_as_a_filter_reads_them(name: str, spelled: str) -> None:
    assert typed(name) == spelled and unquote(spelled) == name
    node = parse(f"{spelled} > 0")
    assert isinstance(node, Compare) and node.name.text == name


def test_numbers_are_read_as_written() -> None:
    numbers = [parse(f"bar > {text}").number for text in ("-1.5e-3", "+2", ".5", "3.", "1E2")]
    assert numbers == [-0.0015, 2.0, 0.5, 3.0, 100.0]
    assert parse("-2 < bar") == Compare(Name("bar", 6), ">", -2.0)


def test_float32_columns_compare_in_float32() -> None:
    values = np.array([0.6, 0.7, np.nan], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for text, expected in (("x > 0.6", [1]), ("x >= 0.6", [0, 1]), ("x < 1e300", [0, 1]),
                               ("x > -1e300", [0, 1]), ("x > 1e300", [])):
            mask = evaluate(parse(text), lambda name: values)
            assert np.flatnonzero(mask).tolist() == expected, text


def test_code_is_only_ever_a_name() -> None:
    assert parse("__import__ > 1") == Compare(Name("__import__", 1), ">", 1.0)
    assert parse("os.system < 0") == Compare(Name("os.system", 1), "<", 0.0)


@pytest.mark.parametrize(("text", "message"), [
    ("bar >", "expected a number after '>' at character 6, found the end"),
    ("bar > ", "expected a number after '>' at character 7"),
    ("bar > spiral", "expected a number after '>' at character 7, found 'spiral': compare a "
                     "name with a number"),
    ("1 < 2", "expected a name after '<' at character 5, found '2'"),
    ("bar 0.5", "expected <, <=, > or >= after 'bar' at character 5, found '0.5'"),
    ("bar > 0.6 and", "expected a comparison such as bar > 0.6, 'not' or '(' at character 14"),
    ("bar > 0.6 spiral > 0.2", "expected and, or or the end at character 11, found 'spiral'"),
    ("(bar > 0.6", "expected ')' at character 11 to close '(' at character 1, found the end"),
    ("bar > 0.6)", "unmatched ')' at character 10"),
    ("()", "expected a comparison such as bar > 0.6, 'not' or '(' at character 2, found ')'"),
    ("0.2 < bar < 0.6", "comparisons cannot be chained (at character 11): write 0.2 < bar "
                        "and bar < 0.6"),
    ("bar == 1", "unexpected character '=' at character 5: compare with <, <=, > or >="),
    ("bar != 1", "unexpected character '!' at character 5: write not"),
    ("bar > 0.5 && spiral > 0.2", "unexpected character '&' at character 11: write and"),
    ("bar > 0.5 || spiral > 0.2", "unexpected character '|' at character 11: write or"),
    ("bar > - spiral", "expected a number after '-' at character 9, found 'spiral'"),
    ("__import__('os').system('id')", "expected <, <=, > or >= after '__import__' at "
                                      "character 11, found '('"),
    ("bar > 'x'", "unexpected character \"'\" at character 7"),
    ("bär > 0.5", "unexpected character 'ä' at character 2"),
    ("prob_not ring > 0.5", "expected <, <=, > or >= after 'prob_not' at character 10, found "
                            "'ring': put a name with spaces or other characters in backquotes"),
    ("prob_S0/Sa > 0.5", "unexpected character '/' at character 8: write comparisons like bar "
                         "> 0.6, joined by and, or, not and parentheses; put a name with spaces "
                         "or other characters in backquotes, as in `prob_S0/Sa` > 0.5"),
    ("'prob_not ring' > 0.5", "unexpected character \"'\" at character 1: put a name with "
                              "spaces or other characters in backquotes"),
    ("`prob_not ring > 0.5", "the backquote at character 1 is not closed"),
    ("bar > 0.5 or `", "the backquote at character 14 is not closed"),
    ("`` > 0.5", "empty name `` at character 1"),
    ("` ` > 0.5", "empty name `` at character 1"),
    ("and > 1", "expected a comparison such as bar > 0.6, 'not' or '(' at character 1, "
                "found 'and'"),
    ("", "the filter is empty"),
    ("   ", "the filter is empty"),
    ("b" * (MAX_LENGTH + 1), f"the filter is {MAX_LENGTH + 1} characters long; at most 500"),
    ("(" * (MAX_DEPTH + 1) + "bar > 0" + ")" * (MAX_DEPTH + 1),
     f"the filter nests deeper than {MAX_DEPTH} levels at character {MAX_DEPTH + 1}"),
    ("not " * (MAX_DEPTH + 1) + "bar > 0", "nests deeper than 50 levels"),
])
def test_bad_filters_say_what_and_where(text: str, message: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse(text)
    assert message in str(caught.value)


def test_nesting_up_to_the_limit_is_fine() -> None:
    deep = "(" * MAX_DEPTH + "bar > 0.6" + ")" * MAX_DEPTH
    assert rows(deep) == [0, 1]
    assert rows("not " * MAX_DEPTH + "bar > 0.6") == [0, 1]  # an even number of nots
    long_flat = " or ".join(["bar>0.6"] * 45)  # flat joins are not nesting
    assert len(long_flat) <= MAX_LENGTH and rows(long_flat) == [0, 1]
