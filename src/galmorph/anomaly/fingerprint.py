"""What identifies the features a session was started on, so that it refuses others.

A session stores values computed from its embeddings' features (the isolation-forest
and LOF scores). An embeddings file with the same galaxies but other features (made
again with another ``--model``, ``--stages``, ``--pca``, ``--views``, or edited) would
leave them stale, so :meth:`~galmorph.anomaly.session.AnomalySession.start` records
:func:`feature_record` and :meth:`~galmorph.anomaly.session.AnomalySession.open`
compares it (:func:`check_same_features`). The model itself is compared by
:func:`~galmorph.anomaly.checks.check_same_model`.

Example:
    >>> import numpy as np
    >>> features_sha256(np.zeros((2, 3), dtype=np.float32))[:12]
    '9d908ecfb6b2'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from galmorph.exceptions import GalmorphError
from galmorph.inference.embeddings import EmbeddingInfo


def features_sha256(features: np.ndarray) -> str:
    """SHA-256 (hex) of the features as little-endian float32, row after row."""
    x = np.ascontiguousarray(features, dtype="<f4")
    return hashlib.sha256(memoryview(x).cast("B")).hexdigest()


def feature_settings(info: EmbeddingInfo) -> dict[str, Any]:
    """How the features were made (besides the model), as JSON values."""
    record = {"n_features": info.n_features, "encoder": info.encoder,
              "feature_dim": info.feature_dim, "stages": list(info.stages), "views": info.views,
              "pca": info.pca.n_components if info.pca is not None else None,
              "image": info.image}
    return json.loads(json.dumps(record))  # as it reads back from the session file


def feature_record(info: EmbeddingInfo, features: np.ndarray) -> dict[str, Any]:
    """How the features were made (besides the model) and their checksum, as JSON values."""
    return {**feature_settings(info), "sha256": features_sha256(features)}


def differences(started: Mapping[str, Any], found: Mapping[str, Any], prefix: str = ""
                ) -> list[str]:
    """``"key old → new"`` for each key of ``started`` that ``found`` has with another value
    (nested dictionaries key by key, as ``image.size``); the checksum is left out."""
    changed = []
    for key, old in started.items():
        new = found.get(key, old)
        if key == "sha256" or new == old:
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            changed += differences(old, new, f"{prefix}{key}.")
        else:
            changed.append(f"{prefix}{key} {json.dumps(old)} → {json.dumps(new)}")
    return changed


def check_same_features(started: Mapping[str, Any], found: Mapping[str, Any], path: str | Path,
                        session: str | Path, original: str | Path) -> None:
    """Refuse features other than those a session was started on.

    ``started``: the session's :func:`feature_record` (empty in sessions made before it
    was recorded: nothing is compared); ``found``: the embeddings'; ``original``: the
    embeddings file the session was started on. Only what the session recorded is
    compared.

    Raises:
        GalmorphError: naming both files, what differs and how to go on.
    """
    changed = differences(started, found)
    if not changed and started.get("sha256", found.get("sha256")) == found.get("sha256"):
        return
    what = (", ".join(changed) if changed else
            "the same model and settings, but other feature values (made again, e.g. on "
            "other hardware or by another galmorph version, or edited)")
    same = Path(path).resolve() == Path(original).resolve()
    where = (f"{path} has changed since session {session} was started on it" if same else
             f"{path} holds the same galaxies as {original}, which session {session} was "
             "started on, but other features")
    raise GalmorphError(
        f"{where} ({what}); the session's isolation-forest scores were computed from the "
        f"old features and would be stale. Give the original features with --embeddings, or "
        f"start a new session on {path} and carry your scores over: galmorph anomaly start "
        f"{path} --session NEW.db, then galmorph anomaly label --from {session} --session "
        "NEW.db")
