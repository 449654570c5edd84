"""The galaxies a model gets most wrong, drawn in a grid (``galmorph evaluate --grid``, the
demo report), from the records of :mod:`galmorph.inference.worst`.

Example:
    >>> import numpy as np
    >>> worst = [{"id_str": "J1", "file_loc": np.zeros((8, 8)), "question": "t04_spiral",
    ...           "label": "spiral", "label_fraction": 0.9, "predicted": "no spiral",
    ...           "probability": 0.7}]
    >>> worst_caption("votes", worst[0])
    'J1\\nspiral\\nvolunteers: spiral (90%)\\nmodel: no spiral (70%)'
    >>> len(worst_grid(worst, "votes").axes)
    1
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from galmorph.data.tree import plain_name
from galmorph.report.plots import galaxy_grid

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: What the worst galaxies of each task are called.
TITLES = {"votes": "largest misses where most volunteers agreed",
          "classification": "most confident mistakes",
          "regression": "largest errors"}


def worst_caption(task: str, galaxy: dict[str, Any]) -> str:
    """What the grid says under one of the worst galaxies: its id, the truth and the
    model's answer (``task``: ``votes``, ``classification`` or ``regression``)."""
    name = galaxy.get("id_str") or Path(str(galaxy["file_loc"])).stem
    if task == "votes":
        return (f"{name}\n{plain_name(galaxy['question'])}\n"
                f"volunteers: {galaxy['label']} ({galaxy['label_fraction']:.0%})\n"
                f"model: {galaxy['predicted']} ({galaxy['probability']:.0%})")
    if task == "classification":
        return (f"{name}\nlabelled {galaxy['label']}\n"
                f"model: {galaxy['predicted']} ({galaxy['probability']:.0%})")
    return f"{name}\nlabel {galaxy['label']:.3g}, predicted {galaxy['predicted']:.3g}"


def worst_grid(worst: list[dict[str, Any]], task: str, label_column: str | None = None, *,
               path: str | Path | None = None, ncols: int | None = None,
               panel_size: float = 2.0) -> Figure:
    """The ``worst`` galaxies (records with ``file_loc``) as a titled grid, saved to
    ``path`` when given (see :func:`galmorph.report.plots.galaxy_grid`)."""
    title = f"The {len(worst)} {TITLES[task]}" + (
        f", label column {label_column!r}" if label_column is not None else "")
    return galaxy_grid([g["file_loc"] for g in worst], [worst_caption(task, g) for g in worst],
                       ncols=ncols, title=title, panel_size=panel_size, path=path)
