"""Evaluate a model against a catalog's volunteer votes or labels.

:func:`evaluate_catalog` predicts every galaxy of a labelled catalog (the loop of
:mod:`galmorph.inference.loop`, as :func:`galmorph.inference.predict.predict_catalog`)
and compares the predictions of a vote-count model with the volunteers' votes
(:func:`galmorph.models.metrics.evaluate_votes`), those of a fine-tuned classifier
or regressor with the labels in the column it learnt
(:mod:`galmorph.models.label_metrics`).

Examples
--------
>>> from galmorph.inference.evaluate import evaluate_catalog
>>> result = evaluate_catalog("catalog.csv", "gz2-starter")  # doctest: +SKIP
>>> result["n_galaxies"], sorted(result["questions"])[0]  # doctest: +SKIP
(630, 't01_smooth_or_features')
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch

from galmorph.data.catalog import CatalogSource, catalog_name, load_catalog, read_catalog
from galmorph.data.galaxy_dataset import predict_loader
from galmorph.data.id_sets import seen_ids
from galmorph.data.schemas import fraction_hint
from galmorph.data.table_checks import describe_rows
from galmorph.data.tree import Schema
from galmorph.data.vote_checks import vote_columns_in_any_case
from galmorph.exceptions import CatalogError, GalmorphError, GalmorphWarning
from galmorph.inference.defaults import DEFAULT_BATCH_SIZE, DEFAULT_VIEWS
from galmorph.inference.loading import ModelSpec, as_loaded, check_has_head, output_metadata
from galmorph.inference.loop import (
    check_image_conventions,
    check_some_read,
    model_outputs,
    read_rows,
)
from galmorph.inference.worst import worst_galaxies, worst_vote_galaxies
from galmorph.models.checkpoint import LoadedModel
from galmorph.models.device import resolve_device
from galmorph.models.label_metrics import (
    classification_metrics,
    confusion_counts,
    label_values,
    normalise_classes,
    paired_p_value,
    regression_metrics,
)
from galmorph.models.metrics import evaluate_votes
from galmorph.models.tasks import TASK_OUTPUTS


def _run(
    catalog: CatalogSource,
    loaded: LoadedModel,
    *,
    mc_samples: int,
    batch_size: int,
    num_workers: int | None,
    device: torch.device,
    progress: bool,
    seed: int | None,
    drop_missing_images: bool,
    views: int = DEFAULT_VIEWS,
    backend: str = "auto",
    skip_unreadable_images: bool = False,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The catalog as read and the model's raw outputs for its rows, in order (NaN rows
    for images left out as unreadable, see :func:`~galmorph.inference.loop.read_rows`)."""
    frame = load_catalog(catalog, None, drop_missing_images=drop_missing_images)
    for message in check_image_conventions(frame, loaded.image_config, loaded.name,
                                           skip_unreadable_images):
        warnings.warn(message, GalmorphWarning, stacklevel=3)
    raw = model_outputs(
        loaded,
        predict_loader(frame, loaded.image_config, batch_size=batch_size,
                       num_workers=num_workers, finish_on_device=device.type != "cpu",
                       skip_unreadable=skip_unreadable_images),
        mc_samples=mc_samples,
        device=device,
        progress=progress,
        seed=seed,
        views=views,
        backend=backend,
    )
    return frame, raw


