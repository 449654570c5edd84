"""The votes a vote-count model trains on, looked at before training starts.

:func:`check_training_votes` refuses a training split without a vote and warns of
questions and galaxies that teach the model nothing; :func:`baseline_val_loss` is the
validation loss of answering every galaxy without its image, the loss a run must beat.
Both :func:`galmorph.training.train.train` and :func:`galmorph.training.finetune.finetune`
(``task="votes"``) use them.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch

from galmorph.data.catalog import CatalogSource, catalog_name
from galmorph.data.tree import Schema
from galmorph.exceptions import CatalogError, GalmorphWarning
from galmorph.models.losses import vote_loss


def baseline_val_loss(counts: np.ndarray, baseline: np.ndarray, schema: Schema) -> float | None:
    """The validation loss (summed NLL per galaxy) of answering every galaxy of ``counts``
    ``(n, n_answers)`` with the no-image ``baseline`` (:func:`fit_vote_baseline`); None
    without galaxies."""
    if len(counts) == 0:
        return None
    concentrations = torch.as_tensor(np.asarray(baseline, dtype=np.float64)).expand(len(counts), -1)
    counts_tensor = torch.as_tensor(np.asarray(counts, dtype=np.float64))
    return float(vote_loss(counts_tensor, concentrations, schema.question_index_groups))


def check_training_votes(
    catalog: CatalogSource, splits: dict[str, pd.DataFrame], schema: Schema
) -> None:
    """Refuse a training split without any vote; warn about what teaches the model nothing.

    Warns when questions whose vote columns are in the catalog have no vote in the
    training split (the model cannot learn them; absent columns were warned about
    when the catalog was read), and when galaxies have no vote for any question.

    Raises:
        CatalogError: naming the catalog when every training vote is 0.
    """
    where = catalog_name(catalog)
    unanswered = schema.unanswered(splits["train"][schema.label_cols].to_numpy())
    if len(unanswered) == schema.n_questions:
        raise CatalogError(f"{where}: no galaxy of the training split has a vote (every vote "
                           "column is 0 or missing there): check the vote columns")
    if unanswered:
        # questions without columns were warned about when the catalog was read
        absent = set(splits["predict"].attrs.get("questions_without_columns", ()))
        silent = [q for q in unanswered if q not in absent]
        if silent:
            it = "it" if len(silent) == 1 else "them"
            warnings.warn(
                f"{where}: no galaxy of the training split has a vote for {', '.join(silent)} "
                f"(the vote columns are all 0): the model cannot learn {it}; predict and "
                f"evaluate leave {it} out", GalmorphWarning, stacklevel=3)
    everything = splits["predict"][schema.label_cols].sum(axis=1)
    if (everything == 0).any():
        warnings.warn(
            f"{where}: {int((everything == 0).sum())} of {len(everything)} galaxies have no "
            "vote for any question: they teach the model nothing (a vote column missing, or "
            "galaxies nobody classified?)", GalmorphWarning, stacklevel=3)
