"""Which candidate rows become a query's neighbours: distinct objects on the sky.

:func:`angular_separation` measures sky separations; :func:`select_neighbours` keeps the
first ``k`` candidates that are neither excluded nor the same object as the query or as
a nearer candidate (within :data:`galmorph.search.defaults.DUPLICATE_RADIUS_ARCSEC`).

Example:
    >>> import numpy as np
    >>> select_neighbours(np.array([4, 7, 2]), 2, exclude={7})
    [4, 2]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from galmorph.search.defaults import DUPLICATE_RADIUS_ARCSEC

#: Candidates fetched beyond ``k`` and the excluded rows, to make up for same-object
#: duplicates dropped from the results.
EXTRA_CANDIDATES = 16


def angular_separation(
    ra1: np.ndarray | float, dec1: np.ndarray | float, ra2: np.ndarray | float,
    dec2: np.ndarray | float,
) -> np.ndarray:
    """Angle between sky positions (degrees in), in arcsec; broadcasts (haversine formula).

    Example:
        >>> round(float(angular_separation(10.0, 0.0, 10.0, 1 / 3600)), 9)
        1.0
    """
    ra1, dec1, ra2, dec2 = (np.radians(np.asarray(v, dtype=np.float64))
                            for v in (ra1, dec1, ra2, dec2))
    h = np.sin((dec2 - dec1) / 2) ** 2 + np.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))) * 3600.0


def select_neighbours(
    candidates: np.ndarray, k: int, *, exclude: set[int] | Sequence[int] = (),
    centre: tuple[float, float] | None = None, ra: np.ndarray | None = None,
    dec: np.ndarray | None = None, radius: float = DUPLICATE_RADIUS_ARCSEC,
) -> list[int]:
    """The first ``k`` candidate rows that are neither excluded nor duplicates on the sky.

    Args:
        candidates: rows, nearest first (-1 entries are ignored).
        exclude: rows never kept (e.g. the query's own).
        centre: ``(ra, dec)`` of the query: rows within ``radius`` of it are skipped.
        ra, dec: ``(n_rows,)`` degrees of every row; None: no sky checks.
        radius: arcsec within which two entries are the same object; of several
            candidates within it of each other only the nearest is kept.

    A position with NaN (unknown, in ``centre`` or a row's) is within ``radius`` of
    nothing: such an entry has no duplicates on the sky.

    Example:
        >>> select_neighbours(np.array([0, 1, 2, 3]), 2, exclude={0})
        [1, 2]
    """
    skip = set(exclude)
    rows = np.asarray([r for r in candidates if r >= 0 and r not in skip], dtype=np.int64)
    if ra is None or dec is None:
        return rows[:k].tolist()
    ras, decs = ra[rows], dec[rows]
    if centre is not None:
        far = ~(angular_separation(centre[0], centre[1], ras, decs) <= radius)  # NaN: far
        rows, ras, decs = rows[far], ras[far], decs[far]
    kept: list[int] = []
    for i in range(len(rows)):
        if kept and (angular_separation(ras[i], decs[i], ras[kept], decs[kept]) <= radius).any():
            continue
        kept.append(i)
        if len(kept) == k:
            break
    return rows[kept].tolist()