def evaluate_catalog(
    catalog: CatalogSource,
    model: ModelSpec = None,
    *,
    mc_samples: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_workers: int | None = None,
    device: str | torch.device = "auto",
    progress: bool = True,
    seed: int | None = 0,
    drop_missing_images: bool = False,
    skip_unreadable_images: bool = False,
    views: int = DEFAULT_VIEWS,
    backend: str = "auto",
    only_unseen: bool = False,
) -> dict[str, Any]:
    """Compare a vote-count model's predictions with a catalog's volunteer votes.

    The catalog is read with the model's schema, so it needs that schema's vote
    columns (see :func:`galmorph.data.catalog.load_catalog`); arguments as
    :func:`galmorph.inference.predict.predict_catalog`. Questions the model had
    no training vote for (:attr:`LoadedModel.questions_without_votes`) are left
    out, with a warning when the catalog has vote columns for them.

    A classifier or regressor (``galmorph finetune``) is compared with the labels in
    the column it learnt (its ``label_column``); galaxies without one are left out.

    With ``skip_unreadable_images`` galaxies whose image cannot be read are left out,
    with a warning naming them.

    Galaxies the model trained or chose its epoch on (its training or validation split,
    recorded in the model file) flatter its figures: a warning counts them, and
    ``only_unseen=True`` leaves them out.

    Returns:
        :func:`galmorph.models.metrics.evaluate_votes` (against the model's no-image
        baseline when it records one), plus ``model`` (its provenance) and ``worst``
        (:func:`~galmorph.inference.worst.worst_vote_galaxies`). For a
        classifier: ``task``, ``label_column``,
        :func:`~galmorph.models.label_metrics.classification_metrics`, the
        ``majority_class`` and its ``majority_accuracy``, and ``confusion`` counts; for
        a regressor :func:`~galmorph.models.label_metrics.regression_metrics`, and
        where the model recorded its training labels' median, ``train_median`` and the
        mean absolute error ``median_mae`` of always answering it, with
        ``median_p_value`` (:func:`~galmorph.models.label_metrics.paired_p_value` of the
        two errors per galaxy); for both, ``worst``
        (:func:`~galmorph.inference.worst.worst_galaxies`). Always ``n_seen``: how many
        of the catalog's galaxies the model trained on or validated with (None when its
        file records no ids), and ``only_unseen``.
    """
    torch_device = resolve_device(device)
    loaded = as_loaded(model, torch_device)
    check_has_head(loaded)
    run_options = {"mc_samples": mc_samples, "batch_size": batch_size, "num_workers": num_workers,
                   "device": torch_device, "progress": progress, "seed": seed, "views": views,
                   "backend": backend, "skip_unreadable_images": skip_unreadable_images}
    if loaded.task in ("classification", "regression"):
        labelled, truth = _labels(catalog, loaded, drop_missing_images)
        keep, n_seen = _unseen_rows(labelled, loaded, only_unseen, catalog_name(catalog))
        labelled = labelled[keep].reset_index(drop=True)
        truth = truth[keep].reset_index(drop=True)
        _, raw = _run(labelled, loaded, drop_missing_images=False, **run_options)
        read = read_rows(raw)
        labelled, raw = _read_only(labelled, read), raw[read]
        truth = truth[read].reset_index(drop=True)
        columns = TASK_OUTPUTS[loaded.task](raw, loaded)
        return {**_label_scores(truth, columns, loaded),
                "worst": worst_galaxies(labelled, truth, columns, loaded),
                "model": output_metadata(loaded, mc_samples, views),
                "n_seen": n_seen, "only_unseen": only_unseen}
    schema: Schema | None = loaded.schema
    if loaded.task != "votes" or schema is None:
        raise GalmorphError(f"{loaded.name} is a {loaded.task!r} model: galmorph evaluates "
                            "vote-count models, classifiers and regressors")
    learnt = loaded.learnt_schema
    assert learnt is not None
    source = catalog if isinstance(catalog, pd.DataFrame) else read_catalog(catalog)
    source, _ = vote_columns_in_any_case(source, schema)  # T01_..._COUNT from FITS too
    _check_vote_columns(source, learnt, loaded.name)
    labelled = load_catalog(source, learnt, drop_missing_images=drop_missing_images)
    keep, n_seen = _unseen_rows(labelled, loaded, only_unseen, catalog_name(catalog))
    labelled = labelled[keep].reset_index(drop=True)
    unlearnt = [q.name for q in schema.questions if q.name in loaded.questions_without_votes
                and any(c in source for c in q.columns)]
    if unlearnt:
        warnings.warn(
            f"{loaded.name} had no training votes for {', '.join(unlearnt)}: the catalog's "
            "votes for them are left out of the evaluation", GalmorphWarning, stacklevel=2,
        )
    _, raw = _run(labelled, loaded, drop_missing_images=False, **run_options)
    read = read_rows(raw)
    labelled, raw = _read_only(labelled, read), raw[read]
    keep = loaded.learnt_answers
    baseline = loaded.metadata.get("vote_baseline")
    counts = labelled[learnt.label_cols].to_numpy()
    result = evaluate_votes(
        counts,
        raw[:, keep],
        learnt,
        baseline=np.asarray(baseline)[keep] if baseline is not None else None,
    )
    result["worst"] = worst_vote_galaxies(labelled, counts, raw[:, keep], learnt)
    result["model"] = output_metadata(loaded, mc_samples, views)
    result.update(n_seen=n_seen, only_unseen=only_unseen)
    return _without_unvoted(result, catalog_name(catalog))


