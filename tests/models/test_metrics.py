"""Evaluation metrics, vote baseline, table and JSON output on small hand-made cases."""

from __future__ import annotations

import doctest
import io
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console
from scipy.stats import binomtest, dirichlet_multinomial

from galmorph.data.tree import Schema
from galmorph.files import write_json
from galmorph.models import metrics
from galmorph.models.evaluation_tables import print_evaluation, print_label_evaluation
from galmorph.models.label_metrics import (
    classification_metrics,
    paired_p_value,
    versus_constant_answer,
    wilson_interval,
)
from galmorph.models.losses import vote_loss
from galmorph.models.metrics import evaluate_votes, fit_vote_baseline

# shape: smooth, featured, artifact (columns 0-2); edge: yes, no (columns 3-4)
SCHEMA = Schema.from_dict(
    {
        "name": "tiny",
        "questions": [
            {"name": "shape", "answers": ["smooth", "featured", "artifact"]},
            {"name": "edge", "asked_after": "shape/featured", "answers": ["yes", "no"]},
        ],
    }
)


def _alpha_for(top_answers: list[tuple[int, int]]) -> np.ndarray:
    """Concentrations 1 everywhere except 10 on each galaxy's (shape, edge) predicted answer."""
    alpha = np.ones((len(top_answers), 5))
    for i, (shape, edge) in enumerate(top_answers):
        alpha[i, shape] = alpha[i, 3 + edge] = 10.0
    return alpha


def test_confident_selection_accuracy_and_majority() -> None:
    counts = np.array(
        [
            [10, 0, 0, 0, 0],  # shape confident (smooth); edge unasked
            [2, 8, 0, 8, 2],  # shape 8/10 = 80%: confident; edge confident (yes)
            [3, 7, 0, 1, 6],  # shape 70%: not confident; edge 7 >= 5 votes, 6/7: confident (no)
            [6, 4, 0, 0, 4],  # edge unanimous but 4 < half of 10 volunteers: excluded
            [0, 10, 0, 5, 0],  # edge 5 = exactly half the volunteers: confident (yes)
        ]
    )
    # predicted top answers (shape, edge) per galaxy
    alpha = _alpha_for([(0, 0), (1, 0), (0, 0), (0, 0), (0, 0)])
    result = evaluate_votes(counts, alpha, SCHEMA)
    shape, edge = result["questions"]["shape"], result["questions"]["edge"]

    # shape: galaxies 0 (smooth, right), 1 (featured, right), 4 (featured, wrong)
    assert shape["n_confident"] == 3
    assert shape["accuracy_confident"] == pytest.approx(2 / 3)
    assert shape["balanced_accuracy_confident"] == pytest.approx((1 + 1 / 2) / 2)
    assert shape["majority_accuracy"] == pytest.approx(2 / 3)
    # edge: galaxies 1 (yes, right), 2 (no, wrong), 4 (yes, right)
    assert edge["n_confident"] == 3
    assert edge["accuracy_confident"] == pytest.approx(2 / 3)
    assert edge["balanced_accuracy_confident"] == pytest.approx(0.5)
    assert edge["majority_accuracy"] == pytest.approx(2 / 3)
    ci = binomtest(2, 3).proportion_ci(0.95, method="wilson")
    assert edge["accuracy_ci95"] == pytest.approx([ci.low, ci.high])
    assert edge["accuracy_ci95"][0] < 2 / 3 < edge["accuracy_ci95"][1]


def test_mae_over_answered_galaxies_and_mc_samples() -> None:
    counts = np.array([[3, 1, 0, 0, 0], [0, 0, 0, 0, 0]])
    alpha = np.ones((2, 5))
    # predicted (1/3, 1/3, 1/3) vs observed (3/4, 1/4, 0); galaxy 1 has no votes
    mae = evaluate_votes(counts, alpha, SCHEMA)["questions"]["shape"]["mae"]
    assert mae == pytest.approx((5 / 12 + 1 / 12 + 1 / 3) / 3)

    # two samples predicting (1/3, 1/3, 1/3) and (3/5, 1/5, 1/5): mean (7/15, 4/15, 4/15)
    samples = np.stack([alpha, alpha], axis=2)
    samples[0, :3, 1] = [3, 1, 1]
    mae = evaluate_votes(counts, samples, SCHEMA)["questions"]["shape"]["mae"]
    assert mae == pytest.approx((abs(7 / 15 - 3 / 4) + abs(4 / 15 - 1 / 4) + 4 / 15) / 3)


