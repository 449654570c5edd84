"""Morphology summaries of galaxies from a predictions table (galmorph.web.summary)."""

from __future__ import annotations

import pandas as pd
import pytest

from galmorph.exceptions import GalmorphError
from galmorph.web.summary import PredictionSummary


def test_prediction_summary_reads_top_answers() -> None:
    table = pd.DataFrame({
        "id_str": ["a", "b"],
        "t01_smooth_or_features_a01_smooth_fraction": [0.8, 0.1],
        "t01_smooth_or_features_a02_features_or_disk_fraction": [0.2, 0.9],
        "t01_smooth_or_features_asked": [1.0, 1.0],
        "t02_edgeon_a04_yes_fraction": [0.3, 0.6],
        "t02_edgeon_a05_no_fraction": [0.7, 0.4],
        "t02_edgeon_asked": [0.2, 0.9],
    })
    summary = PredictionSummary(table, "p.csv")
    assert summary("a") == [{"question": "t01_smooth_or_features", "answer": "smooth",
                             "text": "smooth", "fraction": 0.8}]
    assert [s["answer"] for s in summary("b")] == ["features or disk", "yes"]
    assert [s["text"] for s in summary("b")] == ["features or disk", "edge-on: yes"]
    assert summary("missing") == []


def test_a_classifiers_summary_is_its_most_probable_class() -> None:
    table = pd.DataFrame({"id_str": ["a", "b"], "prob_not ring": [0.7, 0.2],
                          "prob_S0/Sa": [0.3, 0.8], "predicted_label": ["not ring", "S0/Sa"]})
    summary = PredictionSummary(table, "p.parquet")
    assert summary("a") == [{"question": "class", "answer": "not ring", "text": "not ring",
                             "fraction": 0.7}]
    assert summary("b")[0]["text"] == "S0/Sa"
    with pytest.raises(GalmorphError, match="nor a classifier.s prob_<class> or a regressor"):
        PredictionSummary(table[["id_str", "predicted_label"]], "p.parquet")