def _unseen_rows(frame: pd.DataFrame, loaded: LoadedModel, only_unseen: bool,
                 where: str) -> tuple[np.ndarray, int | None]:
    """The rows to score (bool, shape ``(n,)``) and how many galaxies the model has seen
    (None when it records no ids); warns of seen galaxies unless they are left out.

    Raises:
        GalmorphError: ``only_unseen`` for a model that records no ids.
        CatalogError: ``only_unseen`` leaving no galaxy, naming the catalog.
    """
    flag = "only_unseen=True (--only-unseen)"
    seen = seen_ids((loaded.metadata.get("training") or {}).get("split") or {}, frame["id_str"])
    if seen is None:
        if only_unseen:
            raise GalmorphError(f"{loaded.name} does not record the galaxies it was trained on "
                                f"(made before galmorph recorded them): {flag} cannot tell "
                                "which galaxies it saw")
        return np.ones(len(frame), dtype=bool), None
    n_seen, n = int(seen.sum()), len(frame)
    if only_unseen and n_seen == n:
        raise CatalogError(f"{where}: all {n} galaxies were in {loaded.name}'s training or "
                           f"validation split: {flag} leaves none to evaluate")
    if n_seen and not only_unseen:
        advice = ("evaluate it on galaxies it never saw" if n_seen == n
                  else f"{flag} scores only the {n - n_seen} others")
        warnings.warn(f"{where}: {'all' if n_seen == n else f'{n_seen} of'} {n} galaxies were "
                      f"in {loaded.name}'s training or validation split, so its figures on "
                      f"them flatter it; {advice}", GalmorphWarning, stacklevel=3)
    return (~seen if only_unseen else np.ones(n, dtype=bool)), n_seen


def _check_vote_columns(frame: pd.DataFrame, learnt: Schema, model_name: str) -> None:
    """Refuse a catalog without the model's vote columns, or with fractions in them.

    Raises:
        CatalogError: naming the catalog, the model's decision tree and its columns.
    """
    where = catalog_name(frame)
    hint = fraction_hint(frame, learnt)
    if hint:
        raise CatalogError(f"{where}: {hint}")
    if not any(c in frame for c in learnt.label_cols):
        raise CatalogError(
            f"{where} has none of the vote columns of decision tree {learnt.name!r}, which "
            f"model {model_name!r} learnt ({', '.join(learnt.label_cols[:4])}"
            f"{', ...' if learnt.n_answers > 4 else ''}): evaluate compares the model with "
            "the volunteers' votes for its questions; galmorph predict needs no votes")


