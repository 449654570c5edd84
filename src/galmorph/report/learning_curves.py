"""Learning curves of a training run (``galmorph train`` or ``finetune``): the loss on
the training and on the validation galaxies after each pass over the data (epoch),
beside the validation scores, drawn from the run's CSV logs.

A run's folder holds one log per run (``logs/version_N/metrics.csv``); a run resumed
with ``--resume`` goes on in a new one. :func:`read_history` joins the latest run to
the runs it went on from, and leaves out an earlier run that trained the same epochs
over again (the folder reused without ``--resume``).

Example:
    >>> path = write_learning_curves("runs/starter")  # doctest: +SKIP
    >>> path.name  # doctest: +SKIP
    'learning_curves.png'
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from galmorph.data.tree import plain_name
from galmorph.exceptions import GalmorphError
from galmorph.files import user_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The picture :func:`write_learning_curves` writes in a run's folder.
CURVES_NAME = "learning_curves.png"
#: Logged per-epoch values drawn (Lightning's names), and what they are called.
LOSSES = {"train_loss_epoch": "training galaxies", "val_loss": "validation galaxies"}
SCORES = {"val_accuracy": "accuracy", "val_balanced_accuracy": "balanced accuracy",
          "val_mae": "mean absolute error"}
#: A vote model's validation loss of each question (``val_nll/t03_bar``).
QUESTION_PREFIX = "val_nll/"
_VERSION = re.compile(r"version_(\d+)")


def read_history(run_dir: str | Path) -> pd.DataFrame:
    """Per-epoch values a run logged: ``epoch`` (from 0), then the columns of
    :data:`LOSSES`, :data:`SCORES` and per-question losses that it logged.

    The latest log comes first; an earlier one adds the epochs before the first of the
    later one's (a resumed run), and none is read past a run that started over.
    Empty (no rows) when nothing was logged.
    """
    folder = user_path(run_dir) / "logs"
    logs = sorted(((int(m.group(1)), p) for p in folder.glob("version_*/metrics.csv")
                   if (m := _VERSION.fullmatch(p.parent.name))), reverse=True)
    parts: list[pd.DataFrame] = []
    for _, path in logs:
        frame = pd.read_csv(path)
        if "epoch" not in frame:
            continue
        frame = frame.dropna(subset=["epoch"])
        if parts:
            first = parts[-1]["epoch"].min()
            frame = frame[frame["epoch"] < first]
            if frame.empty:  # this run trained the same epochs: another run, not resumed
                break
        parts.append(frame)
    if not parts:
        return pd.DataFrame({"epoch": pd.Series(dtype=int)})
    joined = pd.concat(parts[::-1], ignore_index=True)
    wanted = [c for c in joined if c in LOSSES or c in SCORES or c.startswith(QUESTION_PREFIX)]
    history = joined.groupby("epoch")[wanted].mean().dropna(how="all").reset_index()
    return history.astype({"epoch": int})


#: A level drawn across a panel to compare with: its value and what it is.
Reference = tuple[float, str]


def draw_learning_curves(history: pd.DataFrame, loss_name: str = "loss",
                         loss_reference: Reference | None = None,
                         score_reference: Reference | None = None) -> Figure:
    """Losses by epoch (left: training and validation, the best validation epoch marked)
    and the validation scores or, for a vote model, each question's loss (right).

    Args:
        history: from :func:`read_history`.
        loss_name: what the loss is, for the axis label (e.g. ``cross-entropy``).
        loss_reference: a loss to beat, drawn dashed on the left, e.g. that of the
            catalog's average votes given to every galaxy.
        score_reference: a score to beat, drawn dashed on the right, e.g. chance.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    scores = [c for c in SCORES if c in history and history[c].notna().any()]
    questions = [c for c in history  # a question without votes has no loss: left out
                 if c.startswith(QUESTION_PREFIX) and history[c].abs().max() > 0]
    right = bool(scores or questions)
    figure = Figure(figsize=(9 if right else 4.8, 3.4), layout="constrained")
    axes = figure.subplots(1, 2 if right else 1, squeeze=False)[0]
    epochs = history["epoch"] + 1
    loss = axes[0]
    for (column, label), marker in zip(LOSSES.items(), "os", strict=True):
        if column in history and history[column].notna().any():
            loss.plot(epochs, history[column], f"{marker}-", label=label)
    best = None
    if "val_loss" in history and history["val_loss"].notna().any():
        best = int(history["val_loss"].idxmin())
        loss.axvline(epochs[best], color="0.6", linestyle=":",
                     label=f"kept: epoch {epochs[best]}, lowest validation loss")
    if loss_reference is not None:
        loss.axhline(loss_reference[0], color="0.3", linestyle="--", label=loss_reference[1])
    loss.set(xlabel="epoch", ylabel=f"loss ({loss_name})", title="Loss (lower is better)")
    loss.legend(fontsize="small")
    if scores:
        score = axes[1]
        for column, style in zip(scores, ("s-", "o--", "^-"), strict=False):
            score.plot(epochs, history[column], style, label=SCORES[column],
                       alpha=0.8, markerfacecolor="none")
        if score_reference is not None:
            score.axhline(score_reference[0], color="0.3", linestyle="--",
                          label=score_reference[1])
        if best is not None:
            score.axvline(epochs[best], color="0.6", linestyle=":")
        if "val_mae" in scores:
            score.set(ylabel="mean absolute error (lower is better)")
        else:
            score.set(ylim=(0, 1.02), ylabel="fraction correct")
        score.set(xlabel="epoch", title="Validation galaxies")
        score.legend(fontsize="small")
    elif questions:
        score = axes[1]
        for column in questions:
            score.plot(epochs, history[column], ".-",
                       label=plain_name(column[len(QUESTION_PREFIX):]))
        score.set(xlabel="epoch", ylabel="loss (nats per galaxy)",
                  title="Validation loss of each question")
        score.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1, 0.5))
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.set_xlim(0.5, max(int(epochs.max()), 1) + 0.5)  # the last epoch's marks show
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return figure


def write_learning_curves(run_dir: str | Path, loss_name: str = "loss",
                          loss_reference: Reference | None = None,
                          score_reference: Reference | None = None) -> Path | None:
    """Draw a run's learning curves (:func:`draw_learning_curves`) to
    ``run_dir/learning_curves.png``, replacing it in one step; None when the run logged
    no epoch's loss.

    Raises:
        GalmorphError: when ``run_dir`` is not a folder.
    """
    from galmorph.report.plots import save_figure

    if not user_path(run_dir).is_dir():
        raise GalmorphError(f"no run folder {run_dir}: give the -o folder of galmorph train "
                            "or finetune")
    history = read_history(run_dir)
    if not any(c in history and history[c].notna().any() for c in LOSSES):
        return None
    path = user_path(run_dir) / CURVES_NAME
    save_figure(draw_learning_curves(history, loss_name, loss_reference, score_reference),
                path)
    return path
