"""Step 3 of ``galmorph demo``: a simulated anomaly hunt.

:func:`anomaly_step` plays a researcher whose interest in a galaxy is
``round(5 × f_odd)`` (``f_odd``: the fraction of volunteers who answered "yes" to
GZ2's "is there anything odd?", t06). The researcher labels the galaxies that
active learning proposes; the step writes the resulting ranking
(``anomaly_ranking.csv``) and compares its precision with a generic outlier
finder and with random picks.
"""

from __future__ import annotations

import warnings
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.report.html import (
    Section,
    figure_html,
    note_html,
    paragraph_html,
    percent_text,
    table_html,
)

if TYPE_CHECKING:
    from galmorph.report.demo import DemoRunner

#: Vote columns of GZ2's "is there anything odd?" question (the simulated researcher).
ODD_YES = "t06_odd_a14_yes_count"
ODD_NO = "t06_odd_a15_no_count"
#: Lengths of the top of the ranking whose precision the report gives.
CUTOFFS = (10, 25, 50)


def _vote_fraction(catalog: pd.DataFrame, yes: str, no: str) -> np.ndarray:
    yes_votes = pd.to_numeric(catalog[yes], errors="coerce").to_numpy(dtype=float)
    no_votes = pd.to_numeric(catalog[no], errors="coerce").to_numpy(dtype=float)
    total = yes_votes + no_votes
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, yes_votes / total, np.nan)


def _comparison(session: dict[str, float], forest: dict[str, float], n: int,
                n_labels: int) -> str:
    """The session against the isolation forest, both on the galaxies not yet labelled: the
    session's own labels at the top of its ranking would flatter it. It beats the forest by
    more than 2 of the percentage points shown."""
    mine, theirs = session[f"precision_at_{n}_unlabelled"], forest[f"precision_at_{n}_unlabelled"]
    verdict = (
        "your session beats it" if round(100 * mine) > round(100 * theirs) + 2 else
        "it does about as well as your session: 'odd' galaxies are, by definition, unusual "
        f"ones, and {n_labels} labels are few. The session's advantage is for tastes that are "
        "not simply 'unusual' (only rings, only blue ellipticals...) and it grows with every "
        "label")
    return (f"Counting only the galaxies not yet labelled, {mine:.0%} of the top {n} of your "
            f"session's ranking are interesting, against {theirs:.0%} of the outlier finder's: "
            f"{verdict}")


