"""Galaxy Zoo decision trees: questions, answers and how they depend on each other.

A :class:`Schema` lists the questions of a decision tree in order, each with its
answers and the vote-count column of every answer in a catalog. It also knows
which answer leads to each question, so it can compute the probability that a
question was asked given predicted answer fractions.

Schemas are built from plain data or YAML (see :meth:`Schema.from_dict` for the
format); :func:`galmorph.data.schemas.get_schema` gives the built-in ones by name.

Examples
--------
>>> from galmorph.data.tree import Schema
>>> schema = Schema.from_dict({"name": "rings", "questions": [
...     {"name": "featured", "answers": ["yes", "no"]},
...     {"name": "ring", "asked_after": "featured/yes", "answers": ["ring", "none"]}]})
>>> schema.label_cols
['featured_yes', 'featured_no', 'ring_ring', 'ring_none']
>>> schema.question("ring").asked_after.full_name
'featured_yes'
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from galmorph.exceptions import SchemaError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


@dataclass(frozen=True)
class Answer:
    """One answer of a question.

    Attributes:
        name: short name, unique within its question (e.g. ``a01_smooth``).
        question: name of the question it answers.
        column: catalog column holding its vote counts.
        index: position of the answer among all answers of the schema.
    """

    name: str
    question: str
    column: str
    index: int

    @property
    def full_name(self) -> str:
        """Vote column without a trailing ``_count``; the stem of prediction columns."""
        return self.column.removesuffix("_count")


@dataclass(frozen=True)
class Question:
    """A question of the tree, its answers, and the answer that leads to it.

    ``asked_after`` is None for a question asked of every galaxy.
    """

    name: str
    answers: tuple[Answer, ...]
    asked_after: Answer | None = None
    text: str = ""

    @property
    def columns(self) -> list[str]:
        """Vote-count columns of this question's answers."""
        return [a.column for a in self.answers]

    @property
    def start(self) -> int:
        """Index of the first answer in the schema's answer list."""
        return self.answers[0].index

    @property
    def stop(self) -> int:
        """One past the index of the last answer (a Python slice end)."""
        return self.answers[-1].index + 1


