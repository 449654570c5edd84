"""``galmorph demo``: every part of galmorph, once, on the bundled galaxies, in one report.

:func:`run_demo` runs five steps on a catalog (by default the 630 bundled SDSS
galaxies with Galaxy Zoo 2 votes, :func:`galmorph.data.bundled.demo_catalog`) with a
model (by default the shipped ``gz2-starter``):

1. **predict** every galaxy's Galaxy Zoo vote fractions (``predictions.parquet``)
   and, when the catalog has volunteer votes, **evaluate** them per question;
2. **embed** every galaxy (``embeddings.parquet``, PCA-reduced) and run a
   **similarity search** from one clear galaxy (a ring when the catalog has a
   ``ring`` column, else the most confidently spiral one), chosen deterministically;
3. a **simulated anomaly hunt**: a researcher whose interest in a galaxy is
   ``round(5 × f_odd)`` (``f_odd`` = the fraction of volunteers who answered "yes"
   to GZ2's "is there anything odd?", t06) labels ~50 galaxies that active
   learning proposes; the report shows the resulting ranking and its precision;
4. **fine-tune** a ring classifier from a few dozen class-balanced labelled
   galaxies (the ``ring`` column), testing it on all the others;
5. write ``report.html`` (self-contained: :mod:`galmorph.report.html`).

Steps whose columns are missing from the catalog (votes, ``ring``) are skipped
with a note in the report. Every output goes to one folder.

Example
-------
>>> from galmorph.report.demo import DemoSettings, run_demo
>>> result = run_demo(DemoSettings(out="demo-output"))  # doctest: +SKIP
>>> result.report
PosixPath('demo-output/report.html')
"""

from __future__ import annotations

import math
import shutil
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from rich.console import Console

from galmorph import __version__
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.report.html import (
    Section,
    facts_html,
    figure_html,
    note_html,
    paragraph_html,
    table_html,
    write_report,
)

#: Vote columns of GZ2's "is there anything odd?" question (the simulated researcher).
ODD_YES = "t06_odd_a14_yes_count"
ODD_NO = "t06_odd_a15_no_count"
#: Column of the fine-tuning labels.
RING_COLUMN = "ring"
#: Vote column used to choose the clearest ring as the similarity query.
RING_VOTES = "t08_odd_feature_a19_ring_count"


@dataclass
class DemoSettings:
    """What the demo runs on and how long it trains.

    Attributes:
        out: output folder (created).
        data: catalog file (None: the bundled demo catalog).
        model: model for prediction, embedding and as the fine-tuning start.
        device: ``auto``, ``cpu``, ``cuda``...
        pca: principal components kept in the embeddings.
        k: neighbours shown by the similarity search.
        anomaly_labels: galaxies the simulated researcher labels.
        anomaly_batch: galaxies proposed per round.
        ring_labels: labelled galaxies *per class* for fine-tuning.
        epochs: fine-tuning epochs.
        n_blocks: encoder blocks fine-tuned (0: only a new head on the frozen encoder).
        learning_rate: fine-tuning learning rate of the head.
        batch_size: fine-tuning batch size.
        num_workers: image-loading processes (0: in this process).
        seed: seed of every random choice.
        progress: show progress bars.
    """

    out: str | Path = "demo-output"
    data: str | Path | None = None
    model: str | Path | None = None
    device: str = "auto"
    pca: int = 40
    k: int = 11
    anomaly_labels: int = 50
    anomaly_batch: int = 10
    ring_labels: int = 20
    epochs: int = 8
    n_blocks: int = 0
    learning_rate: float = 3e-3
    batch_size: int = 8
    num_workers: int | None = 0
    seed: int = 0
    progress: bool = False


@dataclass
class DemoResult:
    """What the demo wrote and how long each step took (seconds)."""

    out: Path
    report: Path
    timings: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


