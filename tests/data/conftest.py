"""Fixtures of the catalog tests: bundled images copied where a catalog can name them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from galmorph.data.bundled import demo_dir


@pytest.fixture
def images(tmp_path: Path) -> list[str]:
    """Three bundled JPEGs copied to ``tmp_path/images``: their paths from ``tmp_path``."""
    (tmp_path / "images").mkdir()
    chosen = sorted((demo_dir() / "images").iterdir())[:3]
    for image in chosen:
        shutil.copy(image, tmp_path / "images" / image.name)
    return [f"images/{image.name}" for image in chosen]
