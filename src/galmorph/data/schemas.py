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

from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

from galmorph.data.tree import Schema
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
    if key.endswith((".yaml", ".yml")):
        return Schema.from_yaml(key)
    raise SchemaError(
        f"unknown schema {key!r}: use one of {', '.join(builtin_schemas())} "
        "or the path of a YAML schema file"
    )