class _Runner:
    """Runs the steps, printing each with its time, and collects the report sections."""

    def __init__(self, settings: DemoSettings, console: Console) -> None:
        self.settings = settings
        self.console = console
        self.out = Path(settings.out)
        self.figures = self.out / "figures"
        self.sections: list[Section] = []
        self.result = DemoResult(self.out, self.out / "report.html")
        self.n_steps = 5
        self.step_number = 0

    @contextmanager
    def step(self, key: str, title: str) -> Iterator[None]:
        self.step_number += 1
        self.console.print(f"[bold cyan][{self.step_number}/{self.n_steps}][/] {title}")
        start, cpu = time.perf_counter(), time.process_time()
        yield
        seconds = time.perf_counter() - start
        self.result.timings[key] = seconds
        self.result.cpu_seconds[key] = time.process_time() - cpu
        self.console.print(f"      [green]done[/] in {seconds:.1f} s")

    def skip(self, key: str, reason: str) -> None:
        self.result.skipped[key] = reason
        self.console.print(f"      [yellow]skipped:[/] {reason}", highlight=False)

    def say(self, text: str) -> None:
        self.console.print(f"      {text}", highlight=False)

    def save(self, figure: Figure, name: str) -> Figure:
        """Also keep every figure as a PNG next to the report."""
        self.figures.mkdir(parents=True, exist_ok=True)
        figure.savefig(self.figures / name, dpi=90)
        return figure


# ------------------------------------------------------------------ helpers
def _pick_query(catalog: pd.DataFrame, predictions: pd.DataFrame) -> tuple[int, str]:
    """Row of a clear galaxy to search from, and why it was chosen (deterministic)."""
    if RING_COLUMN in catalog and pd.to_numeric(catalog[RING_COLUMN], errors="coerce").eq(1).any():
        rings = catalog.index[pd.to_numeric(catalog[RING_COLUMN], errors="coerce").eq(1)]
        if RING_VOTES in catalog:
            votes = catalog.loc[rings, RING_VOTES].astype(float)
            row = int(votes.sort_values(ascending=False, kind="stable").index[0])
            return row, (f"the galaxy labelled as a ring with the most volunteer 'ring' votes "
                         f"({int(catalog.loc[row, RING_VOTES])})")
        return int(rings[0]), "the first galaxy labelled as a ring"
    spiral = [c for c in predictions.columns if c.endswith("_spiral_fraction")]
    if spiral:
        row = int(predictions[spiral[0]].to_numpy().argmax())
        return row, "the galaxy the model finds most confidently spiral"
    return 0, "the first galaxy of the catalog"


def _vote_fraction(catalog: pd.DataFrame, yes: str, no: str) -> np.ndarray:
    yes_votes = pd.to_numeric(catalog[yes], errors="coerce").to_numpy(dtype=float)
    no_votes = pd.to_numeric(catalog[no], errors="coerce").to_numpy(dtype=float)
    total = yes_votes + no_votes
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, yes_votes / total, np.nan)


def _percent(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * value:.1f}"


