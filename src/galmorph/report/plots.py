"""Figures of galaxies: a grid of images with captions.

:func:`galaxy_grid` draws any list of galaxy images (files or arrays) in a grid,
each with a caption, optionally framing some panels (e.g. a query among its
neighbours, or galaxies a user labelled). It uses matplotlib's object-oriented
API without pyplot, so it needs no display and leaves no global figure state.

Example
-------
>>> from galmorph.report.plots import galaxy_grid
>>> fig = galaxy_grid(["a.jpg", "b.jpg"], ["query", "d=0.12"], highlight=[0],
...                   path="grid.png")  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import textwrap
import warnings
from collections.abc import Collection, Iterable
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from galmorph.data.images import load_image
from galmorph.exceptions import GalmorphError, GalmorphWarning, ImageError
from galmorph.files import atomic_target

#: Colour of the frame around highlighted panels.
HIGHLIGHT_COLOUR = "#d62728"
#: Font size of captions (points), and the smallest they shrink to so as to fit a panel.
CAPTION_POINTS, MIN_CAPTION_POINTS = 8.0, 5.0
#: Font size of a grid's title (points): wrapped to the figure's width.
TITLE_POINTS = 11.0
#: Width of an average caption character in DejaVu Sans, as a fraction of the font size.
_CHAR_WIDTH = 0.62

ImageLike = str | Path | np.ndarray


def figure_formats() -> list[str]:
    """File extensions (without dot) matplotlib can save figures as."""
    return sorted(Figure().canvas.get_supported_filetypes())


def check_figure_path(path: str | Path) -> Path:
    """``path`` if matplotlib can write its format, else a GalmorphError naming the formats."""
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in figure_formats():
        raise GalmorphError(
            f"cannot draw {path}: use a file name ending in one of "
            f".{', .'.join(figure_formats())} (e.g. grid.png)"
        )
    return path


def _pixels(image: ImageLike, index: int) -> np.ndarray | None:
    """An image as ``(H, W)`` or ``(H, W, 3)`` for imshow; None (with a warning) if unreadable.

    Raises:
        ValueError: naming ``index`` for an array of another shape.
    """
    if isinstance(image, np.ndarray):
        array = image
        if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (1, 3))):
            raise ValueError(
                f"image {index} is an array of shape {array.shape}: galaxy_grid draws "
                "(H, W), (H, W, 1) or (H, W, 3) arrays"
            )
    else:
        try:
            array = load_image(image)
        except ImageError as err:
            warnings.warn(f"drawing a blank panel: {err}", GalmorphWarning, stacklevel=3)
            return None
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    return array


def galaxy_grid(
    images: Iterable[ImageLike],
    captions: Iterable[object] | None = None,
    *,
    ncols: int | None = None,
    title: str | None = None,
    highlight: Collection[int] = (),
    panel_size: float = 2.0,
    path: str | Path | None = None,
    dpi: int = 100,
) -> Figure:
    """Draw galaxy images in a grid, each with a caption under it.

    Args:
        images: image files (jpg, png, FITS: read by :func:`galmorph.data.images.load_image`)
            or arrays ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` (``uint8``, or floats
            in [0, 1]), in a list or any iterable (e.g. a pandas column of paths, or a
            stack of arrays). An unreadable file becomes a blank panel with a warning.
        captions: one per image, shown with ``str`` (texts may hold newlines; numbers,
            e.g. a column of distances, are fine); None: no captions. Long captions
            are set in a smaller font (down to :data:`MIN_CAPTION_POINTS`) so as not
            to run into the next panel.
        ncols: panels per row (default: up to 6, as square as possible).
        title: figure title.
        highlight: positions of panels to frame in :data:`HIGHLIGHT_COLOUR`.
        panel_size: side of each panel in inches.
        path: also save the figure there (any matplotlib format by extension).
        dpi: resolution of the saved file.

    Returns:
        The matplotlib figure (``fig.savefig`` it again in another format if wished).

    Raises:
        GalmorphError: with no images, mismatched captions, a highlight outside the
            panels or an unknown file format.
        TypeError: for one image (a path or a single array) instead of a list.
        ValueError: for an image array of another shape, naming its position.

    Example:
        >>> import numpy as np
        >>> fig = galaxy_grid([np.zeros((8, 8, 3), np.uint8)] * 3, ["a", "b", "c"], ncols=3)
        >>> len(fig.axes)
        3
    """
    one_array = isinstance(images, np.ndarray) and (
        images.ndim == 2 or (images.ndim == 3 and images.shape[-1] in (1, 3)))
    if isinstance(images, str | os.PathLike) or one_array:
        raise TypeError("images is a list of images (files or arrays): give one image as "
                        "[image]")
    images = list(images)
    if not images:
        raise GalmorphError("no images to draw")
    highlight = set(highlight)  # read once: an iterator is gone after the check below
    outside = sorted(i for i in highlight if not 0 <= i < len(images))
    if outside:
        raise GalmorphError(f"highlight {outside} is not among the {len(images)} panels "
                            f"(0 to {len(images) - 1})")
    if captions is not None:
        captions = [str(c) for c in captions]
    if captions is not None and len(captions) != len(images):
        raise GalmorphError(f"{len(images)} images but {len(captions)} captions")
    if path is not None:
        path = check_figure_path(path)
    ncols = ncols or min(len(images), 6, max(3, math.ceil(math.sqrt(len(images)))))
    nrows = int(np.ceil(len(images) / ncols))
    caption_lines = max((c.count("\n") + 1 for c in captions), default=0) if captions else 0
    caption_inches = 0.18 * caption_lines
    longest = max((len(line) for c in captions or () for line in c.split("\n")), default=1)
    caption_points = max(MIN_CAPTION_POINTS,
                         min(CAPTION_POINTS, 0.97 * panel_size * 72 / (_CHAR_WIDTH * longest)))
    width = ncols * panel_size
    title_lines = textwrap.wrap(title or "", max(int(width * 72 / (TITLE_POINTS * _CHAR_WIDTH)),
                                                 20))
    figure = Figure(
        figsize=(width, nrows * (panel_size + caption_inches)
                 + (0.2 + 0.22 * len(title_lines) if title_lines else 0)),
        layout="constrained",
    )
    marked = set(highlight)
    for i, image in enumerate(images):
        ax = figure.add_subplot(nrows, ncols, i + 1)
        pixels = _pixels(image, i)
        if pixels is None:
            ax.set_facecolor("0.85")
            ax.text(0.5, 0.5, "image\nunreadable", ha="center", va="center",
                    transform=ax.transAxes, fontsize=8)
        else:
            ax.imshow(pixels, cmap="gray" if pixels.ndim == 2 else None, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(i in marked)
            if i in marked:
                spine.set_color(HIGHLIGHT_COLOUR)
                spine.set_linewidth(3)
        if captions is not None:
            ax.set_xlabel(captions[i], fontsize=caption_points,
                          color=HIGHLIGHT_COLOUR if i in marked else "k")
    if title_lines:
        figure.suptitle("\n".join(title_lines), fontsize=TITLE_POINTS)
    if path is not None:
        save_figure(figure, path, dpi)
    return figure


def save_figure(figure: Figure, path: str | Path, dpi: int = 100) -> None:
    """Save ``figure`` in the format of ``path``'s suffix, atomically: an interrupted
    save leaves no half-written picture (an earlier one stays)."""
    path = Path(path)
    with atomic_target(path) as tmp:
        figure.savefig(tmp, format=path.suffix.lstrip(".").lower(), dpi=dpi)
