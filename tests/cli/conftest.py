"""Fixtures of the command-line tests: labelled catalogs for fine-tuning and evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galmorph.data import bundled


@pytest.fixture
def words_csv(tmp_path: Path, demo_catalog: pd.DataFrame) -> Path:
    """12 rings and 12 others of the bundled galaxies (absolute image paths), labelled in
    words in ``kind`` ("ring", "not ring"), with a number per galaxy in ``size`` (1 to 3),
    as a CSV file whose name has a space."""
    frame = pd.concat([demo_catalog[demo_catalog["ring"] == 1].head(12),
                       demo_catalog[demo_catalog["ring"] == 0].head(12)])
    frame["file_loc"] = [str(bundled.demo_dir() / loc) for loc in frame["file_loc"]]
    frame["kind"] = np.where(frame["ring"] == 1, "ring", "not ring")
    frame["size"] = np.linspace(1.0, 3.0, len(frame))
    path = tmp_path / "my labels.csv"
    frame.to_csv(path, index=False)
    return path
