"""What a person types in the Search tab's "Galaxy id" box, turned into a galaxy.

:func:`similar_to_text` accepts an id as it is, an id in another case (``j000314.90-000217.7``
when ids are unique ignoring case), a sky position ``RA Dec`` in degrees
(``0.81208 -0.03825``; also with a comma), matched to the nearest galaxy within
:data:`~galmorph.search.defaults.MATCH_RADIUS_ARCSEC`, or several ids separated by commas
(the galaxies most like all of them: :func:`galmorph.search.examples.like_examples`).

Example:
    >>> parse_position("0.81208 -0.03825"), parse_position("150.1, 2.2"), parse_position("J0003")
    ((0.81208, -0.03825), (150.1, 2.2), None)
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from galmorph.exceptions import GalmorphError
from galmorph.web.gallery import MAX_RESULTS, UnknownGalaxy

if TYPE_CHECKING:
    from galmorph.web.gallery import Gallery

_SEPARATOR = re.compile(r"[\s,]+")
#: What the command line's no-match message suggests that the page cannot do.
CLI_HINT = "widen the match radius (--match-radius)"


def parse_position(text: str) -> tuple[float, float] | None:
    """``(ra, dec)`` from two finite numbers separated by spaces or a comma; else None."""
    parts = [p for p in _SEPARATOR.split(text.strip()) if p]
    if len(parts) != 2:
        return None
    try:
        ra, dec = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    return (ra, dec) if math.isfinite(ra) and math.isfinite(dec) else None


def _unknown(gallery: Gallery, text: str) -> UnknownGalaxy:
    hint = ("; type a galaxy's id, several ids separated by commas, or RA and Dec in "
            "degrees (e.g. 150.1 2.2)" if gallery.embeddings.has_coordinates else "")
    return UnknownGalaxy(f"no galaxy {text!r} in this catalog{hint}")


def _similar_at(gallery: Gallery, ra: float, dec: float, k: int) -> dict[str, Any]:
    """Neighbours of the galaxy nearest to ``(ra, dec)``; its description gains ``position``."""
    if not gallery.embeddings.has_coordinates:
        raise UnknownGalaxy(f"no galaxy '{ra:g} {dec:g}' in this catalog, and it has no "
                            "positions (ra, dec) to search by: type a galaxy's id")
    if not (0 <= ra < 360 and -90 <= dec <= 90):
        raise GalmorphError(f"RA {ra:g}, Dec {dec:g} is not a sky position: RA is 0 up to 360 "
                            "degrees, Dec -90 to 90")
    k = max(1, min(k, MAX_RESULTS, len(gallery.ids) - 1))
    try:
        result = gallery.search.by_position(ra, dec, k)
    except (TypeError, ValueError, GalmorphError) as err:  # no command-line flags on the page
        raise UnknownGalaxy(str(err).replace(CLI_HINT, "type its id")) from None
    row = int(result.query["row"])
    query = {**gallery.describe(row, gallery.labels()),
             "position": {"ra": ra, "dec": dec,
                          "separation_arcsec": float(result.query["separation_arcsec"])}}
    return {"query": query, "metric": result.metric,
            "neighbours": gallery.neighbours(result)}


def _row_named(gallery: Gallery, text: str) -> int | None:
    """The row of the galaxy whose id is ``text``, in this case or (unique) another one."""
    return gallery.id_lookup.row(text)


def _similar_to_several(gallery: Gallery, rows: dict[str, int | None],
                        k: int) -> dict[str, Any]:
    """The galaxies most like all of the galaxies ``rows`` names (their mean); the query has
    ``examples``, their descriptions, and ``notes`` naming the ids left out (not in the
    catalog); each neighbour gains ``like``: the example it is nearest to.

    Raises:
        UnknownGalaxy: when none of the ids is in the catalog.
    """
    from galmorph.search.examples import like_examples

    unknown = [name for name, row in rows.items() if row is None]
    found = list(dict.fromkeys(row for row in rows.values() if row is not None))
    if not found:
        raise UnknownGalaxy(f"none of {', '.join(map(repr, unknown))} is in this catalog")
    ids = [str(gallery.ids[row]) for row in found]
    k = max(1, min(k, MAX_RESULTS, len(gallery.ids) - len(ids)))
    result = like_examples(gallery.search, ids, k)
    labels = gallery.labels()
    neighbours = gallery.neighbours(result)
    for galaxy, example in zip(neighbours, result.neighbours["nearest_example"], strict=True):
        galaxy["like"] = str(example)
    notes = ([f"not in this catalog, left out: {', '.join(map(repr, unknown))}."]
             if unknown else [])
    query = {"id": ", ".join(ids), "combine": result.query["combine"], "notes": notes,
             "examples": [gallery.describe(row, labels) for row in found]}
    return {"query": query, "metric": result.metric, "neighbours": neighbours}


def similar_to_text(gallery: Gallery, text: str, k: int = 12) -> dict[str, Any]:
    """:meth:`Gallery.similar` of the galaxy ``text`` names: its id, its id in another case,
    or its position ``RA Dec`` (degrees; the description gains ``position``); or the
    galaxies like several, their ids separated by commas (see the module docs).

    Raises:
        UnknownGalaxy: when ``text`` names no galaxy (saying what can be typed).
        GalmorphError: for a position off the sky.
    """
    row = _row_named(gallery, text)
    if row is not None:
        return gallery.similar(str(gallery.ids[row]), k)
    position = parse_position(text)
    if "," in text:
        rows = {name: _row_named(gallery, name)
                for name in (part.strip() for part in text.split(",")) if name}
        if not rows:  # commas only
            raise _unknown(gallery, text)
        if len(rows) == 1:  # one id and a stray comma
            return similar_to_text(gallery, next(iter(rows)), k)
        if position is None or None not in rows.values():  # numeric ids are ids
            return _similar_to_several(gallery, rows, k)
    if position is not None:
        return _similar_at(gallery, *position, k)
    raise _unknown(gallery, text)
