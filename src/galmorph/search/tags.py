"""Morphology tags of galaxies, from Galaxy Zoo 2 vote counts or a catalog's own columns.

The tags (:data:`TAGS`) are fixed functions of Galaxy Zoo 2 vote counts.
``V(tNN)`` is the number of votes on a question and ``f(answer)`` the fraction of
them for an answer:

================  ========  ====================================================
tag               kind      definition
================  ========  ====================================================
smooth            trained   V(t01) ≥ 10 and f(t01 smooth) ≥ 0.8
completely-round  trained   f(t01 smooth) ≥ 0.5, V(t07) ≥ 5, f(t07 completely round) ≥ 0.5
cigar-shaped      trained   f(t01 smooth) ≥ 0.5, V(t07) ≥ 5, f(t07 cigar-shaped) ≥ 0.5
edge-on           trained   f(t01 features) ≥ 0.5, V(t02) ≥ 5, f(t02 yes) ≥ 0.8
bar               trained   f(t01 features) ≥ 0.5, f(t02 no) ≥ 0.5, V(t03) ≥ 5, f(t03 bar) ≥ 0.5
spiral            trained   f(t01 features) ≥ 0.5, f(t02 no) ≥ 0.5, V(t04) ≥ 5, f(t04 spiral) ≥ 0.8
odd               transfer  V(t06) ≥ 10 and f(t06 yes) ≥ 0.5
ring              transfer  ≥ 3 t08 votes for ring and no t08 answer with more
merger            transfer  ≥ 3 t08 votes for merger and no t08 answer with more
================  ========  ====================================================

*Trained* tags are answers of questions a ``gz2-no-odd`` model learns; *transfer*
tags come from t06/t08, which that schema leaves out of training. ``ring`` equals
the ``ring`` column of the bundled demo catalog. A catalog's own boolean (0/1)
columns can be used as further (``custom``) tags.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from galmorph.data.schemas import get_schema
from galmorph.exceptions import CatalogError, GalmorphError

if TYPE_CHECKING:  # pandas loads with derive_tags, so that `similar-eval --help` stays fast
    import pandas as pd


@dataclass(frozen=True)
class TagDefinition:
    """A morphology tag computed from Galaxy Zoo 2 vote counts (see the module docs)."""

    name: str
    kind: str
    rule: str
    questions: tuple[str, ...]
    select: Callable[[pd.DataFrame], np.ndarray]


def _columns(question: str) -> list[str]:
    """Vote-count columns of a GZ2 question."""
    return list(get_schema("gz2").question(question).columns)


def _votes(catalog: pd.DataFrame, question: str) -> np.ndarray:
    """Total votes ``(n,)`` on a GZ2 question."""
    return catalog[_columns(question)].to_numpy(dtype=np.float64).sum(axis=1)


def _fraction(catalog: pd.DataFrame, answer: str) -> np.ndarray:
    """Vote fraction ``(n,)`` of a GZ2 answer (``question/answer``); 0 without votes."""
    found = get_schema("gz2").answer(answer)
    total = _votes(catalog, found.question)
    counts = catalog[found.column].to_numpy(dtype=np.float64)
    return np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)


def _top_odd_feature(answer: str) -> Callable[[pd.DataFrame], np.ndarray]:
    def select(catalog: pd.DataFrame) -> np.ndarray:
        counts = catalog[_columns("t08_odd_feature")].to_numpy(dtype=np.float64)
        own_column = get_schema("gz2").answer(f"t08_odd_feature/{answer}").column
        own = catalog[own_column].to_numpy(dtype=np.float64)
        return (own >= 3) & (own >= counts.max(axis=1))

    return select


_T01, _T02 = "t01_smooth_or_features", "t02_edgeon"


def _smooth_then(answer: str) -> Callable[[pd.DataFrame], np.ndarray]:
    return lambda c: ((_fraction(c, f"{_T01}/a01_smooth") >= 0.5) & (_votes(c, "t07_rounded") >= 5)
                      & (_fraction(c, f"t07_rounded/{answer}") >= 0.5))


def _face_on_disk(c: pd.DataFrame) -> np.ndarray:
    return (_fraction(c, f"{_T01}/a02_features_or_disk") >= 0.5) & (
        _fraction(c, f"{_T02}/a05_no") >= 0.5)


#: The built-in tags, fixed before any measurement (definitions in the module docs).
TAGS: tuple[TagDefinition, ...] = (
    TagDefinition(
        "smooth", "trained", "V(t01) ≥ 10 and f(t01 smooth) ≥ 0.8", (_T01,),
        lambda c: (_votes(c, _T01) >= 10) & (_fraction(c, f"{_T01}/a01_smooth") >= 0.8),
    ),
    TagDefinition(
        "completely-round", "trained",
        "f(t01 smooth) ≥ 0.5, V(t07) ≥ 5, f(t07 completely round) ≥ 0.5",
        (_T01, "t07_rounded"), _smooth_then("a16_completely_round"),
    ),
    TagDefinition(
        "cigar-shaped", "trained", "f(t01 smooth) ≥ 0.5, V(t07) ≥ 5, f(t07 cigar-shaped) ≥ 0.5",
        (_T01, "t07_rounded"), _smooth_then("a18_cigar_shaped"),
    ),
    TagDefinition(
        "edge-on", "trained", "f(t01 features) ≥ 0.5, V(t02) ≥ 5, f(t02 yes) ≥ 0.8", (_T01, _T02),
        lambda c: ((_fraction(c, f"{_T01}/a02_features_or_disk") >= 0.5)
                   & (_votes(c, _T02) >= 5) & (_fraction(c, f"{_T02}/a04_yes") >= 0.8)),
    ),
    TagDefinition(
        "bar", "trained", "f(t01 features) ≥ 0.5, f(t02 no) ≥ 0.5, V(t03) ≥ 5, f(t03 bar) ≥ 0.5",
        (_T01, _T02, "t03_bar"),
        lambda c: (_face_on_disk(c) & (_votes(c, "t03_bar") >= 5)
                   & (_fraction(c, "t03_bar/a06_bar") >= 0.5)),
    ),
    TagDefinition(
        "spiral", "trained",
        "f(t01 features) ≥ 0.5, f(t02 no) ≥ 0.5, V(t04) ≥ 5, f(t04 spiral) ≥ 0.8",
        (_T01, _T02, "t04_spiral"),
        lambda c: (_face_on_disk(c) & (_votes(c, "t04_spiral") >= 5)
                   & (_fraction(c, "t04_spiral/a08_spiral") >= 0.8)),
    ),
    TagDefinition(
        "odd", "transfer", "V(t06) ≥ 10 and f(t06 yes) ≥ 0.5", ("t06_odd",),
        lambda c: (_votes(c, "t06_odd") >= 10) & (_fraction(c, "t06_odd/a14_yes") >= 0.5),
    ),
    TagDefinition(
        "ring", "transfer", "≥ 3 t08 votes for ring and no t08 answer with more",
        ("t08_odd_feature",), _top_odd_feature("a19_ring"),
    ),
    TagDefinition(
        "merger", "transfer", "≥ 3 t08 votes for merger and no t08 answer with more",
        ("t08_odd_feature",), _top_odd_feature("a24_merger"),
    ),
)
_TAGS_BY_NAME = {t.name: t for t in TAGS}


def derive_tags(
    catalog: pd.DataFrame, names: Sequence[str] | None = None, *, source: str = "catalog"
) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    """Boolean tag columns for a catalog.

    Args:
        catalog: rows with GZ2 vote-count columns and/or boolean (0/1) tag columns.
        names: built-in tag names (:data:`TAGS`) or catalog columns; None: every
            built-in tag whose questions have vote columns.
        source: the catalog's name (its file) for error messages; rows are named
            by ``catalog``'s index (row numbers in file order from ``load_catalog``).

    Returns:
        ``(tags, kinds, skipped)``: a ``bool`` DataFrame (one column per tag, rows as
        ``catalog``), each tag's kind (``trained``, ``transfer`` or ``custom``), and
        the built-in tags left out with the reason.

    Raises:
        GalmorphError: for a name that is neither a built-in tag nor a column.
        CatalogError: for a tag column holding anything but 0 and 1 (text, 2, empty).
    """
    import pandas as pd

    from galmorph.data.table_checks import describe_rows, plural

    def available(tag: TagDefinition) -> bool:
        return all(c in catalog for q in tag.questions for c in _columns(q))

    tags: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for name in names if names is not None else [t.name for t in TAGS]:
        if name in _TAGS_BY_NAME:
            tag = _TAGS_BY_NAME[name]
            if available(tag):
                tags[name], kinds[name] = np.asarray(tag.select(catalog), dtype=bool), tag.kind
            elif names is not None:
                raise GalmorphError(f"tag {name!r} needs the GZ2 vote columns of "
                                    f"{', '.join(tag.questions)}, which the catalog lacks")
            else:
                skipped[name] = f"no vote columns for {', '.join(tag.questions)}"
        elif name in catalog:
            values = pd.to_numeric(catalog[name], errors="coerce")
            bad = ~values.isin([0, 1])  # text and empty values are NaN here
            if bad.any():
                raise CatalogError(
                    f"{source}: column {name!r} must be a boolean (0/1) tag column but has "
                    f"{plural(int(bad.sum()), 'other value')}: "
                    + describe_rows(catalog, bad, catalog[name]))
            tags[name], kinds[name] = values.fillna(0).to_numpy() == 1, "custom"
        else:
            raise GalmorphError(
                f"unknown tag {name!r}: use a catalog column of 0/1 values or one of "
                + ", ".join(_TAGS_BY_NAME)
            )
    return pd.DataFrame(tags, index=catalog.index), kinds, skipped
