"""Fixtures shared by the training tests: labelled galaxies from the bundled demo data."""

from __future__ import annotations

import pandas as pd
import pytest

from galmorph.data import bundled


@pytest.fixture(scope="session")
def ring_frame(demo_catalog: pd.DataFrame) -> pd.DataFrame:
    """24 rings and 24 non-rings from the demo data, image paths absolute."""
    frame = pd.concat([
        demo_catalog[demo_catalog["ring"] == 1].head(24),
        demo_catalog[demo_catalog["ring"] == 0].head(24),
    ]).reset_index(drop=True)
    frame["file_loc"] = [str(bundled.demo_dir() / loc) for loc in frame["file_loc"]]
    return frame
