"""Browse filters: ``where`` expressions such as ``bar > 0.6 and spiral > 0.8``.

A small grammar, parsed by hand into a tree and evaluated with numpy on whole
columns; the text is never run as code (no ``eval``, no ``DataFrame.query``)::

    expression := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expression ")" | comparison
    comparison := NAME OP NUMBER | NUMBER OP NAME        OP: < <= > >=

Keywords are case-insensitive; ``not`` binds tighter than ``and``, ``and`` tighter
than ``or``. Numbers may be signed, decimal or in exponent form (``-1.5e-3``).
Names (letters, digits and ``_``, in parts joined by ``-`` or ``.``) are looked up
by the caller (:class:`galmorph.web.table.GalaxyTable`). Any other name (with spaces,
``/`` or ``+``, a keyword...) is written in backquotes, as in pandas' ``query``:
`` `prob_not ring` > 0.5``; :func:`typed` spells a name so. A comparison with NaN is
False, so ``not`` of it is True, as in numpy and pandas. Input is at most
:data:`MAX_LENGTH` characters and nests at most :data:`MAX_DEPTH` levels.

Example:
    >>> import numpy as np
    >>> columns = {"bar": np.array([0.7, 0.9, np.nan]), "spiral": np.array([0.9, 0.1, 0.9])}
    >>> tree = parse("bar > 0.6 AND not spiral <= 0.8")
    >>> evaluate(tree, lambda name: columns[name.text]).tolist()
    [True, False, False]
    >>> parse("`prob_S0/Sa` >= 0.5")
    Compare(name=Name(text='prob_S0/Sa', position=1), op='>=', number=0.5)
    >>> parse("bar >")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    galmorph.web.query.FilterError: expected a number after '>' at character 6, found the end...
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from galmorph.exceptions import GalmorphError

#: Longest filter accepted, in characters.
MAX_LENGTH = 500
#: Deepest nesting of parentheses and ``not``.
MAX_DEPTH = 50
#: What a name looks like (also used to check that an answer's short name can be typed).
NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*(?:[-.][A-Za-z0-9_]+)*"
KEYWORDS = ("and", "or", "not")
#: Comparison operators, and the one meaning the same with its sides swapped.
OPERATORS = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
_UFUNCS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}
_TOKEN = re.compile(rf"""
    (?P<space>[ \t\r\n]+)
  | (?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)
  | (?P<name>{NAME_PATTERN})
  | (?P<quoted>`[^`]*`?)
  | (?P<op><=|>=|<|>)
  | (?P<paren>[()])
  | (?P<sign>[-+])
""", re.VERBOSE)
#: How to write a name with other characters (a filter's error messages end with it).
QUOTE_HINT = "put a name with spaces or other characters in backquotes, as in `prob_S0/Sa` > 0.5"
_HINTS = {"=": "compare with <, <=, > or >=", "!": "write not", "&": "write and",
          "|": "write or", "'": QUOTE_HINT, '"': QUOTE_HINT}
_EXAMPLE = "write comparisons like bar > 0.6, joined by and, or, not and parentheses"
_PLAIN = re.compile(NAME_PATTERN)


def typed(name: str) -> str:
    """``name`` as a filter must spell it: as it is when it is a plain name (``bar``,
    ``prob_0``, ``edge-on``), else in backquotes (`` `prob_not ring` ``, `` `and` ``)."""
    if _PLAIN.fullmatch(name) and name.lower() not in KEYWORDS:
        return name
    return f"`{name}`"


def unquote(name: str) -> str:
    """A name as typed, without its backquotes if it has them (`` `prob_S0/Sa` `` →
    ``prob_S0/Sa``)."""
    if len(name) >= 2 and name[0] == name[-1] == "`":
        return name[1:-1]
    return name


class FilterError(GalmorphError):
    """A filter or sort that cannot be read, or that names no known column."""


@dataclass(frozen=True)
class Name:
    """A name in a filter and its place (1-based character)."""

    text: str
    position: int


@dataclass(frozen=True)
class Compare:
    """``name op number`` (a ``number op name`` is stored with its sides swapped)."""

    name: Name
    op: str
    number: float


@dataclass(frozen=True)
class Not:
    """``not item``."""

    item: Node


@dataclass(frozen=True)
class Join:
    """``items[0] and items[1] ...`` (``op`` ``"and"``), or the same with ``or``."""

    op: str
    items: tuple[Node, ...]


Node = Compare | Not | Join


@dataclass(frozen=True)
class _Token:
    kind: str  # number, name, op, (, ), sign, and, or, not, end
    text: str
    position: int

    def __str__(self) -> str:
        return "the end" if self.kind == "end" else repr(self.text)


def _quoted(token: str, position: int) -> str:
    """The name inside a backquoted ``token`` that starts at ``position``."""
    if len(token) == 1 or not token.endswith("`"):
        raise FilterError(f"the backquote at character {position} is not closed: write "
                          "`NAME` with a backquote on each side")
    if not token[1:-1].strip():
        raise FilterError(f"empty name `` at character {position}: write the name between "
                          "the backquotes")
    return token[1:-1]


