"""The shipped starter model is the one its model card describes."""

import json
import math
from pathlib import Path

import pytest

from galmorph.data import bundled
from galmorph.data.schemas import get_schema
from galmorph.inference.evaluate import evaluate_catalog
from galmorph.models.checkpoint import load_model, shipped_models
from galmorph.models.defaults import DEFAULT_MODEL, DEFAULT_MODEL_SCHEMAS

CARD_FIGURES = Path(__file__).resolve().parents[2] / "docs" / "gz2-starter-evaluation.json"
TOLERANCE = 0.02


@pytest.fixture(scope="module")
def evaluation() -> dict:
    # the backend `galmorph evaluate` uses by default (ONNX Runtime on the CPU: 17 s
    # here against 50 s with PyTorch). Batches of 16: the same figures; with PyTorch on
    # the CPU, the activations of a batch of 128 are too big for the allocator to reuse.
    return evaluate_catalog(bundled.demo_catalog(), None, batch_size=16, progress=False,
                            backend="auto")


def test_default_model_is_shipped_and_small():
    path = shipped_models()[DEFAULT_MODEL]
    assert path.stat().st_size <= 20e6
    loaded = load_model(None)
    assert loaded.name == DEFAULT_MODEL
    assert loaded.schema.name == "gz2-no-odd"
    assert loaded.metadata["training"]["split"]["seed"] == 1


@pytest.mark.parametrize("schema", DEFAULT_MODEL_SCHEMAS)
def test_catalogs_of_the_default_model_s_schemas_have_every_vote_it_learnt(schema: str):
    """What `galmorph validate --schema` relies on to suggest `galmorph evaluate`."""
    learnt = load_model(None).learnt_schema
    assert learnt is not None
    assert set(learnt.label_cols) <= set(get_schema(schema).label_cols)


def test_model_card_figures_are_reproduced(evaluation):
    card = json.loads(CARD_FIGURES.read_text())
    assert evaluation["n_galaxies"] == card["n_galaxies"]
    assert evaluation["mean_nll"] == pytest.approx(card["mean_nll"], abs=TOLERANCE)
    for name, stored in card["questions"].items():
        now = evaluation["questions"][name]
        for key in ("nll", "mae", "accuracy_confident"):
            if stored[key] is None:
                assert math.isnan(now[key])
            else:
                assert now[key] == pytest.approx(stored[key], abs=TOLERANCE), (name, key)
        assert now["n_confident"] == stored["n_confident"]
