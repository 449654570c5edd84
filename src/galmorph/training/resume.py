"""The checkpoint a vote-count run resumes from (``train(resume=True)``).

:func:`check_resumable` reads it and refuses one that cannot be read or was trained
with other settings (encoder, schema, image size, channels) than the run that would go
on from it;
:func:`schedule_note` warns when a resumed run stops before its learning-rate schedule
ends (and refuses one that would go past it), and
:func:`time_limit_note` says where a run stopped by its time limit left off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Timer

from galmorph.exceptions import GalmorphError


def planned_epochs(earlier: dict[str, Any]) -> int | None:
    """The epochs the learning-rate schedule of a checkpoint's run was set for: the first
    run's ``--epochs`` (a resumed run keeps that schedule and records it as
    ``schedule_epochs``, whatever its own ``--epochs``); None when not recorded."""
    training = earlier.get("training", {})
    return training.get("schedule_epochs", training.get("epochs"))


def schedule_note(planned: int | None, epochs: int, scheduler: str, output_dir: Path
                  ) -> str | None:
    """A warning when a resumed cosine schedule was set (:func:`planned_epochs`) for more
    epochs than ``epochs`` (the checkpoint's schedule goes on as planned); else None.

    Raises:
        GalmorphError: ``epochs`` is more than the schedule was set for. Past its end a
            cosine schedule climbs back to the full learning rate, so those epochs would
            undo the annealing rather than train longer.
    """
    if scheduler != "cosine" or planned is None or planned == epochs:
        return None
    said = (f"the run in {output_dir} was started with --epochs {planned}: its cosine "
            f"learning-rate schedule was set for {planned} epoch{'' if planned == 1 else 's'} "
            "and a resumed run keeps it")
    if epochs > planned:
        raise GalmorphError(
            f"{said}, so it cannot go on to epoch {epochs}; to train longer, start a new "
            f"run from its model (--init {output_dir / 'model.pt'} --epochs N, in another "
            "folder)")
    return (f"{said}: stopping after epoch {epochs} leaves the learning rate above the "
            "schedule's end")


def time_limit_note(trainer: L.Trainer, epochs: int, max_minutes: float | None) -> str | None:
    """Where a run that ``max_minutes`` stopped left off, and what ``--resume`` does next;
    None when the run was not stopped by its time limit."""
    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    if max_minutes is None or timer is None or timer.time_remaining("train") > 0:
        return None
    epoch = trainer.current_epoch  # 1-based number of the epoch it stopped in or after
    done = trainer.fit_loop.epoch_loop.batch_progress.current.completed
    batches = trainer.num_training_batches
    if done >= batches and epoch >= epochs:  # every epoch was trained in time
        return None
    where = (f"after epoch {epoch} of {epochs}" if done >= batches else
             f"in epoch {epoch} of {epochs}, after {done} of its {batches} batches")
    then = "" if done >= batches else f" (the rest of epoch {epoch} is not trained)"
    return (f"stopped at the time limit (--max-minutes {max_minutes:g}) {where}: model.pt "
            f"is the best model so far; run again with --resume to go on from epoch "
            f"{epoch + 1}{then}")


def check_resumable(checkpoint: Path, metadata: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The galmorph metadata and training steps of a checkpoint to resume from, after
    checking it can be read and holds a model of this run's settings (``metadata``).

    Raises:
        GalmorphError: when it cannot be read (e.g. damaged by a copy that was cut short),
            or was trained with another encoder, schema, image size or channels.
    """
    try:
        payload = torch.load(checkpoint, map_location="cpu", weights_only=False, mmap=True)
        earlier, steps = dict(payload.get("galmorph") or {}), int(payload.get("global_step", 0))
    except Exception as err:  # torch raises several types for a damaged file
        raise GalmorphError(
            f"cannot resume from {checkpoint}: it is not a readable checkpoint ({err}); "
            "delete it to train from the start, or copy best.ckpt over it to go on from there"
        ) from None
    changed = [
        f"{what} {shown(earlier_value)}, not {shown(value)}"
        if shown(earlier_value) != shown(value) else
        f"{what} {shown(earlier_value)} as it was then ({_tree_change(earlier_value, value)})"
        for what, key, shown in _RESUMED_SETTINGS
        if (earlier_value := key(earlier)) is not None and earlier_value != (value := key(metadata))
    ]
    if changed:
        raise GalmorphError(
            f"cannot resume from {checkpoint}: that run trained with {'; '.join(changed)}: "
            "give the options it was trained with to go on, or leave out --resume (or choose "
            "another folder) to start a new run"
        )
    return earlier, steps


#: What a resumed run must share with the run it goes on: its name in messages, how to
#: read it from a model's metadata (None: not recorded), and how to show it.
_RESUMED_SETTINGS: tuple[tuple[str, Any, Any], ...] = (
    ("encoder", lambda m: m.get("encoder"), repr),
    ("--schema", lambda m: _tree(m.get("schema")), lambda s: s.get("name", "(unnamed)")),
    ("--image-size", lambda m: m.get("image", {}).get("size"), str),
    ("--channels", lambda m: m.get("channels"), str),
)


def _tree(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """A schema's dict without its questions' texts, which the model does not learn."""
    if schema is None:
        return None
    questions = [{k: v for k, v in q.items() if k != "text"} for q in schema.get("questions", [])]
    return {**schema, "questions": questions}


def _tree_change(earlier: dict[str, Any], now: dict[str, Any]) -> str:
    """The first difference between two trees of one name, in words."""
    before = {q["name"]: q for q in earlier["questions"]}
    after = {q["name"]: q for q in now["questions"]}
    if list(before) != list(after):
        return f"questions {', '.join(before)}, not {', '.join(after)}"
    for name, question in before.items():
        for key in ("asked_after", "answers"):
            if question.get(key) != after[name].get(key):
                return (f"question {name!r} {key.replace('_', ' ')} "
                        f"{_brief(question.get(key))}, not {_brief(after[name].get(key))}")
    return "another tree of that name"


def _brief(value: Any) -> str:
    """An ``asked_after`` or an answer list (``name (column), ...``) as written."""
    if isinstance(value, list):
        return ", ".join(f"{a['name']} ({a['column']})" for a in value)
    return str(value)