def _number(value: Any, fmt: str = ".3f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, fmt)


# -------------------------------------------------------------------- steps
def _predict_step(run: _Runner, catalog: pd.DataFrame, loaded: Any) -> pd.DataFrame:
    from galmorph.inference.outputs import write_table
    from galmorph.inference.predict import predict_catalog
    from galmorph.models.metrics import evaluate_votes, write_json
    from galmorph.report.plots import galaxy_grid

    s = run.settings
    predictions = predict_catalog(
        catalog, loaded, device=s.device, progress=s.progress, num_workers=s.num_workers,
    )
    path = write_table(predictions, run.out / "predictions.parquet", predictions.attrs["galmorph"])
    run.say(f"wrote {path} ({len(predictions)} galaxies x {predictions.shape[1] - 1} columns)")
    section = Section(
        "predictions", "1. Morphology of every galaxy",
        "The model looked at each image and predicted what fraction of Galaxy Zoo volunteers "
        "would give each answer to each question of the decision tree (smooth or featured? "
        "edge-on? spiral arms? ...). Below, the galaxies it is most sure about for the first "
        "questions, and how well it agrees with the real volunteers.",
    )
    schema = loaded.schema
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
    per_answer = 6
    images, captions = [], []
    has_votes = all(c in catalog for c in schema.questions[0].columns)
    for answer in shown:
        column = f"{answer.full_name}_fraction"
        top = predictions[column].to_numpy().argsort(kind="stable")[::-1][:per_answer]
        question = schema.question(answer.question)
        for row in top:
            images.append(catalog["file_loc"].iloc[row])
            text = f"{answer.name.split('_', 1)[-1]}: {predictions[column].iloc[row]:.2f}"
            if has_votes and all(c in catalog for c in question.columns):
                votes = catalog.loc[row, question.columns].to_numpy(dtype=float)
                if votes.sum() > 0:
                    share = votes[question.answers.index(answer)] / votes.sum()
                    text += f"\nvolunteers: {share:.2f}"
            captions.append(text)
    grid = run.save(galaxy_grid(images, captions, ncols=per_answer, panel_size=1.7,
                                title="Most confident galaxies per answer (predicted fraction)"),
                    "predictions_grid.png")
    section.blocks.append(figure_html(
        grid, "grid of galaxies with their predicted vote fractions",
        "Each row: the galaxies with the highest predicted fraction for one answer; under each, "
        "the predicted fraction and (when known) the volunteers' actual fraction."))

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
    result = evaluate_votes(counts, alpha, schema,
                            baseline=np.asarray(baseline) if baseline is not None else None)
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
        accuracy = _percent(m["accuracy_confident"])
        if accuracy != "–":
            low, high = m["accuracy_ci95"]
            accuracy += f" ({_percent(low)}–{_percent(high)})"
        rows.append([
            f"{question.name}" + (f": {question.text}" if question.text else ""),
            _number(m["nll"]), _number(m.get("baseline_nll")), _number(m["mae"]),
            m["n_confident"], accuracy, _percent(m["majority_accuracy"]),
        ])
    section.blocks.append(paragraph_html(
        "How to read the table: NLL measures how likely the volunteers' actual votes are "
        "under the model (lower is better) and 'No-image NLL' is the same for a guess that "
        "ignores the image, so the model is useful where its NLL is clearly lower. 'Vote-fraction "
        "error' is the mean difference between predicted and actual vote fractions. 'Accuracy' "
        "is on 'confident' galaxies, where most volunteers answered the question and at least "
        "80% of them agree; compare it with always giving the most common answer ('Majority')."))
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
    run.say(f"summed NLL per galaxy {result['mean_nll']:.2f} nats"
            + (f" (no-image guess {result['baseline_mean_nll']:.2f})"
               if "baseline_mean_nll" in result else ""))
    run.sections.append(section)
    return predictions


def _similarity_step(
    run: _Runner, catalog: pd.DataFrame, predictions: pd.DataFrame, loaded: Any
) -> Any:
    from galmorph.inference.embed import embed_to_file, read_embeddings
    from galmorph.report.plots import galaxy_grid
    from galmorph.search.search import SimilaritySearch

    s = run.settings
    pca = min(s.pca, len(catalog) - 1)
    path = embed_to_file(catalog, run.out / "embeddings.parquet", loaded, pca=pca,
                         device=s.device, progress=s.progress, num_workers=s.num_workers)
    embeddings = read_embeddings(path)
    kept = float(embeddings.info.pca.explained_variance_ratio.sum()) if embeddings.info.pca else 1
    run.say(f"wrote {path} ({len(embeddings)} galaxies x {embeddings.features.shape[1]} PCA "
            f"components, {kept:.1%} of the variance)")
    row, why = _pick_query(catalog, predictions)
    search = SimilaritySearch(embeddings, "cosine")
    k = min(s.k, len(embeddings) - 1)
    result = search.by_row(row, k)
    neighbours = result.neighbours
    query_id = str(embeddings.ids[row])
    is_ring = None
    if RING_COLUMN in catalog:
        ring = pd.Series(pd.to_numeric(catalog[RING_COLUMN], errors="coerce").to_numpy(),
                         index=catalog["id_str"].astype(str))
        is_ring = ring.reindex(neighbours["id_str"].astype(str)).to_numpy()
    captions = [f"query\n{query_id}"]
    for i, r in enumerate(neighbours.itertuples()):
        text = f"{r.rank}. {r.id_str}\ndistance {r.distance:.3f}"
        if is_ring is not None and is_ring[i] == 1:
            text += " ring"
        captions.append(text)
    grid = run.save(
        galaxy_grid([embeddings.file_loc[row], *neighbours["file_loc"]], captions,
                    highlight=[0], panel_size=1.9, title=f"{k} most similar galaxies"),
        "similar_grid.png")
    run.say(f"query {query_id} ({why}); nearest: {', '.join(neighbours['id_str'][:3])}, ...")
    section = Section(
        "similarity", "2. Find similar galaxies",
        "Each galaxy is summarised by the model as a list of numbers (its 'representation'); "
        "galaxies whose numbers are close look alike to the model. Starting from one galaxy "
        "(framed in red), these are the galaxies of the catalog closest to it.",
    )
    section.blocks.append(figure_html(
        grid, "query galaxy and its nearest neighbours",
        f"Query: {query_id}, {why}. Distances are cosine distances between representations "
        "(0 = identical direction); the search needs no labels at all."))
    if is_ring is not None and catalog.loc[row, RING_COLUMN] == 1:
        base = float(pd.to_numeric(catalog[RING_COLUMN], errors="coerce").eq(1).mean())
        found = float(np.nanmean(is_ring == 1))
        run.result.metrics["similarity"] = {"ring_fraction_neighbours": found,
                                            "ring_fraction_catalog": base}
        verdict = ("the representation groups rings together although the model was never "
                   "told what a ring is" if found >= 2 * base else
                   "rings are a subtle feature the model was never trained on, so its neighbours "
                   "share the query's overall look (size, brightness profile, colour) more than "
                   "its ring; fine-tuning (section 4) teaches the model rings explicitly")
        section.blocks.append(paragraph_html(
            f"{found:.0%} of these {k} neighbours are labelled rings, against {base:.0%} of the "
            f"whole catalog: {verdict}."))
        run.say(f"{found:.0%} of the neighbours are rings (catalog: {base:.0%})")
    section.blocks.append(paragraph_html(
        f"Files: embeddings.parquet ({len(embeddings)} galaxies, {embeddings.features.shape[1]} "
        f"numbers each, keeping {kept:.1%} of the variance). The same search from the command "
        f"line: galmorph similar {path.name} --id {query_id} -k {k} --grid similar.png"))
    run.sections.append(section)
    return embeddings


def _anomaly_step(
    run: _Runner, catalog: pd.DataFrame, predictions: pd.DataFrame, embeddings: Any
) -> None:
    from galmorph import anomaly
    from galmorph.report.plots import galaxy_grid

    s = run.settings
    section = Section(
        "anomalies", "3. Hunt for anomalies (simulated researcher)",
        "You score a few galaxies from 0 (boring) to 5 (fascinating); galmorph learns your "
        "taste and proposes which galaxies to look at next, then ranks all of them. Here a "
        "simulated researcher answers for you: its score for a galaxy is 5 times the fraction "
        "of Galaxy Zoo volunteers who said it looks 'odd', rounded.",
    )
    if ODD_YES not in catalog or ODD_NO not in catalog:
        reason = f"the catalog has no {ODD_YES}/{ODD_NO} vote columns to simulate the researcher"
        run.skip("anomaly", reason)
        section.blocks.append(note_html(f"Skipped: {reason}."))
        run.sections.append(section)
        return
    truth = pd.DataFrame({"id_str": catalog["id_str"].astype(str),
                          "odd_fraction": _vote_fraction(catalog, ODD_YES, ODD_NO)})
    flags = None
    with suppress(GalmorphError):  # a model without an artefact answer flags nothing
        flags, _, _ = anomaly.artefact_flags(predictions, embeddings.ids)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GalmorphWarning)
        setup = anomaly.benchmark_setup(embeddings, truth, "odd_fraction", pca=s.pca,
                                        seed=s.seed, artefacts=flags)
    x, scores, candidates = setup.x, setup.scores, setup.candidates
    n_labels = min(s.anomaly_labels, int(candidates.sum()) - 1)
    labelled = np.zeros(len(x), dtype=bool)
    rows: list[int] = []
    while len(rows) < n_labels:
        chosen, _, how = anomaly.propose(
            "active", x, np.asarray(rows, dtype=np.int64), scores[rows],
            candidates=candidates & ~labelled,
            batch_size=min(s.anomaly_batch, n_labels - len(rows)), seed=s.seed,
        )
        rows.extend(int(r) for r in chosen)
        labelled[chosen] = True
    step = anomaly.predict_interest("active", x, np.asarray(rows, dtype=np.int64), scores[rows],
                                    seed=s.seed)
    values = step.predicted.copy()
    values[labelled] = scores[labelled]
    pool = np.flatnonzero(candidates)
    order = pool[anomaly.rank_order(values[pool], labelled[pool])]
    cutoffs = [n for n in (10, 25, 50) if n <= len(order)]
    metrics = anomaly.ranking_metrics(order, setup.interesting, labelled, cutoffs)
    forest = anomaly.scale_scores(anomaly.isolation_forest_scores(x, seed=s.seed))
    forest_order = pool[anomaly.rank_order(forest[pool], np.zeros(len(pool), dtype=bool))]
    forest_metrics = anomaly.ranking_metrics(forest_order, setup.interesting,
                                             np.zeros(len(x), dtype=bool), cutoffs)
    base_rate = float(setup.interesting[candidates].mean())
    n_interesting = int(setup.interesting[candidates].sum())
    found = int((setup.interesting & labelled).sum())

    ranking = pd.DataFrame({
        "rank": np.arange(1, len(order) + 1), "id_str": setup.ids[order],
        "score": values[order], "labelled": labelled[order],
        "interesting": setup.interesting[order],
    })
    from galmorph.inference.outputs import write_table

    write_table(ranking, run.out / "anomaly_ranking.csv")
    run.result.metrics["anomaly"] = {
        "labels": len(rows), "interesting_found": found, "n_interesting": n_interesting,
        "base_rate": base_rate, **{k: v for k, v in metrics.items() if k.startswith("precision")},
    }
    unlabelled = order[~labelled[order]]
    top = unlabelled[:12]
    captions = [f"#{rank} predicted {values[r]:.1f}\ntrue score: {scores[r]:.0f}"
                for rank, r in enumerate(top, 1)]
    interesting_panels = [i for i, r in enumerate(top) if setup.interesting[r]]
    grid = run.save(
        galaxy_grid(list(embeddings.file_loc[[embeddings.row_of(i) for i in setup.ids[top]]]),
                    captions, highlight=interesting_panels, panel_size=1.8,
                    title=f"What to look at next: top unseen galaxies after {len(rows)} labels"),
        "anomaly_grid.png")
    section.blocks.append(figure_html(
        grid, "the unseen galaxies the learned taste ranks highest",
        "The 12 galaxies not yet labelled that the model predicts this researcher would score "
        "highest (0-5), with the score the researcher would really give. Red frames: truly "
        "interesting galaxies (score 4 or 5). The full ranking is in anomaly_ranking.csv."))
    table_rows = []
    for n in cutoffs:
        table_rows.append([f"top {n}", _percent(metrics[f"precision_at_{n}"]),
                           _percent(metrics[f"precision_at_{n}_unlabelled"]),
                           _percent(forest_metrics[f"precision_at_{n}"]), _percent(base_rate)])
    section.blocks.append(paragraph_html(
        f"{len(rows)} galaxies labelled in rounds of {s.anomaly_batch}; {found} of the "
        f"{n_interesting} interesting galaxies (score 4 or 5, {base_rate:.1%} of the "
        f"{int(candidates.sum())} candidates) were among them. Precision: the percentage of "
        "interesting galaxies near the top of each ranking."))
    section.blocks.append(table_html(
        ["Ranking", "Your session %", "…not yet labelled %", "Generic outlier finder %",
         "Random %"], table_rows))
    last = cutoffs[-1]
    comparison = (
        "Here your session beats it" if metrics[f"precision_at_{last}"]
        > forest_metrics[f"precision_at_{last}"] + 0.02 else
        "Here it does about as well as your session: 'odd' galaxies are, by definition, "
        f"unusual ones, and {len(rows)} labels are few. The session's advantage is for tastes "
        "that are not simply 'unusual' (only rings, only blue ellipticals...) and it grows "
        "with every label")
    section.blocks.append(paragraph_html(
        "'…not yet labelled' counts only galaxies you have not seen yet: the discoveries still "
        "waiting. The generic outlier finder (an isolation forest) knows nothing of your taste: "
        f"it ranks what is unusual to it, often image artefacts. {comparison}."))
    if flags is not None and flags.any():
        section.blocks.append(paragraph_html(
            f"{int(flags.sum())} galaxies the model predicts to be stars or artefacts were "
            "left out of the proposals and the ranking."))
    run.say(f"{len(rows)} labels; {found}/{n_interesting} interesting galaxies found; "
            + ", ".join(f"precision@{n} {metrics[f'precision_at_{n}']:.0%}" for n in cutoffs)
            + f" (random {base_rate:.0%})")
    run.sections.append(section)