def _without_unvoted(result: dict[str, Any], where: str) -> dict[str, Any]:
    """``result`` with no NLL for the questions nobody in the catalog voted on (a 0 there
    would read as a perfect score), and a warning naming them."""
    unvoted = [name for name, q in result["questions"].items() if q["n_answered"] == 0]
    for name in unvoted:
        scores = result["questions"][name]
        scores.update({k: math.nan for k in ("nll", "baseline_nll") if k in scores})
    if unvoted:
        it = "it" if len(unvoted) == 1 else "them"
        warnings.warn(f"{where}: no galaxy has a vote for {', '.join(unvoted)}: the model is "
                      f"not scored on {it}", GalmorphWarning, stacklevel=3)
    return result


def _read_only(frame: pd.DataFrame, read: np.ndarray) -> pd.DataFrame:
    """The rows of ``frame`` whose image was read (``read``, one bool per row), renumbered;
    an error when there are none."""
    check_some_read(int(read.sum()), len(frame))
    return frame[read].reset_index(drop=True)


def _labels(
    catalog: CatalogSource, loaded: LoadedModel, drop_missing_images: bool
) -> tuple[pd.DataFrame, pd.Series]:
    """The catalog's galaxies with a label in the model's ``label_column``, and the labels
    (classes as the model's, or numbers).

    Raises:
        CatalogError: naming the catalog and the column, or rows with unknown classes.
    """
    where = catalog_name(catalog)
    frame = load_catalog(catalog, None, drop_missing_images=drop_missing_images)
    column = loaded.metadata.get("label_column")
    if column is None:
        raise GalmorphError(f"{loaded.name} records no label column to evaluate it against")
    if column not in frame:
        raise CatalogError(f"{where} has no column {column!r}, the labels {loaded.name} "
                           f"learnt; its columns: {', '.join(map(str, frame.columns))}")
    values = label_values(frame[column])
    if loaded.task == "regression":
        values = pd.to_numeric(values, errors="coerce")
    labelled = values.notna()
    if not labelled.any():
        raise CatalogError(f"{where}: column {column!r} holds no labels")
    if not labelled.all():
        warnings.warn(f"{where}: leaving out {int((~labelled).sum())} of {len(frame)} galaxies "
                      f"without a {column!r} label", GalmorphWarning, stacklevel=3)
    frame = frame[labelled].reset_index(drop=True)
    values = values[labelled].reset_index(drop=True).rename(column)
    if loaded.task == "regression":
        return frame, values.astype(float)
    try:
        values = normalise_classes(values)
    except CatalogError as err:
        raise CatalogError(f"{where}: {err}") from None
    classes = loaded.metadata["classes"]
    unknown = ~values.isin(classes)
    if unknown.any():
        raise CatalogError(
            f"{where}: {describe_rows(frame, unknown, values)} hold classes {loaded.name} "
            f"was not trained on (its classes: {', '.join(map(repr, classes))})")
    return frame, values


def _label_scores(truth: pd.Series, columns: dict[str, np.ndarray],
                  loaded: LoadedModel) -> dict[str, Any]:
    """Scores of a classifier's or regressor's output ``columns`` against the labels."""
    scores: dict[str, Any] = {"task": loaded.task, "label_column": str(truth.name)}
    if loaded.task == "regression":
        median = loaded.metadata.get("train_median")  # not recorded by older models
        if median is not None:
            median_errors = np.abs(truth.to_numpy() - median)
            model_errors = np.abs(truth.to_numpy() - columns["prediction"])
            scores.update(train_median=median, median_mae=float(median_errors.mean()),
                          median_p_value=paired_p_value(model_errors, median_errors))
        return {**scores, **regression_metrics(truth.to_numpy(), columns["prediction"])}
    classes = loaded.metadata["classes"]
    labels = truth.to_numpy(dtype=object)
    probabilities = np.stack([columns[f"prob_{c}"] for c in classes], axis=1)
    counts = truth.value_counts()
    return {
        **scores,
        **classification_metrics(labels, probabilities, classes),
        "majority_class": counts.index[0],
        "majority_accuracy": float(counts.iloc[0] / len(truth)),
        "confusion": confusion_counts(labels, columns["predicted_label"], classes),
    }
