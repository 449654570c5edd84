"""Galaxy image grids (galmorph.report.plots)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from galmorph.data.bundled import demo_dir
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.report.plots import HIGHLIGHT_COLOUR, galaxy_grid


def demo_images(n: int) -> list[Path]:
    return sorted((demo_dir() / "images").glob("*.jpg"))[:n]


def test_grid_png_is_written_and_valid(tmp_path: Path) -> None:
    images = demo_images(5)
    path = tmp_path / "sub" / "grid.png"
    figure = galaxy_grid(images, [f"galaxy {i}\nd=0.{i}" for i in range(5)], highlight=[0],
                         title="five", path=path, dpi=50)
    assert len(figure.axes) == 5
    with Image.open(path) as png:
        png.verify()
    with Image.open(path) as png:
        assert png.format == "PNG"
        pixels = np.asarray(png.convert("RGB"))
    height, width = pixels.shape[:2]
    assert width == 3 * 2 * 50 and height > 2 * 2 * 50  # 3 columns, 2 rows of 2-inch panels
    assert pixels.std() > 10  # galaxies, not a blank canvas
    frame = figure.axes[0].spines["left"]
    assert frame.get_visible() and frame.get_edgecolor()[:3] == pytest.approx(
        tuple(int(HIGHLIGHT_COLOUR[i:i + 2], 16) / 255 for i in (1, 3, 5)))
    assert not figure.axes[1].spines["left"].get_visible()
    assert figure.axes[2].get_xlabel() == "galaxy 2\nd=0.2"


def test_grid_takes_arrays_and_survives_unreadable_files(tmp_path: Path) -> None:
    grey = np.linspace(0, 255, 64, dtype=np.uint8).reshape(8, 8)
    colour = np.zeros((8, 8, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure = galaxy_grid([grey, grey[..., None], colour, tmp_path / "missing.jpg"],
                             ncols=2, path=tmp_path / "grid.pdf")
    assert len(figure.axes) == 4 and (tmp_path / "grid.pdf").stat().st_size > 0
    assert figure.axes[0].get_subplotspec().get_geometry()[:2] == (2, 2)
    assert [w for w in caught if issubclass(w.category, GalmorphWarning)
            and "missing.jpg" in str(w.message)]


def test_grid_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(GalmorphError, match="no images"):
        galaxy_grid([])
    with pytest.raises(GalmorphError, match="2 images but 1 captions"):
        galaxy_grid(demo_images(2), ["one"])
    with pytest.raises(GalmorphError, match="e.g. grid.png"):
        galaxy_grid(demo_images(1), path=tmp_path / "grid.txt")
    assert not (tmp_path / "grid.txt").exists()
    for one in (str(demo_images(1)[0]), demo_images(1)[0], np.zeros((8, 8, 3), np.uint8)):
        with pytest.raises(TypeError, match=r"give one image as \[image\]"):
            galaxy_grid(one)  # not a panel per character (or per row of pixels)
    with pytest.raises(GalmorphError, match=r"highlight \[4\] is not among the 2 panels"):
        galaxy_grid(demo_images(2), highlight=[4])
    framed = galaxy_grid(demo_images(2), highlight=iter([1]))  # an iterator, read once
    assert [ax.spines["top"].get_visible() for ax in framed.axes] == [False, True]


def test_grid_takes_columns_arrays_and_numeric_captions() -> None:
    paths = pd.Series([str(p) for p in demo_images(3)], index=[10, 20, 30])
    distances = pd.Series([0.0, 0.125, 0.5], index=[10, 20, 30])
    figure = galaxy_grid(paths, distances)
    assert [ax.get_xlabel() for ax in figure.axes] == ["0.0", "0.125", "0.5"]
    assert len(galaxy_grid(paths.to_numpy(), np.arange(3)).axes) == 3
    assert len(galaxy_grid(np.zeros((2, 8, 8, 3), np.uint8)).axes) == 2
    assert len(galaxy_grid(p for p in demo_images(2)).axes) == 2


def test_grid_names_a_wrongly_shaped_array() -> None:
    images = [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 5), np.uint8)]
    with pytest.raises(ValueError, match=r"image 1 is an array of shape \(8, 8, 5\)"):
        galaxy_grid(images)


def test_a_long_title_wraps_to_the_grid_and_makes_room() -> None:
    images = [np.zeros((8, 8, 3), dtype=np.uint8)] * 2
    short = galaxy_grid(images, ncols=2, panel_size=1.5, title="Short")
    long = galaxy_grid(images, ncols=2, panel_size=1.5, title="word " * 40)
    lines = long._suptitle.get_text().split("\n")
    assert short._suptitle.get_text() == "Short" and len(lines) >= 4
    width_points = 2 * 1.5 * 72
    assert all(len(line) * 11 * 0.62 <= width_points for line in lines)
    assert long.get_size_inches()[1] > short.get_size_inches()[1]
