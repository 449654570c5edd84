"""Checks of the arguments of similarity-search queries, with errors that name the argument.

:class:`galmorph.search.search.SimilaritySearch` checks what it is given here, at its
entry points, so that a wrong argument fails with a clear ``TypeError`` or
``ValueError`` instead of an obscure error from numpy or faiss (or a wrong answer).

Example:
    >>> check_k(3), check_position(359.5, -90)
    (3, (359.5, -90.0))
    >>> check_k(2.5)
    Traceback (most recent call last):
    ...
    TypeError: k must be a whole number of at least 1, got 2.5
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from galmorph.numbers import real_number, whole_number


def check_k(k: Any) -> int:
    """The number of neighbours asked for, as an ``int`` ≥ 1.

    Raises:
        TypeError: when ``k`` is not a whole number; ValueError: when it is below 1.
    """
    return whole_number(k, "k", 1, kind_error=TypeError)


def check_row(row: Any, n_rows: int) -> int:
    """A row of the embeddings, as an ``int`` in ``[0, n_rows)`` (negative rows are refused).

    Raises:
        TypeError: when ``row`` is not a whole number; IndexError: naming the rows there are.
    """
    row = whole_number(row, "row", kind_error=TypeError)
    if not 0 <= row < n_rows:
        raise IndexError(f"row must be from 0 to {n_rows - 1} (the embeddings have {n_rows} "
                         f"rows), got {row}")
    return row


def check_radius(radius: Any, name: str) -> float:
    """A radius in arcsec, as a finite ``float`` ≥ 0.

    Raises:
        TypeError: when it is not a number; ValueError: when negative, NaN or infinite.
    """
    return real_number(radius, name, 0.0, kind_error=TypeError)


def check_position(ra: Any, dec: Any) -> tuple[float, float]:
    """A query's sky position ``(ra, dec)`` in degrees: RA in [0, 360), Dec in [-90, 90].

    Raises:
        TypeError: naming ``ra`` or ``dec`` when it is not a number; ValueError: naming
            it when it is NaN, infinite or out of its range.
    """
    for value, name in ((ra, "ra"), (dec, "dec")):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a number, got {value!r}")
    ra_deg, dec_deg = float(ra), float(dec)
    if not 0 <= ra_deg < 360:  # False for NaN
        raise ValueError(f"ra must be degrees from 0 up to (not including) 360, got {ra_deg}")
    if not -90 <= dec_deg <= 90:
        raise ValueError(f"dec must be degrees from -90 to 90, got {dec_deg}")
    return ra_deg, dec_deg


def check_vector(vector: Any, n_features: int) -> np.ndarray:
    """A query feature vector as ``float32 (n_features,)``.

    Raises:
        TypeError: when it is not numbers; ValueError: naming the expected and received
            shapes, or when it holds NaN or infinite values.
    """
    try:
        values = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError(f"vector must be an array of {n_features} numbers, got "
                        f"{type(vector).__name__}") from None
    if values.shape != (n_features,):
        raise ValueError(f"vector must have shape ({n_features},) (one number per feature of "
                         f"the embeddings), got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"vector holds {int((~np.isfinite(values)).sum())} NaN or infinite "
                         "values; every feature must be a finite number")
    return values
