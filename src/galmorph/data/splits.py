"""Deterministic train/validation/test splits keyed on galaxy ids.

Each galaxy's split depends only on its ``id_str`` and the seed (a keyed hash),
not on the order or size of the catalog. A subset of a catalog therefore keeps
every galaxy in the split it had in the full catalog: galaxies bundled for the
demo from a model's test split stay in the test split wherever they appear.

Examples
--------
>>> from galmorph.data.splits import assign_splits
>>> assign_splits(["J1", "J2", "J3"], fractions=(0.8, 0.1, 0.1), seed=0).tolist()
['test', 'train', 'train']
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np

SPLIT_NAMES = ("train", "val", "test")


def unit_hash(ids: Iterable[str], seed: int = 0) -> np.ndarray:
    """A uniform number in [0, 1) per id, stable across runs and platforms."""
    values = [
        int.from_bytes(hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=8).digest(), "big")
        for i in ids
    ]
    return np.asarray(values, dtype=np.float64) / 2.0**64


def check_fractions(fractions: Sequence[float]) -> np.ndarray:
    """``fractions`` as an array, when they are three non-negative numbers summing to 1.

    Raises:
        ValueError: otherwise (NaN and infinity included).
    """
    try:
        values = np.asarray(fractions, dtype=np.float64)
    except (TypeError, ValueError):
        values = None
    if (values is None or values.shape != (3,) or not np.isfinite(values).all()
            or (values < 0).any() or abs(values.sum() - 1) > 1e-6):
        given = fractions if values is None else values.tolist()
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {given}")
    return values


def assign_splits(
    ids: Iterable[str], fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> np.ndarray:
    """``'train'``, ``'val'`` or ``'test'`` per id, in the given proportions on average.

    Args:
        ids: galaxy ids (``id_str``).
        fractions: train, validation and test fractions; must sum to 1.
        seed: changes the assignment; record it to reproduce a split.
    """
    u = unit_hash(ids, seed)
    edges = np.cumsum(check_fractions(fractions))[:2]
    return np.asarray(SPLIT_NAMES)[np.searchsorted(edges, u, side="right")]
