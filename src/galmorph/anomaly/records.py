"""What a session stores, as Python values: 0–5 scores, label records and batches.

Example
-------
>>> check_score("4.5")
4.5
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from galmorph.exceptions import GalmorphError

if TYPE_CHECKING:
    import pandas as pd

#: Lowest and highest interest score.
MIN_SCORE, MAX_SCORE = 0.0, 5.0


@dataclass(frozen=True)
class LabelRecord:
    """One label as stored: ``score`` for ``galaxy_id``, given at ``labelled_at`` (UTC ISO).

    ``previous`` is the score it replaced (None for a first label); ``sequence``
    its position in the session's history (1, 2, ...).
    """

    galaxy_id: str
    score: float
    labelled_at: str
    previous: float | None
    source: str
    sequence: int


@dataclass(frozen=True)
class Batch:
    """Galaxies proposed together for labelling, best first.

    ``values`` holds per galaxy the ``acquisition``, ``predicted`` and ``std``
    numbers the proposing method gave (NaN where it gave none).
    """

    batch_id: int
    created_at: str
    method: str
    n_labels: int
    ids: list[str]
    values: pd.DataFrame
    details: dict[str, Any]


def check_score(score: float) -> float:
    """``score`` as a float in [:data:`MIN_SCORE`, :data:`MAX_SCORE`], else GalmorphError."""
    try:
        value = float(score)
    except (TypeError, ValueError):
        raise GalmorphError(f"a score is a number from 0 to 5, not {score!r}") from None
    if not MIN_SCORE <= value <= MAX_SCORE:  # also rejects NaN
        raise GalmorphError(f"a score is a number from {MIN_SCORE:g} to {MAX_SCORE:g}, "
                            f"not {score!r}")
    return value
