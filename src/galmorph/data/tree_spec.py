"""Reading a decision tree's plain-data spec (the YAML format of :meth:`Schema.from_dict`).

:class:`TreeParser` builds the questions of a spec in order, checking names, answers and
the answer each question is asked after; its errors (:class:`SchemaSpecError`) say where
in the spec the problem is, and suggest a fix where they can (an ASCII name for an
accented one, the closest known question or answer for a typo).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from galmorph.data.tree import Answer, Question, SchemaSpecError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


class TreeParser:
    """Builds the questions of a spec in order, checking names, answers and parents."""

    def __init__(self, schema_name: str, raw_questions: list[Any]) -> None:
        self.schema_name = schema_name
        self.raw = raw_questions
        self.by_name: dict[str, Question] = {}
        self.columns: dict[str, str] = {}
        self.index = 0

    def fail(self, detail: str, *at: str | int) -> SchemaSpecError:
        """An error at ``questions[at...]`` whose message names the schema."""
        return SchemaSpecError(f"schema {self.schema_name!r}, {detail}", ("questions", *at), detail)

    def question(self, position: int) -> Question:
        """The question at ``position`` of the list, after the ones before it."""
        raw = self.raw[position]
        if not isinstance(raw, Mapping):
            raise self.fail(f"question #{position + 1}: must be a mapping with 'name' and "
                            f"'answers', got {raw!r}", position)
        q_name = _text(raw.get("name"))
        if not _NAME.match(q_name):
            raise self.fail(f"question #{position + 1}: {_bad_name('name', q_name)}",
                            position, "name")
        label = f"question {q_name!r}"
        if q_name in self.by_name:
            raise self.fail(f"{label}: duplicate question name (question names must differ)",
                            position, "name")
        answers = self._answers(raw.get("answers"), q_name, position)
        asked_after = self._parent(raw.get("asked_after"), q_name, position)
        question = Question(q_name, answers, asked_after, _text(raw.get("text")))
        self.by_name[q_name] = question
        return question

    def _answers(self, raw_answers: Any, q_name: str, position: int) -> tuple[Answer, ...]:
        label = f"question {q_name!r}"
        if not isinstance(raw_answers, list) or len(raw_answers) < 2:
            got = (f"only {raw_answers!r}" if isinstance(raw_answers, list) else
                   f"not {raw_answers!r}" if raw_answers is not None else "none given")
            raise self.fail(f"{label}: 'answers' must be a list of at least two answers to vote "
                            f"between, e.g. ['yes', 'no'] ({got})", position, "answers")
        answers: list[Answer] = []
        for number, raw in enumerate(raw_answers):
            at = (position, "answers", number)
            a_name, column = _answer_spec(raw, q_name)
            if not _NAME.match(a_name):
                raise self.fail(f"{label}, answer #{number + 1}: "
                                f"{_bad_name('answer name', a_name)}", *at)
            if any(a.name == a_name for a in answers):
                raise self.fail(f"{label}: duplicate answer {a_name!r}", *at)
            if column in self.columns:
                raise self.fail(f"{label}, answer {a_name!r}: column {column!r} is already "
                                f"used by {self.columns[column]}", *at)
            self.columns[column] = f"answer {q_name}/{a_name}"
            answers.append(Answer(a_name, q_name, column, self.index))
            self.index += 1
        return tuple(answers)

    def _parent(self, ref: Any, q_name: str, position: int) -> Answer | None:
        """The answer ``ref`` (``question/answer``) names, defined before ``q_name``."""
        if ref is None or ref == "":
            return None
        label, at = f"question {q_name!r}", (position, "asked_after")
        if not isinstance(ref, str) or ref.count("/") != 1:
            raise self.fail(f"{label}: asked_after must be '<question>/<answer>', "
                            f"got {ref!r}", *at)
        parent, a_name = ref.split("/")
        if parent not in self.by_name:
            raise self.fail(f"{label}: asked_after {ref!r}: {self._missing(parent, q_name)}", *at)
        for answer in self.by_name[parent].answers:
            if answer.name == a_name:
                return answer
        known = [a.name for a in self.by_name[parent].answers]
        raise self.fail(f"{label}: asked_after {ref!r}: question {parent!r} has no answer "
                        f"{a_name!r}{_did_you_mean(a_name, known)} (its answers: "
                        f"{', '.join(known)})", *at)

    def _missing(self, parent: str, q_name: str) -> str:
        """Why ``parent`` cannot lead to ``q_name``: itself, later in the list, or unknown."""
        if parent == q_name:
            return "a question cannot be asked after one of its own answers"
        later = {_text(r.get("name")): r for r in self.raw if isinstance(r, Mapping)}
        if parent not in later:
            return (f"there is no question {parent!r}{_did_you_mean(parent, list(later))} "
                    f"(the questions: {', '.join(later)})")
        if _text(later[parent].get("asked_after")).split("/")[0] == q_name:
            return (f"questions {q_name!r} and {parent!r} are each asked after the other, a "
                    "cycle: one must be asked first (without asked_after, or after another)")
        return f"question {parent!r} must come before {q_name!r} in the list"


def _text(raw: Any) -> str:
    """A spec value as text: '' for None."""
    return "" if raw is None else str(raw).strip()


def _answer_spec(raw: Any, q_name: str) -> tuple[str, str]:
    """An answer's name and vote column from its spec: a name, or ``{name, column}``.

    A boolean name is the word: YAML 1.1 readers turn a bare yes/no into one.
    """
    spec = raw if isinstance(raw, Mapping) else {"name": raw}
    name = spec.get("name")
    a_name = ("yes" if name else "no") if isinstance(name, bool) else _text(name)
    column = spec.get("column")
    return a_name, str(column) if column not in (None, "") else f"{q_name}_{a_name}"


def _bad_name(what: str, name: str) -> str:
    """Why ``name`` is not a valid name, with an ASCII suggestion when it has accents."""
    if not name:
        return f"{what} is missing"
    message = f"{what} {name!r} must be ASCII letters, digits, '_' or '-'"
    plain = re.sub(r"[^A-Za-z0-9_\-]+", "_",
                   unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode())
    plain = plain.strip("_")
    if plain and _NAME.match(plain):
        message += f" (e.g. {plain!r}; a 'column:' can keep your catalog's column name)"
    return message


def _did_you_mean(name: str, known: list[str]) -> str:
    """``; did you mean 'x'?`` for the closest of ``known``, or ''."""
    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
