"""The progress bars of long runs: galaxies predicted, partitions done.

Example:
    >>> with progress_bar("galaxies", enabled=False) as bar:
    ...     task = bar.add_task("Predicting", total=10)
    ...     bar.advance(task, 10)
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress_bar(unit: str, enabled: bool) -> Progress:
    """A bar on stderr counting ``unit`` done out of the task's total, with the time spent
    and left; ``enabled=False`` shows nothing."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )
