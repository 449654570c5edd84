"""Step 1 of ``galmorph demo``: predict every galaxy's vote fractions and evaluate them.

:func:`predict_step` writes ``predictions.parquet``, shows the galaxies the model is
most sure about for the first questions and, when the catalog has volunteer
votes, compares the predictions with them per question (``evaluation.json``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from galmorph.report.html import (
    Section,
    figure_html,
    note_html,
    number_text,
    paragraph_html,
    percent_text,
    table_html,
)

if TYPE_CHECKING:
    from galmorph.report.demo import DemoRunner


def predict_step(run: DemoRunner, catalog: pd.DataFrame, loaded: Any) -> pd.DataFrame:
    """Predict every galaxy, show the most confident ones and evaluate; returns the predictions."""
    from galmorph.files import write_json
    from galmorph.inference.outputs import write_table
    from galmorph.inference.predict import predict_catalog
    from galmorph.models.metrics import evaluate_votes
    from galmorph.report.answer_grid import answer_grid

    s = run.settings
    predictions = predict_catalog(
        catalog, loaded, device=s.device, progress=s.progress, num_workers=s.num_workers,
        backend=s.backend,
    )
    path = write_table(predictions, run.out / "predictions.parquet", predictions.attrs["galmorph"])
    run.say(f"wrote {path} ({len(predictions)} galaxies x {predictions.shape[1] - 1} columns)")
    section = Section(
        "predictions", "1. Morphology of every galaxy",
        "The model looked at each image and predicted what fraction of Galaxy Zoo volunteers "
        "would give each answer to each question of the decision tree (smooth or featured? "
        "edge-on? spiral arms? ...). Below, the galaxies with the highest predicted fractions "
        "for the first questions' answers, and how well it agrees with the real volunteers.",
    )
    schema = loaded.learnt_schema  # the questions the model had training votes for
    if loaded.task != "votes" or schema is None:
        section.blocks.append(note_html(
            f"{loaded.name} is a {loaded.task} model, not a Galaxy Zoo vote-count model: "
            "no vote fractions to show."))
        run.sections.append(section)
        return predictions

    # galaxy grid: most confident galaxies for the answers of the first questions
    shown = [a for a in schema.questions[0].answers]
    edge_on = next((q for q in schema.questions if "edge" in q.name), None)
    if edge_on is not None:
        shown.append(edge_on.answers[0])

    def volunteers(row: int, column: str) -> str:
        """The volunteers' fraction for the answer of ``column``, when the catalog has it."""
        answer = next(a for a in shown if column == f"{a.full_name}_fraction")
        question = schema.question(answer.question)
        if not all(c in catalog for c in question.columns):
            return ""
        votes = catalog.loc[row, question.columns].to_numpy(dtype=float)
        share = votes[question.answers.index(answer)] / votes.sum() if votes.sum() > 0 else None
        return "" if share is None else f"\nvolunteers: {share:.2f}"

    grid = run.save(answer_grid(
        predictions, list(catalog["file_loc"]),
        [(f"{a.full_name}_fraction", a.label) for a in shown], notes=volunteers,
        title="Galaxies with the highest predicted share of volunteers giving each answer"),
        "predictions_grid.png")
    section.blocks.append(figure_html(
        grid, "grid of galaxies with their predicted vote fractions",
        "Each row: the galaxies with the highest predicted fraction for one answer; under each, "
        "its id, the predicted fraction and (when known) the volunteers' actual fraction. A "
        "row can top out low when few galaxies of the catalog deserve that answer (stars or "
        "artefacts, for instance)."))

    # evaluation against the volunteers
    present = [c for c in schema.label_cols if c in catalog]
    if not present:
        run.skip("evaluate", "the catalog has no Galaxy Zoo vote columns: nothing to compare with")
        section.blocks.append(note_html(
            "Evaluation skipped: the catalog has no Galaxy Zoo vote-count columns."))
        run.sections.append(section)
        return predictions
    counts = np.zeros((len(catalog), schema.n_answers))
    for answer in schema.answers:
        if answer.column in catalog:
            counts[:, answer.index] = pd.to_numeric(
                catalog[answer.column], errors="coerce").fillna(0).to_numpy()
    alpha = np.stack([predictions[f"{a.full_name}_concentration"].to_numpy(dtype=np.float64)
                      for a in schema.answers], axis=1)
    baseline = loaded.metadata.get("vote_baseline")
    result = evaluate_votes(
        counts, alpha, schema,
        baseline=np.asarray(baseline)[loaded.learnt_answers] if baseline is not None else None)
    write_json(result, run.out / "evaluation.json")
    run.result.metrics["evaluation"] = {"mean_nll": result["mean_nll"],
                                        "baseline_mean_nll": result.get("baseline_mean_nll")}
    rows = []
    unanswered = []
    for question in schema.questions:
        m = result["questions"][question.name]
        if not m["n_answered"]:
            unanswered.append(question.name)
            continue
        accuracy = percent_text(m["accuracy_confident"])
        if accuracy != "–":
            low, high = m["accuracy_ci95"]
            accuracy += f" ({percent_text(low)}–{percent_text(high)})"
        rows.append([
            f"{question.name}" + (f": {question.text}" if question.text else ""),
            number_text(m["nll"]), number_text(m.get("baseline_nll")), number_text(m["mae"]),
            m["n_confident"], accuracy, percent_text(m["majority_accuracy"]),
        ])
    section.blocks.append(paragraph_html(
        "How to read the table: NLL (negative log-likelihood) measures how likely the "
        "volunteers' actual votes are under the model (lower is better) and 'No-image NLL' is "
        "the same for a guess that ignores the image, so the model is useful where its NLL is "
        "clearly lower. 'Vote-fraction error' is the mean absolute difference between "
        "predicted and actual vote fractions (0.05: 5 percentage points). 'Accuracy' is on "
        "'confident' galaxies, where most volunteers answered the question and at least 80% "
        "of them agree; compare it with always giving the most common answer ('Majority')."))
    section.blocks.append(table_html(
        ["Question", "NLL", "No-image NLL", "Vote-fraction error", "Confident galaxies",
         "Accuracy % (95% CI)", "Majority %"],
        rows,
    ))
    total = f"Summed NLL per galaxy: {result['mean_nll']:.2f} nats"
    if "baseline_mean_nll" in result:
        total += f" (no-image guess: {result['baseline_mean_nll']:.2f}; lower is better)"
    section.blocks.append(paragraph_html(total + f"; {result['n_galaxies']} galaxies."))
    if unanswered:
        section.blocks.append(note_html(
            f"Not in the table: {', '.join(unanswered)}, which no galaxy of the catalog has "
            "votes for (the model still predicts them)."))
    unlearnt = _unlearnt_questions(catalog, schema)
    if unlearnt:
        section.blocks.append(note_html(
            f"Not in the table: {', '.join(unlearnt)}, which the catalog has votes for "
            f"but {loaded.name} was not trained to answer (it predicts no vote fractions for "
            "them)."))
    _draw_misses(run, section, catalog, counts, alpha, schema)
    run.say(f"agreement with the volunteers' votes: summed NLL per galaxy "
            f"{result['mean_nll']:.2f} nats"
            + (f" (no-image guess {result['baseline_mean_nll']:.2f})"
               if "baseline_mean_nll" in result else "") + "; lower is better")
    run.sections.append(section)
    return predictions