def test_questions_without_eligible_galaxies_give_nan() -> None:
    counts = np.array([[5, 0, 0, 0, 0], [1, 1, 1, 0, 0]])
    edge = evaluate_votes(counts, np.ones((2, 5)), SCHEMA)["questions"]["edge"]
    assert edge["nll"] == 0.0 and edge["n_answered"] == 0 and edge["n_confident"] == 0
    for key in ("mae", "accuracy_confident", "balanced_accuracy_confident",
                "majority_accuracy"):
        assert math.isnan(edge[key])
    assert all(math.isnan(v) for v in edge["accuracy_ci95"])


def test_nll_matches_scipy_and_the_training_loss() -> None:
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 30, size=(20, 5)).astype(float)
    counts[:7, 3:] = 0
    alpha = rng.uniform(1, 101, size=(20, 5))
    result = evaluate_votes(counts, alpha, SCHEMA)

    answered = counts[:, :3].sum(1) > 0
    expected = -dirichlet_multinomial.logpmf(counts[:, :3], alpha[:, :3], counts[:, :3].sum(1))
    assert result["questions"]["shape"]["nll"] == pytest.approx(expected[answered].sum() / 20)
    groups = SCHEMA.question_index_groups
    loss = vote_loss(torch.from_numpy(counts), torch.from_numpy(alpha), groups)
    assert result["mean_nll"] == pytest.approx(loss.item())
    assert result["mean_nll"] == pytest.approx(sum(q["nll"] for q in result["questions"].values()))
    assert result["n_galaxies"] == 20 and result["n_samples"] == 1


def test_mixture_nll() -> None:
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 20, size=(6, 5)).astype(float)
    alpha = rng.uniform(1, 50, size=(6, 5, 3))
    same = evaluate_votes(counts, np.repeat(alpha[:, :, :1], 4, axis=2), SCHEMA)
    single = evaluate_votes(counts, alpha[:, :, 0], SCHEMA)
    for name in ("shape", "edge"):
        assert same["questions"][name]["nll"] == pytest.approx(single["questions"][name]["nll"],
                                                               rel=1e-12)

    x = counts[:, 3:]
    p = [dirichlet_multinomial.pmf(x, alpha[:, 3:, s], x.sum(1)) for s in range(3)]
    expected = -np.log(np.mean(p, axis=0)).mean()
    assert evaluate_votes(counts, alpha, SCHEMA)["questions"]["edge"]["nll"] == pytest.approx(
        expected
    )


