"""Features of the evaluation's baselines (galmorph.search.baselines)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from galmorph.data.bundled import demo_dir
from galmorph.models.checkpoint import load_model
from galmorph.search.baselines import baseline_features


@pytest.mark.parametrize("name", ["pixels", "untrained", "votes"])
def test_baselines_average_over_the_embeddings_views(name: str, untrained_model: Path,
                                                     tmp_path: Path) -> None:
    image = np.asarray(Image.open(demo_dir() / pd.read_csv(demo_dir() / "catalog.csv",
                                                           nrows=1)["file_loc"][0]))
    for turns in range(3):
        turned = np.ascontiguousarray(np.rot90(image, turns))
        Image.fromarray(turned).save(tmp_path / f"{turns}.png")
    frame = pd.DataFrame({"id_str": ["0", "1", "2"],
                          "file_loc": [str(tmp_path / f"{t}.png") for t in range(3)]})
    loaded = load_model(untrained_model)
    run = {"device": torch.device("cpu"), "num_workers": 0, "progress": False}
    one = baseline_features(name, frame, loaded, None, views=1, **run)
    eight = baseline_features(name, frame, loaded, None, views=8, **run)
    np.testing.assert_allclose(eight, np.repeat(eight[:1], 3, axis=0), atol=1e-5)
    assert np.abs(one[1] - one[0]).max() > 1e-4  # one view: turning the image changes it
