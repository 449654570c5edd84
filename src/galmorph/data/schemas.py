"""The built-in Galaxy Zoo decision trees, and :func:`get_schema` to get any schema.

Built-in schemas (:func:`builtin_schemas`) are made on demand by
:func:`get_schema`; custom schemas are read from YAML (see
:meth:`galmorph.data.tree.Schema.from_dict` for the format).

Examples
--------
>>> from galmorph.data.schemas import get_schema
>>> schema = get_schema("gz2-no-odd")
>>> schema.n_questions, schema.n_answers
(9, 28)
>>> schema.question("t02_edgeon").asked_after.full_name
't01_smooth_or_features_a02_features_or_disk'
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from galmorph.data.tree import Schema, SchemaSpecError
from galmorph.exceptions import SchemaError


def _gz2_question(
    name: str, answers: Iterable[str], asked_after: str | None, text: str
) -> dict[str, Any]:
    return {
        "name": name,
        "text": text,
        "asked_after": asked_after,
        "answers": [{"name": a, "column": f"{name}_{a}_count"} for a in answers],
    }


def _gz2() -> Schema:
    """Galaxy Zoo 2 (Willett et al. 2013), columns as in the published GZ2 tables."""
    q = _gz2_question
    return Schema.from_dict(
        {
            "name": "gz2",
            "questions": [
                q("t01_smooth_or_features", ["a01_smooth", "a02_features_or_disk",
                  "a03_star_or_artifact"], None,
                  "Is the galaxy simply smooth and rounded, with no sign of a disk?"),
                q("t02_edgeon", ["a04_yes", "a05_no"],
                  "t01_smooth_or_features/a02_features_or_disk",
                  "Could this be a disk viewed edge-on?"),
                q("t03_bar", ["a06_bar", "a07_no_bar"], "t02_edgeon/a05_no",
                  "Is there a sign of a bar feature through the centre of the galaxy?"),
                q("t04_spiral", ["a08_spiral", "a09_no_spiral"], "t02_edgeon/a05_no",
                  "Is there any sign of a spiral arm pattern?"),
                q("t05_bulge_prominence", ["a10_no_bulge", "a11_just_noticeable",
                  "a12_obvious", "a13_dominant"], "t02_edgeon/a05_no",
                  "How prominent is the central bulge?"),
                q("t06_odd", ["a14_yes", "a15_no"], None, "Is there anything odd?"),
                q("t07_rounded", ["a16_completely_round", "a17_in_between",
                  "a18_cigar_shaped"], "t01_smooth_or_features/a01_smooth",
                  "How rounded is it?"),
                q("t08_odd_feature", ["a19_ring", "a20_lens_or_arc", "a21_disturbed",
                  "a22_irregular", "a23_other", "a24_merger", "a38_dust_lane"],
                  "t06_odd/a14_yes", "Is the odd feature a ring, or is the galaxy "
                  "disturbed or irregular?"),
                q("t09_bulge_shape", ["a25_rounded", "a26_boxy", "a27_no_bulge"],
                  "t02_edgeon/a04_yes", "Does the galaxy have a bulge at its centre?"),
                q("t10_arms_winding", ["a28_tight", "a29_medium", "a30_loose"],
                  "t04_spiral/a08_spiral", "How tightly wound do the spiral arms appear?"),
                q("t11_arms_number", ["a31_1", "a32_2", "a33_3", "a34_4",
                  "a36_more_than_4", "a37_cant_tell"], "t04_spiral/a08_spiral",
                  "How many spiral arms are there?"),
            ],
        }
    )


def _gz2_no_odd() -> Schema:
    """GZ2 without t06 (odd) and t08 (odd feature): keeps rings/mergers out of pretraining."""
    return _gz2().without("t06_odd", "t08_odd_feature", name="gz2-no-odd")


def _gz_decals_dr5() -> Schema:
    """Galaxy Zoo DECaLS DR5 (Walmsley et al. 2022): 10 questions, 34 answers."""

    def q(name: str, answers: list[str], after: str | None) -> dict[str, Any]:
        return {"name": name, "asked_after": after, "answers": answers}

    return Schema.from_dict(
        {
            "name": "gz-decals-dr5",
            "questions": [
                q("smooth-or-featured", ["smooth", "featured-or-disk", "artifact"], None),
                q("disk-edge-on", ["yes", "no"], "smooth-or-featured/featured-or-disk"),
                q("has-spiral-arms", ["yes", "no"], "disk-edge-on/no"),
                q("bar", ["strong", "weak", "no"], "disk-edge-on/no"),
                q("bulge-size", ["dominant", "large", "moderate", "small", "none"],
                  "disk-edge-on/no"),
                q("how-rounded", ["round", "in-between", "cigar-shaped"],
                  "smooth-or-featured/smooth"),
                q("edge-on-bulge", ["boxy", "none", "rounded"], "disk-edge-on/yes"),
                q("spiral-winding", ["tight", "medium", "loose"], "has-spiral-arms/yes"),
                q("spiral-arm-count", ["1", "2", "3", "4", "more-than-4", "cant-tell"],
                  "has-spiral-arms/yes"),
                q("merging", ["none", "minor-disturbance", "major-disturbance", "merger"],
                  None),
            ],
        }
    )


_BUILTINS: dict[str, Callable[[], Schema]] = {
    "gz2": _gz2,
    "gz2-no-odd": _gz2_no_odd,
    "gz-decals-dr5": _gz_decals_dr5,
}


def builtin_schemas() -> list[str]:
    """Names accepted by :func:`get_schema` besides YAML paths."""
    return sorted(_BUILTINS)


@cache
def _builtin(name: str) -> Schema:
    return _BUILTINS[name]()


def get_schema(name_or_path: str | Path | Schema) -> Schema:
    """A built-in schema by name, or a custom one from a ``.yaml``/``.yml`` file."""
    if isinstance(name_or_path, Schema):
        return name_or_path
    key = str(name_or_path)
    if key in _BUILTINS:
        return _builtin(key)
    if key.lower().endswith((".yaml", ".yml")):
        return read_yaml_schema(key)
    if Path(key).is_file():
        raise SchemaError(f"schema file {key}: name it .yaml or .yml (a YAML decision tree)")
    raise SchemaError(
        f"unknown schema {key!r}: use one of {', '.join(builtin_schemas())} "
        "or the path of a YAML schema file"
    )


#: Keys a YAML schema may have: at the top, in a question, in an answer given as a mapping.
_KEYS = {"schema": ("name", "questions"), "question": ("name", "text", "asked_after", "answers"),
         "answer": ("name", "column")}
#: The only words YAML turns into other types when reading a schema: none (a bare
#: ``yes``, ``on`` or ``007`` stays the text written), except ``~``/``null``.
_KEPT_TAGS = ("tag:yaml.org,2002:null", "tag:yaml.org,2002:merge")


def read_yaml_schema(path: str | Path) -> Schema:
    """A custom schema from a YAML file (format in :meth:`Schema.from_dict`).

    Every word is read as written (``yes``, ``on``, ``1`` are answer names, not a
    boolean or a number); keys are checked, and a key given twice is an error.

    Raises:
        SchemaError: one line naming the file, the line, and the question or answer.
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SchemaError(f"schema file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        why = "it is not UTF-8 text" if isinstance(err, UnicodeDecodeError) else err.strerror
        raise SchemaError(f"cannot read schema file {path}: {why or err}") from None
    loader = _text_loader()(text)
    try:
        node = loader.get_single_node()
        spec = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as err:
        raise SchemaError(f"{path}: {_yaml_problem(err)}") from None
    finally:
        loader.dispose()
    if spec is None:
        raise SchemaError(f"{path}: the file is empty; a schema has 'name' and 'questions'")
    if isinstance(spec, Mapping) and "name" not in spec:
        spec = {**spec, "name": path.stem}
    try:
        _check_keys(spec)
        return Schema.from_dict(spec)
    except SchemaSpecError as err:
        line = _line(node, err.at)
        raise SchemaError(f"{path}{f', line {line}' if line else ''}: {err.detail}") from None


@cache
def _text_loader() -> type:
    """A safe YAML loader that keeps words as text and refuses a key given twice."""
    import yaml

    class TextLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"{key!r} is given twice", key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep)

    TextLoader.yaml_implicit_resolvers = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag in _KEPT_TAGS]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return TextLoader


