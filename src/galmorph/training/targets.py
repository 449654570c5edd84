"""Labelled targets for fine-tuning: the catalog's labels, datasets carrying them, the split.

:func:`labelled_catalog` reads a catalog and checks its label column;
:func:`normalise_classes` turns labels into classes and :func:`check_classes`
refuses columns that are not classes and warns of rare or unbalanced ones;
:func:`stratified_split`
holds out a validation set per class, and :func:`class_loss_weights` weighs the
classes in the loss. :class:`TargetDataset` and :class:`TargetDataModule` give
batches whose items carry ``target``: a class index or a value.
"""

from __future__ import annotations

import difflib
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from galmorph.data.caller_rows import load_catalog_with_rows
from galmorph.data.catalog import CatalogSource, catalog_name
from galmorph.data.datasets import GalaxyDataModule
from galmorph.data.galaxy_dataset import GalaxyDataset, Transform
from galmorph.data.image_config import ImageConfig
from galmorph.data.table_checks import describe_rows
from galmorph.data.transforms import eval_transform, train_transform
from galmorph.data.tree import Schema
from galmorph.exceptions import CatalogError, GalmorphWarning
from galmorph.models.label_metrics import label_values, normalise_classes
from galmorph.numbers import reads_as_number

#: More distinct values than this in a label column is not a classification.
MAX_CLASSES = 100
#: A regression label of this many whole numbers or fewer may be class codes.
MAX_CODES = 3


class TargetDataset(GalaxyDataset):
    """A :class:`GalaxyDataset` whose items also hold ``target``: a class index or value."""

    def __init__(
        self,
        catalog: pd.DataFrame,
        targets: np.ndarray,
        transform: Transform,
        *,
        channels: int,
        cache: bool,
    ) -> None:
        super().__init__(catalog, None, transform, channels=channels, cache=cache)
        self.targets = torch.as_tensor(targets)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = super().__getitem__(index)
        item["target"] = self.targets[index]
        return item


class TargetDataModule(GalaxyDataModule):
    """Train/validation loaders over explicit catalogs whose items carry ``target``."""

    def __init__(
        self,
        train: pd.DataFrame,
        val: pd.DataFrame,
        targets: Mapping[str, np.ndarray],
        image_config: ImageConfig,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            image_config=image_config,
            train_catalog=train,
            val_catalog=val if len(val) else None,
            **kwargs,
        )
        self.targets = dict(targets)

    def dataset(self, name: str) -> GalaxyDataset:
        if name not in self._datasets and name in self.targets:
            config = self.image_config
            make = train_transform if name == "train" and self.augment else eval_transform
            self._datasets[name] = TargetDataset(
                self.catalogs[name], self.targets[name], make(config),
                channels=config.channels, cache=self.cache,
            )
        return super().dataset(name)


def stratified_split(
    strata: pd.Series, ids: pd.Series, fraction: float, seed: int
) -> np.ndarray:
    """Boolean mask ``(n,)`` of validation rows: ``fraction`` of each stratum of ``strata``
    ``(n,)`` (rounded half up, leaving at least one row of each in training), chosen by
    ``seed`` from the ``ids`` ``(n,)``, independently of the row order."""
    is_val = np.zeros(len(ids), dtype=bool)
    if fraction <= 0:
        return is_val
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"stratum": strata.to_numpy(), "id": ids.to_numpy()})
    for _, group in frame.groupby("stratum", sort=True):
        ordered = group.sort_values("id").index.to_numpy()
        n_val = min(math.floor(fraction * len(ordered) + 0.5), len(ordered) - 1)
        is_val[rng.permutation(ordered)[:n_val]] = True
    return is_val


