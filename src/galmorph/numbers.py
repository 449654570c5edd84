"""Checks of numeric arguments of the Python API, with errors that name the argument.

:func:`whole_number` and :func:`real_number` return the value as a plain ``int`` or
``float`` when it is one (booleans are not numbers here) and lies in its range.
Callers choose the error: ``ValueError`` by default, ``kind_error`` (e.g.
``TypeError``) for a value that is not a number at all.

:func:`nonfinite_rows` finds the rows of a feature array that hold NaN or infinity.

Example:
    >>> whole_number(3.0, "k", 1), real_number(0.5, "xi", 0.0)
    (3, 0.5)
    >>> whole_number(2.5, "k", 1)
    Traceback (most recent call last):
    ...
    ValueError: k must be a whole number of at least 1, got 2.5
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np


def _span(low: float | None, high: float | None) -> str:
    """`` from 0 to 9``, `` of at least 0`` or `` of at most 9``, for a message."""
    def shown(bound: float) -> str:  # whole floats without ".0"
        return f"{bound:g}" if isinstance(bound, float) else str(bound)

    if low is not None and high is not None:
        return f" from {shown(low)} to {shown(high)}"
    if low is not None:
        return f" of at least {shown(low)}"
    return f" of at most {shown(high)}" if high is not None else ""


def whole_number(value: Any, name: str, low: int | None = None, high: int | None = None, *,
                 error: type[Exception] = ValueError,
                 kind_error: type[Exception] | None = None) -> int:
    """``value`` as an ``int`` from ``low`` to ``high`` (ints, or floats that are whole).

    Raises:
        ``kind_error`` (default ``error``) naming ``name`` when ``value`` is not a whole
        number; ``error`` when it is out of range.
    """
    message = f"{name} must be a whole number{_span(low, high)}, got {value!r}"
    whole = isinstance(value, numbers.Integral) or (
        isinstance(value, numbers.Real) and float(value).is_integer())
    if isinstance(value, bool) or not whole:
        raise (kind_error or error)(message)
    if (low is not None and value < low) or (high is not None and value > high):
        raise error(message)
    return int(value)


def real_number(value: Any, name: str, low: float | None = None, high: float | None = None, *,
                error: type[Exception] = ValueError,
                kind_error: type[Exception] | None = None) -> float:
    """``value`` as a finite ``float`` from ``low`` to ``high``.

    Raises:
        ``kind_error`` (default ``error``) naming ``name`` when ``value`` is not a number;
        ``error`` when it is NaN, infinite or out of range.
    """
    message = f"{name} must be a finite number{_span(low, high)}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise (kind_error or error)(message)
    number = float(value)
    if not (math.isfinite(number) and (low is None or number >= low)
            and (high is None or number <= high)):
        raise error(message)
    return number


def positive_number(value: Any, name: str) -> float:
    """``value`` as a finite ``float`` above 0.

    Raises:
        ValueError: naming ``name`` when ``value`` is not such a number.
    """
    if not real_number(value, name) > 0:
        raise ValueError(f"{name} must be a finite number above 0, got {value!r}")
    return float(value)


def nonfinite_rows(array: np.ndarray) -> np.ndarray:
    """Boolean mask ``(n,)`` of the rows of a numeric array ``(n, d)`` holding NaN or infinity.

    Float32 (and smaller) rows are summed in float64, which their finite values cannot
    overflow while NaN and infinity survive it: no boolean copy of a large array is made.
    """
    if array.dtype.kind == "f" and array.itemsize < 8:
        return ~np.isfinite(array.sum(axis=1, dtype=np.float64))
    return ~np.isfinite(array).all(axis=1)


def reads_as_number(text: str) -> bool:
    """Whether ``text`` is a number as ``float()`` reads it (``"4"``, ``"-1.5e3"``, ``"nan"``)."""
    try:
        float(text)
    except ValueError:
        return False
    return True
