"""Which galaxies of the embeddings a query *is*: the image it shows, or the position given.

:func:`identical_rows` finds the entries whose features equal a new image's (the same
image, perhaps stored under another path), which a query by image names in its
``query["same_as"]``. :func:`no_match_message` explains a position that matches no
galaxy, and spots a right ascension given in hours instead of degrees.

Example:
    >>> import numpy as np
    >>> from galmorph.search.index import ExactIndex
    >>> vectors = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    >>> identical_rows(ExactIndex(vectors, "euclidean"), vectors, vectors[1:])
    [1]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from galmorph.search.index import Index

#: Features this close to a query's (relative distance in the search space) are the
#: same image: float32 round-off between runs is ~1e-6, distinct galaxies ~1e-1.
IDENTICAL_TOLERANCE = 1e-3
#: Candidates looked at for identical features.
_IDENTICAL_CANDIDATES = 16


def identical_rows(index: Index, vectors: Any, query_vector: np.ndarray) -> list[int]:
    """Rows whose search-space vector equals ``query_vector`` ``(1, d)`` within round-off.

    Args:
        index: the search's index; vectors: its search-space vectors by row.

    Example: see the module docs.
    """
    total = len(vectors)
    if total == 0:
        return []
    rows = index.search(query_vector, min(_IDENTICAL_CANDIDATES, total))[0]
    rows = rows[rows >= 0]
    gaps = np.linalg.norm(np.asarray(vectors[rows], np.float64) - query_vector[0], axis=1)
    scale = max(float(np.linalg.norm(query_vector[0])), np.finfo(np.float32).tiny)
    return sorted(int(r) for r in rows[gaps <= IDENTICAL_TOLERANCE * scale])


def _angle(arcsec: float) -> str:
    """A separation in arcsec, in degrees when large."""
    if arcsec < 3600:
        return f"{arcsec:.1f} arcsec"
    return f"{arcsec / 3600:.2f} deg ({arcsec:.0f} arcsec)"


def no_match_message(ra: float, dec: float, radius: float, nearest: str, arcsec: float,
                     hours_match: str | None) -> str:
    """Why ``(ra, dec)`` matched no galaxy within ``radius``, and what to try.

    Args:
        nearest, arcsec: the nearest galaxy's id and its separation.
        hours_match: id of the galaxy within ``radius`` of ``(15 ra, dec)``, if any.

    Example:
        >>> no_match_message(9.0, 59.0, 5.0, "G1", 7200.0, "G2")  # doctest: +NORMALIZE_WHITESPACE
        'no galaxy within 5 arcsec of RA 9.000000, Dec 59.000000; the nearest is G1 at
        2.00 deg (7200 arcsec). RA 9.000000 read as hours (135.000000 deg) matches G2:
        give RA in degrees'
    """
    text = (f"no galaxy within {radius:g} arcsec of RA {ra:.6f}, Dec {dec:.6f}; the nearest "
            f"is {nearest} at {_angle(arcsec)}")
    if hours_match is not None:
        return (f"{text}. RA {ra:.6f} read as hours ({15 * ra:.6f} deg) matches "
                f"{hours_match}: give RA in degrees")
    if arcsec <= 60:
        return f"{text}: widen the match radius (--match-radius) to take it"
    return f"{text}: check the position (RA and Dec in degrees, J2000)"