def class_loss_weights(
    option: str | Mapping[Any, float] | Sequence[float] | None,
    classes: list[Any],
    counts: np.ndarray,
) -> torch.Tensor | None:
    """Per-class loss weights: ``balanced`` (n / (k n_c)), per class or in class order."""
    if option is None:
        return None
    if isinstance(option, str):
        if option != "balanced":
            raise ValueError(
                f"class_weights must be 'balanced', a mapping or a list, got {option!r}"
            )
        weights = counts.sum() / (len(classes) * np.maximum(counts, 1))
    elif isinstance(option, Mapping):
        keys = {str(k): float(v) for k, v in option.items()}
        missing = [c for c in classes if str(c) not in keys]
        if missing:
            raise ValueError(f"class_weights has no weight for classes {missing}")
        weights = np.array([keys[str(c)] for c in classes])
    else:
        weights = np.asarray(option, dtype=float)
        if weights.shape != (len(classes),):
            raise ValueError(f"class_weights needs {len(classes)} values (classes {classes})")
    return torch.tensor(weights, dtype=torch.float32)


def labelled_catalog(
    catalog: CatalogSource, task: str, label: str | None, schema: Schema | None, *,
    skip_missing_images: bool = False,
) -> pd.DataFrame:
    """The catalog with its label column checked, read as people write labels.

    A missing column gets close names suggested; text labels lose surrounding spaces
    and blank ones count as missing; rows without a label are dropped with a warning;
    classes become ints or text (:func:`normalise_classes`). Messages number
    rows as the catalog does, also after ``skip_missing_images`` dropped some. A
    regression label of a few whole numbers only (class codes?) gets a warning.

    Raises:
        CatalogError: naming the catalog file, the column and rows.
    """
    frame, rows = load_catalog_with_rows(catalog, schema=schema,
                                         drop_missing_images=skip_missing_images)
    frame.index = rows  # messages name rows as the catalog numbers them
    if task == "votes":
        return frame.reset_index(drop=True)
    if label is None:
        raise ValueError(f"a {task} model needs label= (the catalog column to learn)")
    where = catalog_name(catalog)
    image_folder = isinstance(catalog, str | os.PathLike) and os.path.isdir(catalog)
    if label not in frame:
        names = {str(c).lower(): str(c) for c in frame.columns}
        close = difflib.get_close_matches(label.lower(), list(names), n=3, cutoff=0.6)
        if close:
            hint = f"; did you mean {' or '.join(repr(names[c]) for c in close)}?"
        elif image_folder:
            hint = "; for images sorted into a subfolder per class, give --label folder."
        else:
            hint = "."
        raise CatalogError(f"{where} has no label column {label!r}{hint} "
                           f"Its columns: {', '.join(map(str, frame.columns))}")
    frame[label] = label_values(frame[label])
    if task == "regression":
        frame[label] = _numbers(frame, label, where)
    missing = frame[label].isna()
    if missing.all():
        raise CatalogError(f"{where}: label column {label!r} is empty")
    if missing.any():
        why = ("images not in a class subfolder (directly in the folder)"
               if image_folder and label == "folder" else f"galaxies without a {label!r} label")
        warnings.warn(
            f"{where}: skipping {int(missing.sum())} of {len(frame)} {why}: "
            f"{describe_rows(frame, missing)}", GalmorphWarning, stacklevel=3,
        )
        frame = frame[~missing].reset_index(drop=True)
    if task == "regression" and frame[label].nunique() == 1:
        galaxies = "the only labelled galaxy has" if len(frame) == 1 else (
            f"all {len(frame)} labelled galaxies have")
        raise CatalogError(f"{where}: {galaxies} the {label!r} value {frame[label].iloc[0]:g}: "
                           "a regressor needs galaxies with different values to learn from")
    if task == "regression":
        _warn_if_classes(frame[label], label, where)
    if task == "classification":
        try:
            frame[label] = normalise_classes(frame[label])
        except CatalogError as err:
            raise CatalogError(f"{where}: {err}") from None
    return frame.reset_index(drop=True)


def _warn_if_classes(values: pd.Series, label: str, where: str) -> None:
    """Warn when a regression label holds only a few whole numbers, like class codes."""
    distinct = np.sort(values.unique())
    if len(distinct) <= MAX_CODES and (distinct == np.round(distinct)).all():
        warnings.warn(
            f"{where}: label column {label!r} holds only the whole numbers "
            f"{', '.join(f'{v:g}' for v in distinct)}: learnt as a number per galaxy; if "
            "they are classes, use task='classification' (leave out --task regression)",
            GalmorphWarning, stacklevel=4)