def _finetune_step(
    run: _Runner, catalog: pd.DataFrame, embeddings: Any, loaded: Any
) -> None:
    from galmorph.inference.predict import predict_catalog
    from galmorph.report.plots import galaxy_grid
    from galmorph.training.finetune import classification_metrics, finetune, probe

    s = run.settings
    section = Section(
        "finetune", "4. Teach the model a new class: rings",
        "The model was never trained to recognise rings. Here it learns from a few dozen "
        "galaxies labelled ring / not ring (half of each, so it cannot win by always answering "
        "'not ring'), and is then tested on all the other galaxies, whose labels it never saw.",
    )
    if RING_COLUMN not in catalog:
        reason = f"the catalog has no {RING_COLUMN!r} column of labels"
        run.skip("finetune", reason)
        section.blocks.append(note_html(f"Skipped: {reason}."))
        run.sections.append(section)
        return
    labels = pd.to_numeric(catalog[RING_COLUMN], errors="coerce")
    known = catalog[labels.isin([0, 1])].assign(**{RING_COLUMN: labels.astype("Int64")})
    rings = known[known[RING_COLUMN] == 1].sort_values("id_str")
    others = known[known[RING_COLUMN] == 0].sort_values("id_str")
    per_class = min(s.ring_labels, len(rings) // 2, len(others) // 2)
    if per_class < 4:
        reason = (f"too few labelled rings ({len(rings)}) and non-rings ({len(others)}) for "
                  "a class-balanced training set of at least 4 of each with galaxies left to test")
        run.skip("finetune", reason)
        section.blocks.append(note_html(f"Skipped: {reason}."))
        run.sections.append(section)
        return
    rng = np.random.default_rng(s.seed)
    train_ids = set(rings["id_str"].to_numpy()[rng.permutation(len(rings))[:per_class]])
    train_ids |= set(others["id_str"].to_numpy()[rng.permutation(len(others))[:per_class]])
    is_train = known["id_str"].isin(train_ids).to_numpy()
    train = known[is_train].reset_index(drop=True)
    test = known[~is_train].reset_index(drop=True)
    train[RING_COLUMN] = train[RING_COLUMN].astype(int)
    folder = run.out / "ring-classifier"
    if (folder / "model.pt").is_file():  # an earlier demo's classifier: start afresh
        shutil.rmtree(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's advice about small datasets and workers
        result = finetune(
            train, folder, label=RING_COLUMN, model=loaded, n_blocks=s.n_blocks,
            epochs=s.epochs, batch_size=s.batch_size, learning_rate=s.learning_rate,
            val_fraction=0.25, seed=s.seed, split_seed=s.seed, num_workers=s.num_workers,
            accelerator="cpu" if s.device == "cpu" else "auto", progress=s.progress,
            name="demo-ring-classifier",
        )
    history = _history(folder)
    test_pred = predict_catalog(test, result.model_path, device=s.device, progress=s.progress,
                                num_workers=s.num_workers)
    classes = result.metadata["classes"]
    probabilities = test_pred[[f"prob_{c}" for c in classes]].to_numpy(dtype=np.float64)
    truth = test[RING_COLUMN].astype(int).to_numpy()
    metrics = classification_metrics(truth, probabilities, classes)
    predicted = np.asarray(classes)[probabilities.argmax(1)]
    balanced = float(np.mean([(predicted[truth == c] == c).mean() for c in classes
                              if (truth == c).any()]))
    # baseline: logistic regression on the embeddings of the same galaxies
    rows_train = [embeddings.row_of(i) for i in train["id_str"]]
    rows_test = [embeddings.row_of(i) for i in test["id_str"]]
    baseline = probe(embeddings.features[rows_train], train[RING_COLUMN].to_numpy(),
                     embeddings.features[rows_test], truth)
    base_pred = np.asarray(baseline["classes"])[baseline["probabilities"].argmax(1)]
    base_balanced = float(np.mean([(base_pred[truth == c] == c).mean() for c in classes
                                   if (truth == c).any()]))
    run.result.metrics["finetune"] = {
        "n_train": len(train), "n_test": len(test), "accuracy": metrics["accuracy"],
        "balanced_accuracy": balanced, "roc_auc": metrics["roc_auc"],
        "probe_balanced_accuracy": base_balanced, "probe_roc_auc": baseline["roc_auc"],
        "epochs": result.epochs_completed,
    }
    test_pred.assign(ring=truth).to_csv(run.out / "ring_test_predictions.csv", index=False)

    curve = run.save(_curve_figure(history), "finetune_curve.png")
    section.blocks.append(figure_html(
        curve, "training and validation curves of the ring classifier",
        "Left: the loss (how wrong the model is; lower is better) on the training galaxies and "
        "on a few held-out validation galaxies, after each pass over the data (epoch). Right: "
        "the fraction of validation galaxies classified correctly."))
    n_blocks = result.metadata["training"]["n_blocks"]
    blocks = result.metadata["training"]["encoder_blocks"]
    section.blocks.append(facts_html([
        ("Training galaxies", f"{len(train)} ({per_class} rings + {per_class} non-rings; a "
                              f"quarter of them held out for validation)"),
        ("Model", f"{loaded.name} with a new ring/not-ring output; "
                  + (f"its encoder frozen (none of its {blocks} blocks trained): only the new "
                     "output learns" if n_blocks == 0 else
                     f"the top {n_blocks} of its {blocks} encoder blocks trained, the rest "
                     "frozen")),
        ("Epochs", f"{result.epochs_completed} in {result.seconds:.0f} s"),
        ("Test galaxies", f"{len(test)} ({int(truth.sum())} rings) never seen in training"),
        ("Test accuracy", f"{metrics['accuracy']:.1%} (balanced over the two classes: "
                          f"{balanced:.1%})"),
        ("Test ROC AUC", _number(metrics["roc_auc"], ".3f")
         + " (1 = every ring ranked above every non-ring; 0.5 = guessing)"),
        ("Simple baseline", f"a linear classifier on the embeddings: balanced accuracy "
                            f"{base_balanced:.1%}, ROC AUC {_number(baseline['roc_auc'], '.3f')}"),
    ]))
    ring_column = f"prob_{classes[-1]}"
    top = test_pred[ring_column].to_numpy().argsort(kind="stable")[::-1][:12]
    grid = run.save(galaxy_grid(
        list(test["file_loc"].iloc[top]),
        [f"P(ring) {test_pred[ring_column].iloc[i]:.2f}\n"
         + ("labelled ring" if truth[i] == 1 else "not labelled ring") for i in top],
        highlight=[j for j, i in enumerate(top) if truth[i] == 1], panel_size=1.8,
        title="Test galaxies the classifier finds most ring-like"), "ring_candidates.png")
    section.blocks.append(figure_html(
        grid, "test galaxies with the highest predicted ring probability",
        "Red frames: galaxies the catalog labels as rings. Unframed ones are worth a look: "
        "the labels come from volunteer votes and miss some rings."))
    section.blocks.append(paragraph_html(
        f"Files: ring-classifier/model.pt (use it with galmorph predict CATALOG --model "
        f"{folder.name}/model.pt -o rings.parquet) and ring_test_predictions.csv."))
    run.say(f"{len(train)} labels, {result.epochs_completed} epochs; test on {len(test)}: "
            f"accuracy {metrics['accuracy']:.1%}, balanced {balanced:.1%}, ROC AUC "
            f"{_number(metrics['roc_auc'], '.3f')}")
    run.sections.append(section)


def _history(folder: Path) -> pd.DataFrame:
    """Per-epoch training loss, validation loss and accuracy from the CSV logs."""
    files = sorted(folder.glob("logs/version_*/metrics.csv"))
    if not files:
        return pd.DataFrame(columns=["epoch"])
    logs = pd.read_csv(files[-1])
    columns = [c for c in ("train_loss_epoch", "val_loss", "val_accuracy") if c in logs]
    return logs.groupby("epoch")[columns].mean().reset_index()


def _curve_figure(history: pd.DataFrame) -> Figure:
    figure = Figure(figsize=(9, 3.4), layout="constrained")
    loss, accuracy = figure.subplots(1, 2)
    epochs = history["epoch"] + 1 if "epoch" in history else []
    if "train_loss_epoch" in history:
        loss.plot(epochs, history["train_loss_epoch"], "o-", label="training galaxies")
    if "val_loss" in history:
        loss.plot(epochs, history["val_loss"], "s-", label="validation galaxies")
    loss.set_xlabel("epoch")
    loss.set_ylabel("loss (cross-entropy)")
    loss.legend()
    loss.set_title("Loss")
    if "val_accuracy" in history:
        accuracy.plot(epochs, history["val_accuracy"], "s-", color="C1")
    accuracy.set_ylim(0, 1.02)
    accuracy.set_xlabel("epoch")
    accuracy.set_ylabel("fraction correct")
    accuracy.set_title("Validation accuracy")
    for ax in (loss, accuracy):
        ax.grid(alpha=0.3)
    return figure


# ---------------------------------------------------------------- the demo
def run_demo(settings: DemoSettings | None = None, console: Console | None = None) -> DemoResult:
    """Run every step of the demo and write the report; see the module docs.

    Raises:
        GalmorphError: when the catalog or model cannot be used.
    """
    from galmorph.data.bundled import demo_catalog
    from galmorph.data.catalog import load_catalog
    from galmorph.inference.predict import resolve_device
    from galmorph.models.checkpoint import load_model
    from galmorph.models.defaults import DEFAULT_MODEL

    settings = settings or DemoSettings()
    console = console or Console(highlight=False)
    began, cpu_began = time.perf_counter(), time.process_time()
    run = _Runner(settings, console)
    run.out.mkdir(parents=True, exist_ok=True)
    data = Path(settings.data) if settings.data is not None else demo_catalog()
    model_spec = settings.model or DEFAULT_MODEL
    catalog = load_catalog(data, None)
    if len(catalog) < 3:
        raise GalmorphError(f"the demo needs at least 3 galaxies; {data} has {len(catalog)}")
    loaded = load_model(model_spec, resolve_device(settings.device))
    console.print(f"galmorph demo: {len(catalog)} galaxies from [bold]{data}[/], model "
                  f"[bold]{loaded.name}[/]; output in [bold]{run.out}[/]")

    with run.step("predict", "Predicting the morphology of every galaxy and evaluating it"):
        predictions = _predict_step(run, catalog, loaded)
    with run.step("similarity", "Embedding the galaxies and searching for similar ones"):
        embeddings = _similarity_step(run, catalog, predictions, loaded)
    with run.step("anomaly", "Simulating an anomaly-hunting session"):
        _anomaly_step(run, catalog, predictions, embeddings)
    with run.step("finetune", "Fine-tuning a ring classifier from a few labelled galaxies"):
        _finetune_step(run, catalog, embeddings, loaded)
    with run.step("report", "Writing the report"):
        total = time.perf_counter() - began
        timing_rows = [[key, f"{seconds:.1f}", f"{run.result.cpu_seconds[key]:.1f}"]
                       for key, seconds in run.result.timings.items()]
        timing_rows.append(["total (before writing the report)", f"{total:.1f}",
                            f"{time.process_time() - cpu_began:.1f}"])
        about = Section(
            "about", "About this run",
            "What was run, on which data, and how long each step took on this computer.",
            [facts_html([
                ("Catalog", f"{data} ({len(catalog)} galaxies)"),
                ("Model", f"{loaded.name} (sha256 {loaded.checksum[:12]})"),
                ("galmorph", __version__),
                ("Output folder", str(run.out.resolve())),
            ]), table_html(["step", "wall-clock s", "CPU s (all cores)"], timing_rows)]
            + [note_html(f"Skipped {k}: {v}.") for k, v in run.result.skipped.items()],
        )
        write_report(
            run.result.report,
            "galmorph demo report",
            f"What a deep-learning model trained on Galaxy Zoo votes can do with {len(catalog)} "
            "galaxy images: describe their morphology, find look-alikes, learn what you find "
            "interesting, and learn a new class from a few dozen examples.",
            [*run.sections, about],
            footer=f"Made by galmorph {__version__}. Images: SDSS; votes: Galaxy Zoo 2 "
                   "volunteers (Willett et al. 2013). Method: Walmsley et al. 2022, MNRAS 513, "
                   "1581.",
        )
    run.result.timings["total"] = time.perf_counter() - began
    console.print(f"Report: [bold]{run.result.report.resolve()}[/] "
                  f"(total {run.result.timings['total']:.0f} s)")
    embeddings, predictions = run.out / "embeddings.parquet", run.out / "predictions.parquet"
    if embeddings.is_file():
        extra = f" --predictions {predictions}" if predictions.is_file() else ""
        console.print(f"Explore them in the browser: galmorph serve {embeddings}{extra} "
                      f"--session {run.out / 'hunt.db'}", soft_wrap=True)
    return run.result
