"""Data shipped inside the package.

Examples
--------
>>> from galmorph.data.bundled import demo_catalog
>>> demo_catalog().name
'catalog.csv'
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def demo_dir() -> Path:
    """Folder of the bundled demo galaxies (630 SDSS galaxies with GZ2 votes).

    Its ``PROVENANCE.md`` says where they come from and how they were chosen:
    exactly the test split of the ``gz2-starter`` model.
    """
    return Path(str(files("galmorph") / "demo_data" / "gz2_demo"))


def demo_catalog() -> Path:
    """The bundled demo catalog (CSV with ``id_str``, ``ra``, ``dec``, ``file_loc``,
    GZ2 vote counts for t01–t09 and a ``ring`` label)."""
    return demo_dir() / "catalog.csv"