def _numbers(frame: pd.DataFrame, label: str, where: str) -> pd.Series:
    """The label column as finite numbers or NaN (blank)."""
    values = pd.to_numeric(frame[label], errors="coerce")
    bad = frame[label].notna() & values.isna()
    if bad.any():
        raise CatalogError(
            f"{where}: label column {label!r} must hold numbers (or be left blank); "
            f"{describe_rows(frame, bad, frame[label].map(repr))} are not numbers"
            + ("; if they are classes, use task='classification' (leave out --task regression)"
               if values.notna().sum() < bad.sum() else "")
        )
    infinite = pd.Series(np.isinf(values.to_numpy(dtype=float)), index=frame.index)
    if infinite.any():
        raise CatalogError(f"{where}: label column {label!r} must hold finite numbers; "
                           f"{describe_rows(frame, infinite)} hold infinity")
    return values


def check_classes(
    classes: list[Any], counts: np.ndarray, val_counts: np.ndarray, where: str, label: str,
    val_fraction: float, weighted: bool,
) -> None:
    """Refuse one class or one per galaxy; warn of classes that differ only in case, of
    numbers mixed with words (a typo, ``yes`` among ``0`` and ``1``), of classes left out
    of validation, and of unbalanced classes without ``weighted`` loss.

    Args:
        classes: the class labels, sorted; counts, val_counts: galaxies of each, in all
            and held out for validation.
        where: the catalog's name for messages (:func:`catalog_name`).

    Raises:
        CatalogError: when the column is not a classification.
    """
    if len(classes) == 1 or len(classes) > MAX_CLASSES or counts.max() == 1:
        raise CatalogError(
            f"{where}: every labelled galaxy has the same {label!r} label, {classes[0]!r}; a "
            "classifier needs examples of at least two classes" if len(classes) == 1 else
            f"{where}: label column {label!r} has {len(classes)} different values among "
            f"{counts.sum()} galaxies: a classifier needs 2 to {MAX_CLASSES} classes, with "
            "several galaxies each; for a number per galaxy use task='regression' "
            "(--task regression)")
    by_case: dict[str, list[Any]] = {}
    for c in classes:
        by_case.setdefault(str(c).casefold(), []).append(c)
    for alike in (group for group in by_case.values() if len(group) > 1):
        warnings.warn(
            f"{where}: the {label!r} classes {' and '.join(map(repr, alike))} differ only in "
            "upper and lower case: they are learnt as different classes; write them alike "
            "if they are one", GalmorphWarning, stacklevel=4)
    listed = ", ".join(f"{c!r}: {n}" for c, n in zip(classes, counts, strict=True))
    words = [f"{c!r} ({n})" for c, n in zip(classes, counts, strict=True)
             if not reads_as_number(str(c))]
    if words and len(words) < len(classes):
        warnings.warn(
            f"{where}: the {label!r} column mixes numbers and words ({listed} galaxies): "
            f"each is learnt as a class of its own; if {', '.join(words)} means one of the "
            "numbers, write it as that number", GalmorphWarning, stacklevel=4)
    unchecked = [f"{c!r} ({n})" for c, n, v in zip(classes, counts, val_counts, strict=True)
                 if v == 0]
    if val_fraction > 0 and unchecked and val_counts.any():
        them = "it" if len(unchecked) == 1 else "them"
        warnings.warn(
            f"{where}: too few galaxies to hold any out for validation in {label!r} class "
            f"{', '.join(unchecked)}: the validation scores leave {them} out; label more (at "
            f"least {max(3, int(np.ceil(0.5 / val_fraction)))} galaxies of each class)",
            GalmorphWarning, stacklevel=4)
    if not weighted and counts.max() >= 3 * counts.min():
        warnings.warn(
            f"{where}: the {label!r} classes are unbalanced ({listed} galaxies): always "
            f"answering {classes[counts.argmax()]!r} is {counts.max() / counts.sum():.0%} right; "
            "weigh them with class_weights='balanced' (--class-weights balanced)",
            GalmorphWarning, stacklevel=4)
