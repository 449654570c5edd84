"""Checks of the checkpoint a vote-count run resumes from (``train(resume=True)``).

:func:`check_resumable` reads the checkpoint and refuses one that cannot be read or
was trained with other settings (encoder, schema, image size, channels) than the run
that would go on from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from galmorph.exceptions import GalmorphError


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
    ("--schema", lambda m: m.get("schema"), lambda s: s.get("name", "(unnamed)")),
    ("--image-size", lambda m: m.get("image", {}).get("size"), str),
    ("--channels", lambda m: m.get("channels"), str),
)