@dataclass(frozen=True)
class Schema:
    """A decision tree: ordered questions, each after at most one earlier answer."""

    name: str
    questions: tuple[Question, ...]
    _by_name: dict[str, Question] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {q.name: q for q in self.questions})

    # ------------------------------------------------------------------ queries
    @property
    def answers(self) -> tuple[Answer, ...]:
        """All answers, in label-column order."""
        return tuple(a for q in self.questions for a in q.answers)

    @property
    def label_cols(self) -> list[str]:
        """Vote-count columns, one per answer, in the order of model outputs."""
        return [a.column for a in self.answers]

    @property
    def question_index_groups(self) -> list[tuple[int, int]]:
        """Per question, ``(start, stop)`` indices of its answers (stop exclusive)."""
        return [(q.start, q.stop) for q in self.questions]

    @property
    def n_questions(self) -> int:
        return len(self.questions)

    @property
    def n_answers(self) -> int:
        return sum(len(q.answers) for q in self.questions)

    def question(self, name: str) -> Question:
        """The question called ``name``; SchemaError naming the known ones otherwise."""
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(self._by_name)
            raise SchemaError(
                f"schema {self.name!r} has no question {name!r} (it has: {known})"
            ) from None

    def answer(self, key: str) -> Answer:
        """An answer by vote column, full name, or ``question/answer``."""
        for a in self.answers:
            if key in (a.column, a.full_name, f"{a.question}/{a.name}"):
                return a
        raise SchemaError(f"schema {self.name!r} has no answer {key!r}")

    def prob_asked(self, fractions: np.ndarray) -> np.ndarray:
        """Probability each question was asked, from answer fractions.

        Args:
            fractions: ``(n_galaxies, n_answers)`` expected vote fractions, each
                question's answers summing to 1.

        Returns:
            ``(n_galaxies, n_questions)``: the product of the fractions of the
            answers on the chain leading to each question (1 for root questions).
        """
        fractions = np.asarray(fractions, dtype=np.float64)
        if fractions.ndim != 2 or fractions.shape[1] != self.n_answers:
            raise ValueError(
                f"expected fractions of shape (n, {self.n_answers}), got {fractions.shape}"
            )
        asked = np.ones((fractions.shape[0], self.n_questions))
        position = {q.name: i for i, q in enumerate(self.questions)}
        for i, q in enumerate(self.questions):
            if q.asked_after is not None:
                parent = position[q.asked_after.question]
                asked[:, i] = asked[:, parent] * fractions[:, q.asked_after.index]
        return asked

    def unanswered(self, counts: np.ndarray) -> list[str]:
        """Names of the questions with no vote at all in ``counts``, in schema order.

        Args:
            counts: ``(n_galaxies, n_answers)`` vote counts in label-column order.

        Example:
            >>> from galmorph.data.schemas import get_schema
            >>> schema = get_schema("gz2-no-odd")
            >>> counts = np.ones((3, schema.n_answers))
            >>> counts[:, schema.question("t11_arms_number").start:] = 0
            >>> schema.unanswered(counts)
            ['t11_arms_number']
        """
        totals = np.asarray(counts).sum(axis=0)
        return [q.name for q in self.questions if not totals[q.start:q.stop].any()]

    def without(self, *names: str, name: str | None = None) -> Schema:
        """A copy without the named questions (which no kept question may depend on)."""
        for n in names:
            self.question(n)
        dropped = set(names)
        spec = self.to_dict()
        spec["name"] = name or f"{self.name}-without-{'-'.join(names)}"
        spec["questions"] = [q for q in spec["questions"] if q["name"] not in dropped]
        for q in spec["questions"]:
            after = q.get("asked_after")
            if after and after.split("/")[0] in dropped:
                raise SchemaError(
                    f"question {q['name']!r} is asked after {after!r}, which would be removed"
                )
        return Schema.from_dict(spec)

    # ------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (the YAML format), e.g. to store inside a checkpoint."""
        return {
            "name": self.name,
            "questions": [
                {
                    "name": q.name,
                    "text": q.text,
                    "asked_after": (
                        f"{q.asked_after.question}/{q.asked_after.name}"
                        if q.asked_after
                        else None
                    ),
                    "answers": [{"name": a.name, "column": a.column} for a in q.answers],
                }
                for q in self.questions
            ],
        }

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Schema:
        """Build and validate a schema from its plain-data form.

        The format (as YAML)::

            name: my-tree
            questions:
              - name: smooth-or-featured
                text: Is the galaxy simply smooth and rounded?   # optional
                answers:
                  - smooth                       # column defaults to <question>_<answer>
                  - {name: featured, column: smooth-or-featured_featured_count}
              - name: edge-on
                asked_after: smooth-or-featured/featured   # <question>/<answer>
                answers: [yes, no]

        Questions must come after the question whose answer leads to them. Names are
        ASCII letters, digits, ``_`` and ``-``; a column may be any text.

        Raises:
            SchemaSpecError: naming the offending question or answer when the spec is
                invalid (its ``at`` says where in ``spec``).
        """
        if not isinstance(spec, Mapping):
            raise SchemaSpecError("a schema must be a mapping with 'name' and 'questions'")
        schema_name = str(spec.get("name") or "custom")
        raw_questions = spec.get("questions")
        if not isinstance(raw_questions, list) or not raw_questions:
            raise SchemaSpecError(f"schema {schema_name!r}: 'questions' must be a non-empty list",
                                  ("questions",), "'questions' must be a non-empty list")
        parser = _TreeParser(schema_name, raw_questions)
        return cls(schema_name, tuple(parser.question(i) for i in range(len(raw_questions))))

    @classmethod
    def from_yaml(cls, path: str | Path) -> Schema:
        """Read a custom schema from a YAML file (format in :meth:`from_dict`).

        Errors name the file and the line (see :func:`galmorph.data.schemas.read_yaml_schema`).
        """
        from galmorph.data.schemas import read_yaml_schema

        return read_yaml_schema(path)


class SchemaSpecError(SchemaError):
    """An invalid schema spec; ``at`` is where in the spec (keys and list positions),
    ``detail`` the message without the schema's name."""

    def __init__(self, message: str, at: tuple[str | int, ...] = (), detail: str = "") -> None:
        super().__init__(message)
        self.at = at
        self.detail = detail or message


class _TreeParser:
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
