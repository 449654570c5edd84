"""Compact records of which galaxies a model trained on, to recognise them later.

A model file records its training and validation galaxies as sorted 32-bit hashes
of their ``id_str`` (4 bytes per galaxy, base64 text in its metadata), so that
``galmorph evaluate`` can tell which galaxies of a new catalog the model has seen.
Two different ids share a hash with a chance of about 1 in 4 billion per pair,
so a few thousand training galaxies leave a catalog of a million others with
less than one galaxy wrongly taken for seen.

Examples
--------
>>> from galmorph.data.id_sets import encode_ids, contains_ids
>>> record = encode_ids(["J1", "J2"])
>>> contains_ids(record, ["J2", "J3"]).tolist()
[True, False]
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

#: The hashing of :func:`encode_ids`, recorded beside the hashes.
ID_HASH_SCHEME = "blake2b-32"

#: Splits with more galaxies than this are not recorded (a record of 4 MiB).
MAX_RECORDED_IDS = 1_000_000


def _hashes(ids: Iterable[object]) -> np.ndarray:
    """The 32-bit hash of each id's text, shape ``(n,)``, dtype uint32."""
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(str(i).encode(), digest_size=4).digest(), "little")
         for i in ids),
        dtype=np.uint32,
    )


def encode_ids(ids: Iterable[object]) -> str:
    """The ids as base64 text of their sorted, distinct 32-bit hashes."""
    hashes = np.unique(_hashes(ids)).astype("<u4")
    return base64.b64encode(hashes.tobytes()).decode("ascii")


def contains_ids(record: str, ids: Iterable[object]) -> np.ndarray:
    """Whether each id is in ``record`` (from :func:`encode_ids`), shape ``(n,)``, bool."""
    return _in_record(record, _hashes(ids))


def _in_record(record: str, hashes: np.ndarray) -> np.ndarray:
    """Whether each of ``hashes`` (:func:`_hashes`) is in ``record``."""
    return np.isin(hashes, np.frombuffer(base64.b64decode(record), dtype="<u4"))


def recorded_splits(split_record: Mapping[str, Any], ids: Iterable[object]
                    ) -> np.ndarray | None:
    """``'train'``, ``'val'`` or ``'test'`` (neither: a galaxy the model never saw) per id,
    from the ids a model records; None when it records none (see :func:`seen_ids`)."""
    hashes = split_record.get("id_hashes") or {}
    if hashes.get("scheme") != ID_HASH_SCHEME:
        return None
    hashed = _hashes(ids)
    names = np.full(len(hashed), "test", dtype=object)
    for name in ("val", "train"):  # train last: it wins where hashes collide
        if name in hashes:
            names[_in_record(hashes[name], hashed)] = name
    return names.astype(str)


def seen_ids(split_record: Mapping[str, Any], ids: Iterable[object]) -> np.ndarray | None:
    """Whether each id was in the training or validation split a model records.

    Args:
        split_record: a model's ``training.split`` metadata.
        ids: galaxy ids (``id_str``).

    Returns:
        Bool array of shape ``(n,)``, or None when the model records no ids (models
        made before they were recorded, or trained on over :data:`MAX_RECORDED_IDS`).
    """
    names = recorded_splits(split_record, ids)
    return None if names is None else names != "test"