def test_baseline_fit_recovers_known_concentrations() -> None:
    rng = np.random.default_rng(3)
    true_alpha = np.array([2.0, 5.0, 1.0, 3.0, 0.5])
    n = 3000
    counts = np.zeros((n, 5))
    for start, stop in SCHEMA.question_index_groups:
        fractions = rng.dirichlet(true_alpha[start:stop], size=n)
        counts[:, start:stop] = [rng.multinomial(40, f) for f in fractions]
    counts[: n // 3, 3:] = 0  # edge unasked for a third of galaxies

    fitted = fit_vote_baseline(counts, SCHEMA)
    np.testing.assert_allclose(fitted, true_alpha, rtol=0.2)

    counts[:, 3:] = 0  # nobody answered edge: uniform α = 1
    np.testing.assert_array_equal(fit_vote_baseline(counts, SCHEMA)[3:], [1.0, 1.0])


def test_baseline_nll_reported_beside_model_nll() -> None:
    rng = np.random.default_rng(4)
    counts = rng.integers(0, 10, size=(12, 5))
    alpha = rng.uniform(1, 10, size=(12, 5))
    baseline = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    result = evaluate_votes(counts, alpha, SCHEMA, baseline=baseline)
    as_model = evaluate_votes(counts, np.tile(baseline, (12, 1)), SCHEMA)
    for name in ("shape", "edge"):
        assert result["questions"][name]["baseline_nll"] == pytest.approx(
            as_model["questions"][name]["nll"]
        )
    assert result["baseline_mean_nll"] == pytest.approx(as_model["mean_nll"])
    assert "baseline_mean_nll" not in as_model
    assert "baseline_nll" not in as_model["questions"]["shape"]


@pytest.mark.parametrize(
    ("counts", "alpha", "baseline"),
    [
        (np.ones((3, 4)), np.ones((3, 4)), None),  # wrong number of answers
        (np.ones((3, 5)), np.ones((3, 4)), None),
        (np.ones((3, 5)), np.ones((2, 5, 2)), None),
        (-np.ones((3, 5)), np.ones((3, 5)), None),  # negative votes
        (np.ones((3, 5)), np.zeros((3, 5)), None),  # zero concentration
        (np.ones((3, 5)), np.ones((3, 5)), np.ones(4)),
    ],
)
def test_bad_shapes_and_values(counts: np.ndarray, alpha: np.ndarray, baseline: object) -> None:
    with pytest.raises(ValueError):
        evaluate_votes(counts, alpha, SCHEMA, baseline)


def _example_result() -> dict:
    counts = np.array([[10, 0, 0, 0, 0], [0, 10, 0, 9, 1]])
    return evaluate_votes(counts, _alpha_for([(0, 0), (1, 0)]), SCHEMA, baseline=np.ones(5))


def test_write_json_is_atomic_strict_json_with_required_keys(tmp_path: Path) -> None:
    path = tmp_path / "out" / "metrics.json"
    result = _example_result()
    result["questions"]["edge"]["mae"] = float("nan")
    assert write_json(result, path) == path
    assert write_json(result, path) == path  # replaces an existing file

    def refuse(constant: str) -> None:
        raise AssertionError(f"non-standard JSON constant {constant}")

    data = json.loads(path.read_text(), parse_constant=refuse)
    assert set(data) >= {"questions", "mean_nll", "baseline_mean_nll", "n_galaxies"}
    for question in data["questions"].values():
        assert set(question) >= {"nll", "mae", "accuracy_confident", "n_confident"}
    assert data["questions"]["edge"]["mae"] is None
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]

    with pytest.raises(TypeError):  # not serialisable: old file kept, no temporary left
        write_json({"bad": object()}, path)
    assert json.loads(path.read_text()) == data
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]


def test_print_evaluation_table(tmp_path: Path) -> None:
    result = _example_result()
    console = Console(file=io.StringIO(), width=200)
    print_evaluation(result, console)
    text = console.file.getvalue()
    for expected in ("shape", "edge", "Base", "Summed NLL per galaxy",
                     f"{result['mean_nll']:.3f}", "100.0 ("):
        assert expected in text
    gz2 = {"questions": {"t01_smooth_or_features": result["questions"]["shape"]},
           "n_galaxies": 1, "mean_nll": 1.0}
    console = Console(file=io.StringIO(), width=200)
    print_evaluation(gz2, console)  # questions in words, without GZ2's codes
    assert "smooth or features" in console.file.getvalue()
    assert "t01" not in console.file.getvalue()

    # also from the JSON file, where NaN became null, and without a baseline
    path = write_json(evaluate_votes(np.zeros((1, 5)), np.ones((1, 5)), SCHEMA),
                      tmp_path / "m.json")
    console = Console(file=io.StringIO(), width=200)
    print_evaluation(json.loads(path.read_text()), console)
    assert "–" in console.file.getvalue() and "Base" not in console.file.getvalue()


def test_print_evaluation_prints_a_classifiers_scores_and_refuses_other_things() -> None:
    from galmorph.models.label_metrics import classification_metrics, confusion_counts

    truth = np.array(["0", "0", "1", "1"], dtype=object)
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    scores = {"task": "classification", "label_column": "ring", "majority_class": "0",
              "majority_accuracy": 0.5,
              **classification_metrics(truth, probabilities, ["0", "1"]),
              "confusion": confusion_counts(truth, np.array(["0", "0", "0", "1"], dtype=object),
                                            ["0", "1"])}
    console = Console(file=io.StringIO(), width=200)
    print_evaluation(scores, console)
    assert "'ring'" in console.file.getvalue() and "Summed NLL" not in console.file.getvalue()
    with pytest.raises(TypeError, match="got a dict with keys 'mean_nll'$"):
        print_evaluation({"mean_nll": 3.0})
    with pytest.raises(TypeError, match="got a list$"):
        print_evaluation([])  # type: ignore[arg-type]