def anomaly_step(
    run: DemoRunner, catalog: pd.DataFrame, predictions: pd.DataFrame, embeddings: Any
) -> None:
    """Simulate an anomaly-hunting session and compare its ranking with an isolation forest."""
    from galmorph.anomaly.baselines import artefact_flags, isolation_forest_scores, scale_scores
    from galmorph.anomaly.benchmark import benchmark_setup
    from galmorph.anomaly.methods import predict_interest, propose
    from galmorph.anomaly.ranking import rank_order, ranking_metrics
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
        flags, _, _ = artefact_flags(predictions, embeddings.ids)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GalmorphWarning)
            setup = benchmark_setup(embeddings, truth, "odd_fraction", pca=s.pca,
                                    seed=s.seed, artefacts=flags)
    except GalmorphError:  # no interesting galaxy to find (a small catalog)
        reason = ("no galaxy of the catalog that may be proposed (not a star or artefact) "
                  "is interesting to the simulated researcher (a score of 4 or 5: at least 70% "
                  "of the volunteers who answered called it odd), so there is nothing to hunt for")
        run.skip("anomaly", reason)
        section.blocks.append(note_html(f"Skipped: {reason}."))
        run.sections.append(section)
        return
    x, scores, candidates = setup.x, setup.scores, setup.candidates
    if candidates.sum() < CUTOFFS[0]:
        reason = (f"{int(candidates.sum())} galaxies may be proposed (not stars or artefacts): "
                  f"too few to rank; the hunt needs at least {CUTOFFS[0]}")
        run.skip("anomaly", reason)
        section.blocks.append(note_html(f"Skipped: {reason}."))
        run.sections.append(section)
        return
    n_labels = min(s.anomaly_labels, int(candidates.sum()) - 1)
    labelled = np.zeros(len(x), dtype=bool)
    rows: list[int] = []
    while len(rows) < n_labels:
        chosen, _, how = propose(
            "active", x, np.asarray(rows, dtype=np.int64), scores[rows],
            candidates=candidates & ~labelled,
            batch_size=min(s.anomaly_batch, n_labels - len(rows)), seed=s.seed,
        )
        rows.extend(int(r) for r in chosen)
        labelled[chosen] = True
    step = predict_interest("active", x, np.asarray(rows, dtype=np.int64), scores[rows],
                            seed=s.seed)
    values = step.predicted.copy()
    values[labelled] = scores[labelled]
    pool = np.flatnonzero(candidates)
    order = pool[rank_order(values[pool], labelled[pool])]
    cutoffs = [n for n in CUTOFFS if n <= len(order)]
    metrics = ranking_metrics(order, setup.interesting, labelled, cutoffs)
    forest = scale_scores(isolation_forest_scores(x, seed=s.seed))
    forest_order = pool[rank_order(forest[pool], np.zeros(len(pool), dtype=bool))]
    forest_metrics = ranking_metrics(forest_order, setup.interesting, labelled, cutoffs)
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
    captions = [f"#{rank} {setup.ids[r]}\npredicted {values[r]:.1f} of 5, true {scores[r]:.0f}"
                for rank, r in enumerate(top, 1)]
    interesting_panels = [i for i, r in enumerate(top) if setup.interesting[r]]
    grid = run.save(
        galaxy_grid(list(embeddings.file_loc[[embeddings.row_of(i) for i in setup.ids[top]]]),
                    captions, highlight=interesting_panels, panel_size=1.8,
                    title=f"What to look at next: the unlabelled galaxies ranked highest "
                          f"after {len(rows)} scores (framed: truly interesting)"),
        "anomaly_grid.png")
    section.blocks.append(figure_html(
        grid, "the unseen galaxies the learned taste ranks highest",
        "The 12 galaxies not yet labelled that the model predicts this researcher would score "
        "highest (0-5), with the score the researcher would really give. Red frames: truly "
        "interesting galaxies (score 4 or 5). The full ranking is in anomaly_ranking.csv."))
    table_rows = []
    for n in cutoffs:
        table_rows.append([f"top {n}", percent_text(metrics[f"precision_at_{n}"]),
                           percent_text(metrics[f"precision_at_{n}_unlabelled"]),
                           percent_text(forest_metrics[f"precision_at_{n}"]),
                           percent_text(forest_metrics[f"precision_at_{n}_unlabelled"]),
                           percent_text(base_rate)])
    section.blocks.append(paragraph_html(
        f"{len(rows)} galaxies labelled in rounds of {s.anomaly_batch}; {found} of the "
        f"{n_interesting} interesting galaxies (score 4 or 5, {base_rate:.1%} of the "
        f"{int(candidates.sum())} candidates) were among them. Precision: the percentage of "
        "interesting galaxies near the top of each ranking."))
    section.blocks.append(table_html(
        ["Ranking", "Your session: all %", "Your session: not yet labelled %",
         "Generic outlier finder: all %", "Generic outlier finder: not yet labelled %",
         "Random %"], table_rows))
    comparison = _comparison(metrics, forest_metrics, cutoffs[-1], len(rows))
    section.blocks.append(paragraph_html(
        "'All' counts every galaxy of the ranking, the interesting ones you labelled "
        "included; 'not yet labelled' only the galaxies you have not seen yet: the discoveries "
        "still waiting. The generic outlier finder (an isolation forest) knows nothing of your "
        f"taste: it ranks what is unusual to it, often image artefacts. {comparison}."))
    if flags is not None and flags.any():
        section.blocks.append(paragraph_html(
            f"{int(flags.sum())} galaxies the model predicts to be stars or artefacts were "
            "left out of the proposals and the ranking."))
    run.say(f"{len(rows)} labels; {found}/{n_interesting} interesting galaxies found; "
            "share of interesting galaxies among the top of the ranking, not yet labelled ones "
            "only: " + ", ".join(f"top {n} {metrics[f'precision_at_{n}_unlabelled']:.0%}"
                                 for n in cutoffs)
            + f" (random {base_rate:.0%})")
    run.sections.append(section)
