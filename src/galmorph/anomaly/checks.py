"""Checks of what the anomaly layer is given, with errors that name the argument.

:meth:`~galmorph.anomaly.session.AnomalySession.start` checks its settings
(:func:`check_settings`) and its session file (:func:`check_new_session`) before any
work; :meth:`~galmorph.anomaly.session.AnomalySession.open` refuses embeddings of
another model (:func:`check_same_model`); :class:`~galmorph.anomaly.interest.InterestModel`
checks its arrays (:func:`check_features`, :func:`check_scores`,
:func:`check_candidates`) and numbers (:mod:`galmorph.numbers`).

Example:
    >>> check_settings(pca=40, xi=0.5, batch_size=10, seed=0, artefact_threshold=0.5)["pca"]
    40
    >>> check_settings(pca=2.5, xi=0.5, batch_size=10, seed=0, artefact_threshold=0.5)
    Traceback (most recent call last):
    ...
    galmorph.anomaly.checks.SettingError: pca (--pca) must be a whole number of at least 1, got 2.5
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from galmorph.anomaly.database import held_alone
from galmorph.anomaly.defaults import MAX_SEED
from galmorph.anomaly.label_files import is_session_file
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.files import user_path
from galmorph.numbers import nonfinite_rows, real_number, whole_number


class SettingError(GalmorphError, ValueError):
    """A bad setting of a session: a GalmorphError (the command line prints it) and a
    ValueError (a wrong argument of the Python API)."""


# ------------------------------------------------------------------ sessions
def check_settings(*, pca: Any, xi: Any, batch_size: Any, seed: Any,
                   artefact_threshold: Any) -> dict[str, Any]:
    """A session's numeric settings, checked and as plain ints and floats.

    Raises:
        SettingError: naming the argument (and its command-line option).
    """
    return {
        "pca": whole_number(pca, "pca (--pca)", 1, error=SettingError),
        "xi": real_number(xi, "xi (--xi)", 0.0, error=SettingError),
        "batch_size": whole_number(batch_size, "batch_size (--batch-size)", 1,
                                   error=SettingError),
        "seed": whole_number(seed, "seed (--seed)", 0, MAX_SEED, error=SettingError),
        "artefact_threshold": real_number(artefact_threshold,
                                          "artefact_threshold (--artefact-threshold)", 0.0,
                                          1.0, error=SettingError),
    }


def path_argument(path: str | Path, name: str = "session") -> Path:
    """The file path given as argument ``name`` (``session``, ``embeddings``), ``~`` expanded;
    for embeddings read from a file (an ``Embeddings`` object), that file's.

    Raises:
        TypeError: when ``path`` is not a str or Path, nor read from a file (embeddings
            made in memory: write them first, as the session reopens them).
    """
    read_from = getattr(path, "path", None)
    if isinstance(read_from, os.PathLike):
        return user_path(read_from)
    if not isinstance(path, (str, os.PathLike)):
        made = " (these were made in memory: write them to a file first)" if hasattr(
            path, "path") else ""
        raise TypeError(f"{name} must be the path (str or Path) of the {name} file, got "
                        f"{type(path).__name__}{made}")
    return user_path(path)


def id_score_pairs(pairs: Any) -> list[tuple[Any, Any]]:
    """``(galaxy_id, score)`` pairs from an iterable of pairs or a mapping ``{id: score}``.

    Raises:
        TypeError: for a table (say how to pass one), or an item that is not a pair.
    """
    if hasattr(pairs, "columns"):  # a DataFrame iterates over its column names
        raise TypeError("pairs must be (galaxy_id, score) pairs or a dict {galaxy_id: score}, "
                        "not a table: pass zip(table.id_str, table.score) (with your column "
                        "names), or a dict")
    if isinstance(pairs, Mapping):
        return list(pairs.items())
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Iterable):
        raise TypeError(f"pairs must be (galaxy_id, score) pairs or a dict "
                        f"{{galaxy_id: score}}, got {type(pairs).__name__}")
    items = []
    for i, item in enumerate(pairs):
        pair = () if isinstance(item, (str, bytes)) or not isinstance(item, Iterable) else (
            tuple(item))
        if len(pair) != 2:
            raise TypeError(f"pairs must be (galaxy_id, score) pairs or a dict "
                            f"{{galaxy_id: score}}, but item {i} is {item!r}")
        items.append(pair)
    return items


def check_new_session(path: str | Path, overwrite: bool) -> Path:
    """The path of a session file to create.

    Raises:
        TypeError: when ``path`` is not a str or Path.
        GalmorphError: when it is a folder, or exists and ``overwrite`` is false, it is
            not a session file (``overwrite`` replaces only sessions), or another
            connection has it open (it could not be replaced).
    """
    path = path_argument(path)
    if path.is_dir():
        raise GalmorphError(f"session file {path} is a folder: name a file, e.g. "
                            f"{path / 'hunt.db'}")
    if path.exists() and not overwrite:
        raise GalmorphError(f"session file {path} already exists: continue it, or pass "
                            "overwrite=True (--force) to start again (its labels would be "
                            "lost)")
    if path.exists() and not is_session_file(path):
        raise GalmorphError(f"{path} is not a session file, and overwrite=True (--force) "
                            "replaces only a session: name another file, e.g. hunt.db")
    with held_alone(path):  # refuses a session in use now, before any work
        pass
    return path


def check_session_file(path: str | Path) -> Path:
    """The path of an existing session file.

    Raises:
        TypeError: when ``path`` is not a str or Path.
        GalmorphError: when it is a folder, does not exist, or is not a session file (an
            SQLite database; opening another file would write into it).
    """
    path = path_argument(path)
    if path.is_dir():
        raise GalmorphError(f"{path} is a folder, not a session file: give the session's "
                            "file (made by `galmorph anomaly start --session FILE`)")
    if not path.is_file():
        raise GalmorphError(f"session file {path} does not exist; "
                            "start one with `galmorph anomaly start`")
    if not is_session_file(path):
        raise GalmorphError(f"{path} is not a session file (made by `galmorph anomaly start "
                            "--session FILE`)")
    return path


def _model(model: Mapping[str, str]) -> str:
    return f"{model.get('name') or 'unnamed'} (sha256 {str(model.get('sha256'))[:12]}...)"


def check_same_model(started: Mapping[str, str], found: Mapping[str, str],
                     path: str | Path) -> None:
    """Refuse embeddings made by another model than those a session started with.

    ``started``: the model the session recorded; ``found``: the embeddings' (by sha256).

    Raises:
        GalmorphError: naming both models.
    """
    if started.get("sha256") and found.get("sha256") and started["sha256"] != found["sha256"]:
        raise GalmorphError(
            f"{path} holds embeddings made by model {_model(found)}, but this session was "
            f"started with embeddings made by model {_model(started)}: give that model's "
            "embeddings, or start a new session for this model")


def check_same_galaxies(started: Sequence[str], found: Sequence[str], path: str | Path,
                        session: str | Path) -> None:
    """Refuse embeddings whose galaxies (ids, in order) differ from those a session started with.

    ``started``: the session's ids; ``found``: the embeddings'.

    Raises:
        GalmorphError: saying which galaxies were added or removed (or that the order
            changed), and how to carry the scores to a new session.
    """
    if list(started) == list(found):
        return
    old, new = set(started), set(found)
    added, removed = [g for g in found if g not in old], [g for g in started if g not in new]
    if not added and not removed:
        change = "the same galaxies in another order"
    else:
        change = "; ".join(f"{len(ids)} {'galaxy' if len(ids) == 1 else 'galaxies'} {what} "
                           f"(e.g. {ids[0]})"
                           for ids, what in ((added, "added"), (removed, "removed")) if ids)
    skip = " --skip-unknown" if removed else ""
    raise GalmorphError(
        f"{path} does not hold the galaxies session {session} was started with (its ids "
        f"differ: {change}). Give the original embeddings with --embeddings, or start a new "
        f"session on {path} and carry your scores over: galmorph anomaly label --from "
        f"{session}{skip} --session NEW.db")


def one_value_notice(scores: np.ndarray, method: str) -> str | None:
    """What to tell a researcher whose scores are all the same, for active learning; None
    when they differ (or for a baseline method, which ranks by its anomaly score whatever
    the scores).

    A Gaussian process fitted to one value predicts it everywhere: its proposals and
    ranking of the galaxies not scored mean little until some scores differ.
    """
    if method != "active" or not len(scores) or np.ptp(scores) > 0:
        return None
    given = (f"the 1 score given is {scores[0]:g}" if len(scores) == 1
             else f"all {len(scores)} scores given are {scores[0]:g}")
    return (f"{given}: until some differ, the model cannot tell what you find interesting, "
            "so its predictions for the other galaxies mean little; give higher (or lower) "
            "scores to galaxies you find more (or less) interesting")


def warn_if_one_value(scores: np.ndarray, method: str) -> None:
    """Warn (GalmorphWarning) with :func:`one_value_notice` when it has something to say."""
    notice = one_value_notice(scores, method)
    if notice is not None:
        warnings.warn(notice, GalmorphWarning, stacklevel=3)


# ------------------------------------------------------------------- arrays
def check_features(x: Any, name: str, n_features: int | None = None, *,
                   min_rows: int = 0) -> np.ndarray:
    """Features ``(n, d)`` (``d = n_features`` when given) of finite numbers, as an array.

    Raises:
        ValueError: naming ``name``: not numbers, another shape, or NaN or infinite values.
    """
    try:
        array = np.asarray(x)
    except ValueError:  # a ragged list
        array = np.asarray(x, dtype=object)
    width = "d" if n_features is None else str(n_features)
    if array.dtype.kind not in "iuf" or array.ndim != 2 or len(array) < min_rows or (
            n_features is not None and array.shape[1] != n_features):
        rows = f" with at least {min_rows} row{'s' * (min_rows != 1)}" if min_rows else ""
        raise ValueError(f"{name} must be a 2-D array of numbers of shape (n, {width}){rows}, "
                         f"got {array.dtype} of shape {array.shape}")
    bad = np.flatnonzero(nonfinite_rows(array))
    if len(bad):
        raise ValueError(f"{name} holds NaN or infinite values in {len(bad)} "
                         f"row{'s' * (len(bad) != 1)} (e.g. row "
                         f"{bad[0]}: {array[bad[0]].tolist()[:5]}); features must be finite")
    return array


def check_scores(y: Any, n: int) -> np.ndarray:
    """``n`` finite scores, one per labelled galaxy, as float64 ``(n,)``.

    Raises:
        ValueError: naming ``y``: not numbers, another shape, or NaN or infinite values.
    """
    try:
        scores = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"y must be {n} scores (numbers), got {type(y).__name__}") from None
    if scores.shape != (n,):
        raise ValueError(f"y must be one score per row of x, shape ({n},), got shape "
                         f"{scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError(f"y holds NaN or infinite scores at rows "
                         f"{np.flatnonzero(~np.isfinite(scores))[:5].tolist()}")
    return scores


def check_candidates(candidates: Any, n: int) -> np.ndarray | None:
    """A boolean mask of the ``n`` rows that may be proposed, with at least one True.

    Raises:
        ValueError: naming ``candidates``: not booleans, another length, or all False.
    """
    if candidates is None:
        return None
    mask = np.asarray(candidates)
    if mask.dtype != bool or mask.shape != (n,):
        raise ValueError(f"candidates must be a boolean mask with one value per row of x, "
                         f"shape ({n},), got {mask.dtype} of shape {mask.shape}")
    if not mask.any():
        raise ValueError("candidates is all False: no row may be proposed")
    return mask
