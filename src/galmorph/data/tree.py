"""Galaxy Zoo decision trees: questions, answers and how they depend on each other.

A :class:`Schema` lists the questions of a decision tree in order, each with its
answers and the vote-count column of every answer in a catalog. It also knows
which answer leads to each question, so it can compute the probability that a
question was asked given predicted answer fractions.

Schemas are built from plain data or YAML (see :meth:`Schema.from_dict` for the
format, read by :mod:`galmorph.data.tree_spec`); :func:`galmorph.data.schemas.get_schema`
gives the built-in ones by name.

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

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from galmorph.exceptions import SchemaError


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

    @property
    def label(self) -> str:
        """The answer in words, for captions (:func:`plain_name`), with its question's for
        a bare yes or no.

        Example:
            >>> Answer("a04_yes", "t02_edgeon", "t02_edgeon_a04_yes_count", 3).label
            'edge-on yes'
            >>> Answer("a02_features_or_disk", "t01_smooth_or_features", "c", 1).label
            'features or disk'
        """
        short = plain_name(self.name)
        return f"{plain_name(self.question)} {short}" if short.lower() in ("yes", "no") else short


def plain_name(name: str) -> str:
    """A question's or answer's name in words: without a code such as GZ2's ``t01_`` or
    ``a01_``, underscores as spaces (``t01_smooth_or_features`` → ``smooth or features``)."""
    head, _, rest = name.partition("_")
    if rest and head[:1].isalpha() and head[1:].isdigit():
        name = rest
    return name.replace("_", " ").replace("edgeon", "edge-on")  # GZ2's t02_edgeon


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

    def __repr__(self) -> str:
        """One line (not every question and answer): name and size."""
        return (f"Schema({self.name!r}, {len(self.questions)} questions, "
                f"{len(self.answers)} answers)")

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
        from galmorph.data.tree_spec import TreeParser

        parser = TreeParser(schema_name, raw_questions)
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