def _yaml_problem(err: Any) -> str:
    """A YAML parser error as one line: where, and what (with advice for tabs)."""
    mark = getattr(err, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    if "\\t" in problem:
        problem += " (YAML indents with spaces, never tabs)"
    elif "mapping values are not allowed" in problem:
        problem += " (check the indentation of this line against the line above)"
    return f"not valid YAML: {where}{problem}"


def _check_keys(spec: Any) -> None:
    """Raise SchemaSpecError at the first key the format does not know (a typo)."""
    if not isinstance(spec, Mapping):
        raise SchemaSpecError(f"the file holds a {type(spec).__name__}, not a mapping: a "
                              "schema starts with 'name:' and 'questions:'")
    _unknown(spec, "schema", ())
    questions = spec.get("questions")
    for i, question in enumerate(questions if isinstance(questions, list) else []):
        if isinstance(question, Mapping):
            _unknown(question, "question", ("questions", i))
            answers = question.get("answers")
            for j, answer in enumerate(answers if isinstance(answers, list) else []):
                if isinstance(answer, Mapping):
                    _unknown(answer, "answer", ("questions", i, "answers", j))


def _unknown(mapping: Mapping[str, Any], kind: str, at: tuple[str | int, ...]) -> None:
    known = _KEYS[kind]
    for key in mapping:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            where = f"{kind} {mapping.get('name')!r}" if mapping.get("name") else f"a {kind}"
            raise SchemaSpecError(
                f"unknown key {key!r}", (*at, key),
                f"{where}: unknown key {key!r} ({hint}{kind} keys: {', '.join(known)})")


def _line(node: Any, at: tuple[str | int, ...]) -> int | None:
    """The line (from 1) of the YAML node at path ``at`` (of its key, in a mapping), or of
    the nearest node above it."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in at:
        found = _child(node, key)
        if found is None:
            break
        marker, node = found
        line = marker.start_mark.line + 1
    return line


def _child(node: Any, key: str | int) -> tuple[Any, Any] | None:
    """The YAML node under ``node`` at list position or mapping key ``key`` (and the node
    whose line names it: the key's, in a mapping), or None."""
    if node.id == "sequence" and isinstance(key, int) and key < len(node.value):
        return node.value[key], node.value[key]
    if node.id == "mapping":
        return next(((name, value) for name, value in node.value if name.value == key), None)
    return None


#: Column endings of vote fractions in Galaxy Zoo tables (GZ2: ``_fraction``,
#: ``_weighted_fraction``, ``_debiased``), which are not the counts galmorph learns from.
FRACTION_ENDINGS = ("_fraction", "_frac", "_debiased")


def fraction_hint(frame: Any, schema: Schema) -> str | None:
    """Why a catalog's votes look like vote fractions rather than counts, or None.

    Either some of the schema's vote columns hold numbers from 0 to 1, not all whole,
    or the catalog has none of them but has columns named like fractions.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"a_yes": [0.25, 1.0], "a_no": [0.75, 0.0]})
        >>> tree = Schema.from_dict({"questions": [{"name": "a", "answers": ["yes", "no"]}]})
        >>> fraction_hint(frame, tree).split(":")[0]
        'vote columns a_yes, a_no hold numbers from 0 to 1 (e.g. a_yes = 0.25 in row 0)'
    """
    import numpy as np
    import pandas as pd

    counts = ("galmorph learns from counts, the number of volunteers who gave each answer "
              "(the Galaxy Zoo tables have them in the *_count columns)")
    present = [c for c in schema.label_cols if c in frame]
    if not present:
        if any(str(c).endswith("_count") for c in frame.columns):
            return None  # counts of another tree: the schema is the mistake, not the votes
        named = [str(c) for c in frame.columns if str(c).endswith(FRACTION_ENDINGS)]
        more = f" and {len(named) - 3} more" if len(named) > 3 else ""
        return (f"no vote-count columns of schema {schema.name!r}, "
                f"only vote fractions ({', '.join(named[:3])}{more}): {counts}") if named else None
    values = frame[present].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    inside = np.isnan(values) | ((values >= 0) & (values <= 1))
    partial = np.isfinite(values) & (values % 1 != 0)
    like = np.flatnonzero(inside.all(axis=0) & partial.any(axis=0))
    if not like.size:
        return None
    column = like[0]
    row = np.flatnonzero(partial[:, column])[0]
    names = ", ".join(present[c] for c in like[:3]) + (", ..." if like.size > 3 else "")
    what = f"vote columns {names} hold" if like.size > 1 else f"vote column {names} holds"
    return (f"{what} numbers from 0 to 1 (e.g. {present[column]} = {values[row, column]:g} "
            f"in row {row}): these look like vote fractions, not counts; {counts}")