def _unlearnt_questions(catalog: pd.DataFrame, schema: Any) -> list[str]:
    """Questions with vote-count columns (``<question>_aNN_<answer>_count``) in the catalog
    that the model's schema does not have, in catalog order."""
    learnt = set(schema.label_cols)
    names = (re.match(r"(.+?)_a\d+_.+_count$", str(c)) for c in catalog.columns
             if str(c) not in learnt)
    return list(dict.fromkeys(m.group(1) for m in names if m))


#: Confident misses the report draws.
MISSES_SHOWN = 12


def _draw_misses(run: DemoRunner, section: Section, catalog: pd.DataFrame, counts: np.ndarray,
                 alpha: np.ndarray, schema: Any) -> None:
    """Add the galaxies where confident volunteers and the model disagree most."""
    from galmorph.inference.worst import worst_vote_galaxies
    from galmorph.report.worst_grid import worst_grid

    worst = worst_vote_galaxies(catalog, counts, alpha, schema, n=MISSES_SHOWN)
    if not worst:
        section.blocks.append(note_html(
            "On every question the volunteers answered confidently, the model gives their "
            "answer: no disagreement to show."))
        return
    grid = run.save(worst_grid(worst, "votes", ncols=4, panel_size=2.4), "misses_grid.png")
    section.blocks.append(figure_html(
        grid, "grid of galaxies where the model and confident volunteers disagree",
        "Where the model and the volunteers disagree most: galaxies whose volunteers agreed "
        "(80% or more) on an answer the model did not expect, each under the question it "
        "missed most, with the volunteers' share of votes for their answer and the share the "
        "model expected for its own. Some are the model's mistakes, some the volunteers' "
        "(a foreground star, a companion): galmorph evaluate --grid draws them for any "
        "catalog with votes."))