def _tokens(text: str) -> Iterator[_Token]:
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            char = text[at]
            hint = _HINTS.get(char, f"{_EXAMPLE}; {QUOTE_HINT}")
            raise FilterError(f"unexpected character {char!r} at character {at + 1}: {hint}")
        kind, value = match.lastgroup, match.group()
        if kind == "quoted":
            kind, value = "name", _quoted(value, at + 1)
        elif kind == "name" and value.lower() in KEYWORDS:
            kind = value.lower()
        elif kind == "paren":
            kind = value
        if kind != "space":
            yield _Token(kind, value, at + 1)
        at = match.end()
    yield _Token("end", "", len(text) + 1)


class _Parser:
    """Recursive descent over the tokens, read as needed (so the leftmost error is the one
    reported); depth counts open ``(`` and ``not``."""

    def __init__(self, text: str) -> None:
        self.source = _tokens(text)
        self.tokens: list[_Token] = []
        self.at = 0
        self.depth = 0

    @property
    def token(self) -> _Token:
        if self.at == len(self.tokens):
            self.tokens.append(next(self.source))
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.token
        self.at += 1
        return token

    def expression(self) -> Node:
        items = [self.term()]
        while self.token.kind == "or":
            self.take()
            items.append(self.term())
        return items[0] if len(items) == 1 else Join("or", tuple(items))

    def term(self) -> Node:
        items = [self.factor()]
        while self.token.kind == "and":
            self.take()
            items.append(self.factor())
        return items[0] if len(items) == 1 else Join("and", tuple(items))

    def factor(self) -> Node:
        token = self.token
        if token.kind in ("not", "("):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise FilterError(f"the filter nests deeper than {MAX_DEPTH} levels "
                                  f"at character {token.position}")
            self.take()
            if token.kind == "not":
                node: Node = Not(self.factor())
            else:
                node = self.expression()
                if self.token.kind != ")":
                    raise FilterError(f"expected ')' at character {self.token.position} to "
                                      f"close '(' at character {token.position}, found "
                                      f"{self.token}")
                self.take()
            self.depth -= 1
            return node
        return self.comparison()

    def operand(self, after: _Token | None) -> Name | float | None:
        token = self.token
        if token.kind == "name":
            self.take()
            return Name(token.text, token.position)
        sign = 1.0
        if token.kind == "sign":
            self.take()
            sign = -1.0 if token.text == "-" else 1.0
            if self.token.kind != "number":
                raise FilterError(f"expected a number after {token} at character "
                                  f"{self.token.position}, found {self.token}")
        if self.token.kind == "number":
            return sign * float(self.take().text)
        if after is None:
            raise FilterError(f"expected a comparison such as bar > 0.6, 'not' or '(' at "
                              f"character {token.position}, found {token}")
        return None

    def comparison(self) -> Compare:
        left = self.operand(None)
        op = self.token
        if op.kind != "op":
            hint = f": {QUOTE_HINT}" if isinstance(left, Name) and op.kind == "name" else ""
            raise FilterError(f"expected <, <=, > or >= after {self.tokens[self.at - 1]} at "
                              f"character {op.position}, found {op}{hint}")
        self.take()
        wanted = "a number" if isinstance(left, Name) else "a name"
        right = self.operand(op)
        if right is None or isinstance(right, Name) == isinstance(left, Name):
            found = self.tokens[self.at - 1] if right is not None else self.token
            raise FilterError(f"expected {wanted} after {op} at character {found.position}, "
                              f"found {found}: compare a name with a number, as in bar > 0.6")
        if self.token.kind == "op":
            raise FilterError(f"comparisons cannot be chained (at character "
                              f"{self.token.position}): write 0.2 < bar and bar < 0.6")
        if isinstance(left, Name):
            return Compare(left, op.text, float(right))
        return Compare(right, OPERATORS[op.text], float(left))

    def parse(self) -> Node:
        node = self.expression()
        token = self.token
        if token.kind != "end":
            if token.kind == ")":
                raise FilterError(f"unmatched ')' at character {token.position}")
            raise FilterError(f"expected and, or or the end at character {token.position}, "
                              f"found {token}")
        return node


def parse(text: str) -> Node:
    """The tree of a filter expression.

    Raises:
        FilterError: saying what is wrong and at which character (1-based), for a
            blank text, one over :data:`MAX_LENGTH` characters, or one nesting
            deeper than :data:`MAX_DEPTH`.
    """
    if len(text) > MAX_LENGTH:
        raise FilterError(f"the filter is {len(text)} characters long; at most {MAX_LENGTH}")
    if not text.strip():
        raise FilterError(f"the filter is empty: {_EXAMPLE}")
    return _Parser(text).parse()


def evaluate(node: Node, column: Callable[[Name], np.ndarray]) -> np.ndarray:
    """Which rows pass ``node``: a boolean array like the columns ``column(name)`` gives.

    Each comparison runs in its column's float type; a number beyond that type's
    range is compared in float64.
    """
    if isinstance(node, Compare):
        values = column(node.name)
        number = node.number
        if abs(number) > float(np.finfo(values.dtype).max):
            values = values.astype(np.float64)
        return _UFUNCS[node.op](values, values.dtype.type(number))
    if isinstance(node, Not):
        return ~evaluate(node.item, column)
    combine = np.logical_and if node.op == "and" else np.logical_or
    result = evaluate(node.items[0], column)
    for item in node.items[1:]:
        result = combine(result, evaluate(item, column))
    return result
