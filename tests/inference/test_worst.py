"""The galaxies a vote-count model gets most wrong: its confident misses, largest first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galmorph.data.schemas import get_schema
from galmorph.inference.worst import worst_vote_galaxies

SCHEMA = get_schema("gz2-no-odd")
SMOOTH, FEATURES, ARTIFACT = range(SCHEMA.questions[0].start, SCHEMA.questions[0].stop)
EDGE_ON = SCHEMA.question("t02_edgeon")


def _galaxies(n: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """``n`` galaxies 20 volunteers call smooth, and a model that agrees (alpha 20 vs 1)."""
    frame = pd.DataFrame({"id_str": [f"g{i}" for i in range(n)],
                          "file_loc": [f"g{i}.jpg" for i in range(n)]})
    counts = np.zeros((n, SCHEMA.n_answers))
    counts[:, SMOOTH] = 20
    alpha = np.ones((n, SCHEMA.n_answers))
    alpha[:, SMOOTH] = 20
    return frame, counts, alpha


def test_misses_are_listed_by_how_much_the_model_misses_the_volunteers_answer() -> None:
    frame, counts, alpha = _galaxies(4)
    alpha[1, [SMOOTH, FEATURES, ARTIFACT]] = [2, 7, 1]  # 20% smooth: misses by 80 points
    alpha[3, [SMOOTH, FEATURES, ARTIFACT]] = [4, 5, 1]  # 40% smooth: by 60
    counts[2, [SMOOTH, FEATURES]] = [15, 5]   # 75% agree: not confident, so never a miss
    alpha[2, [SMOOTH, FEATURES]] = [1, 9]

    worst = worst_vote_galaxies(frame, counts, alpha, SCHEMA)

    assert [g["id_str"] for g in worst] == ["g1", "g3"]
    assert worst[0] == {
        "id_str": "g1", "file_loc": "g1.jpg", "question": "t01_smooth_or_features",
        "label": "smooth", "label_fraction": 1.0, "predicted": "features or disk",
        "probability": pytest.approx(0.7)}
    assert worst[1]["probability"] == pytest.approx(0.5)
    assert worst_vote_galaxies(frame, counts, alpha, SCHEMA, n=1) == worst[:1]


def test_a_galaxy_is_listed_once_for_its_largest_miss() -> None:
    frame, counts, alpha = _galaxies(2)
    counts[:, [SMOOTH, FEATURES]] = [[0, 20], [20, 0]]   # g0 featured, asked t02
    alpha[:, [SMOOTH, FEATURES]] = [[10, 11], [1, 20]]  # g0: 52% featured, right
    yes, no = EDGE_ON.start, EDGE_ON.start + 1
    counts[0, [yes, no]] = [18, 2]                      # g0: 90% edge-on
    alpha[0, [yes, no]] = [1, 3]                        # the model: 25%, so a 65-point miss
    counts[1, [yes, no]] = [0, 9]                       # g1: 9 of 20 answered t02: not confident
    alpha[1, [yes, no]] = [9, 1]

    worst = worst_vote_galaxies(frame, counts, alpha, SCHEMA)

    assert [(g["id_str"], g["question"]) for g in worst] == [
        ("g1", "t01_smooth_or_features"), ("g0", "t02_edgeon")]
    assert worst[1]["label"] == "edge-on yes" and worst[1]["predicted"] == "edge-on no"
    assert worst[1]["label_fraction"] == pytest.approx(0.9)


def test_mc_samples_are_averaged_and_ids_are_optional() -> None:
    frame, counts, alpha = _galaxies(1)
    samples = np.stack([alpha, alpha], axis=2)
    samples[0, [SMOOTH, FEATURES, ARTIFACT], 0] = [1, 8, 1]  # features 80%, or
    samples[0, [SMOOTH, FEATURES, ARTIFACT], 1] = [5, 4, 1]  # 40% (smooth 50%): 60% on average
    worst = worst_vote_galaxies(frame.drop(columns="id_str"), counts, samples, SCHEMA)
    assert worst == [{"file_loc": "g0.jpg", "question": "t01_smooth_or_features",
                      "label": "smooth", "label_fraction": 1.0, "predicted": "features or disk",
                      "probability": pytest.approx(0.6)}]


def test_a_model_that_gives_every_confident_answer_has_no_misses() -> None:
    frame, counts, alpha = _galaxies(3)
    assert worst_vote_galaxies(frame, counts, alpha, SCHEMA) == []