def test_docstring_examples() -> None:
    assert doctest.testmod(metrics).failed == 0


def test_read_only_arrays_are_evaluated_without_a_torch_warning() -> None:
    counts = np.array([[2, 8, 0, 8, 2]], dtype=np.float64)  # one galaxy, as pandas may hand it
    alpha = _alpha_for([(1, 0)])
    counts.setflags(write=False)
    alpha.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isfinite(evaluate_votes(counts, alpha, SCHEMA)["mean_nll"])


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (45, 50), (66, 66), (130, 200)])
def test_wilson_interval_matches_the_score_formula(k: int, n: int) -> None:
    z = 1.959964
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    assert wilson_interval(k, n) == pytest.approx((centre - half, centre + half), abs=1e-6)
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


@pytest.mark.parametrize(("score", "counts", "verdict"), [
    (0.9, [25, 25], "better than any one answer for every galaxy (50%)"),
    (0.6, [10, 10], "not told apart from any one answer for every galaxy (50%) on 20 galaxies"),
    (0.6, [500, 500], "better than"),           # the same score, firm on 1,000 galaxies
    (0.1, [40, 40], "worse than any one answer for every galaxy (50%); the model has not"),
    (0.5, [561, 29], "not told apart from"),    # rare rings: all 'not ring' scores 50% here
    (0.6, [20, 20, 20, 0], "better than any one answer for every galaxy (33%)"),
])
def test_a_balanced_accuracy_is_judged_against_chance_by_its_interval(
    score: float, counts: list[int], verdict: str
) -> None:
    text = versus_constant_answer(score, counts)
    present = [n for n in counts if n]
    half = 1.96 * math.sqrt(score * (1 - score) * sum(1 / n for n in present)) / len(present)
    assert text.startswith(f"balanced accuracy {score:.1%} (95% interval "
                           f"{max(score - half, 0):.0%} to {min(score + half, 1):.0%}): ")
    assert verdict in text


def test_balanced_accuracy_weighs_each_class_equally() -> None:
    labels = np.array([0] * 8 + [1] * 2)
    probabilities = np.tile([[0.9, 0.1]], (10, 1))  # always class 0
    scores = classification_metrics(labels, probabilities, [0, 1])
    assert scores["accuracy"] == 0.8 and scores["balanced_accuracy"] == 0.5


@pytest.mark.parametrize(("p_value", "mae", "words"), [
    (0.001, 0.2, "; the model is better (paired test, p = 0.001)"),
    (0.001, 0.6, "; the model is worse (paired test, p = 0.001): it has not learnt"),
    (0.3, 0.2, "; the model is not told apart from it on 40 galaxies"),
    (None, 0.5, "; the model is not told apart from it on 40 galaxies"),
])
def test_a_regressor_is_judged_against_the_median_by_a_paired_test(
    p_value: float | None, mae: float, words: str
) -> None:
    result = {"task": "regression", "label_column": "size", "n_test": 40, "mae": mae,
              "rmse": mae, "pearson_r": None, "train_median": 2.0, "median_mae": 0.5,
              "median_p_value": p_value}
    console = Console(file=io.StringIO(), width=300)
    print_label_evaluation(result, console)
    shown = console.file.getvalue()
    assert "would score a mean absolute error of 0.5" + words in shown


def test_paired_p_value_tells_a_real_difference_from_noise() -> None:
    rng = np.random.default_rng(0)
    errors = rng.exponential(1.0, 200)
    assert paired_p_value(errors, errors + 0.5) < 1e-6
    assert paired_p_value(errors, errors[::-1]) > 0.05  # same errors, another order
    assert paired_p_value(errors, errors) is None
