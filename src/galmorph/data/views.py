"""Test-time averaging over right-angle rotations and mirror images of the images.

:data:`VIEW_CHOICES` and :func:`check_views` need no torch (the CLI uses them for
its options); :func:`average_over_views` wraps a model's forward pass.

Examples
--------
>>> from galmorph.data.views import VIEW_CHOICES, check_views
>>> VIEW_CHOICES, check_views(8)
((1, 4, 8), 8)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from galmorph.exceptions import GalmorphError

if TYPE_CHECKING:
    import torch

#: Orientations :func:`average_over_views` can average over.
VIEW_CHOICES = (1, 4, 8)


def check_views(views: int) -> int:
    """``views`` if :func:`average_over_views` accepts it, else a clear error."""
    if views not in VIEW_CHOICES:
        raise GalmorphError(f"views must be one of {', '.join(map(str, VIEW_CHOICES))}, "
                            f"got {views}")
    return views


def average_over_views(
    forward: Callable[[torch.Tensor], torch.Tensor], views: int
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``forward`` averaged over right-angle rotations (and mirror images) of the batch.

    Args:
        forward: maps images ``(b, c, h, w)`` to features ``(b, ...)``.
        views: 1 (the images as they are), 4 (rotations by 0, 90, 180, 270
            degrees) or 8 (each rotation also mirrored left-right).

    Example:
        >>> import torch
        >>> mean = average_over_views(lambda x: x.flatten(1), 4)
        >>> mean(torch.arange(4.0).reshape(1, 1, 2, 2))
        tensor([[1.5000, 1.5000, 1.5000, 1.5000]])
    """
    import torch

    if check_views(views) == 1:
        return forward

    def turned(images: torch.Tensor) -> Iterator[torch.Tensor]:
        for turns in range(4):
            rotated = torch.rot90(images, turns, dims=(2, 3))
            yield rotated.contiguous()
            if views == 8:
                yield rotated.flip(3)

    def averaged(images: torch.Tensor) -> torch.Tensor:
        return sum(forward(view).float() for view in turned(images)) / views

    return averaged
