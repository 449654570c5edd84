"""argparse types of sky positions and radii: ``galmorph similar``'s ``--ra``, ``--dec``,
``--match-radius`` and ``--duplicate-radius``.

Example:
    >>> round(right_ascension("09:02:03.35"), 5), round(declination("+59:05:29.9"), 5)
    (135.51396, 59.09164)
    >>> arcsec("3")
    3.0
"""

from __future__ import annotations

import argparse


def right_ascension(text: str) -> float:
    """An argparse type: a right ascension, as degrees in [0, 360).

    Decimal degrees (``135.514``), or sexagesimal hours (``09:02:03.35``, ``09 02 03.35``,
    ``9h02m03.35s``) or degrees (``135d30m``).
    """
    value = _angle(text, hours=True)
    if not 0 <= value < 360:
        raise argparse.ArgumentTypeError(f"expected degrees from 0 up to (not including) 360, "
                                         f"got {text}")
    return value


def declination(text: str) -> float:
    """An argparse type: a declination, as degrees in [-90, 90] (decimal or ``+59:05:29.9``)."""
    value = _angle(text, hours=False)
    if not -90 <= value <= 90:
        raise argparse.ArgumentTypeError(f"expected degrees from -90 to 90, got {text}")
    return value


def _angle(text: str, *, hours: bool) -> float:
    """Decimal degrees, or a sexagesimal angle (hours for RA without a unit, else degrees)."""
    try:
        return float(text)
    except ValueError:
        pass
    import astropy.units as u  # only for sexagesimal input: 0.5 s to import
    from astropy.coordinates import Angle

    example = "135.514, 09:02:03.35 or 9h02m03.35s" if hours else "59.0916 or +59:05:29.9"
    if not hours and "h" in text.lower():
        raise argparse.ArgumentTypeError(f"a declination is in degrees, not hours: got {text!r}")
    try:
        given = any(unit in text.lower() for unit in ("h", "d", "°"))
        angle = Angle(text) if given else Angle(text, unit=u.hourangle if hours else u.deg)
    except (ValueError, u.UnitsError):
        raise argparse.ArgumentTypeError(
            f"expected degrees or sexagesimal (e.g. {example}), got {text!r}") from None
    return float(angle.deg)


def arcsec(text: str) -> float:
    """An argparse type: a radius in arcsec, a finite number ≥ 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of arcsec, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected arcsec of 0 or more, got {text}")
    return value
