"""Step 2 of ``galmorph demo``: embed every galaxy and search for galaxies similar to one.

:func:`similarity_step` writes ``embeddings.parquet`` (PCA-reduced) and shows the
nearest neighbours of one clear galaxy, chosen deterministically (a ring when the
catalog has a ``ring`` column, else the most confidently spiral one); with a ``ring``
column, also the galaxies most like several rings at once (``similar --examples``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from galmorph.report.demo_finetune import RING_COLUMN
from galmorph.report.html import Section, figure_html, paragraph_html

if TYPE_CHECKING:
    from galmorph.report.demo import DemoRunner

#: Vote column used to choose the clearest ring as the similarity query.
RING_VOTES = "t08_odd_feature_a19_ring_count"
#: Rings the search from examples starts from (those with the most ring votes).
N_EXAMPLES = 5


def _ring_labels(catalog: pd.DataFrame) -> pd.Series:
    """The catalog's ``ring`` labels (1 ring, 0 not, NaN unknown) by ``id_str``."""
    return pd.Series(pd.to_numeric(catalog[RING_COLUMN], errors="coerce").to_numpy(),
                     index=catalog["id_str"].astype(str))


def _examples_blocks(run: DemoRunner, catalog: pd.DataFrame, search: Any, k: int) -> list[str]:
    """The galaxies most like the catalog's clearest rings together: a grid and a line."""
    from galmorph.report.plots import galaxy_grid
    from galmorph.search.examples import like_examples

    rings = catalog[_ring_labels(catalog).eq(1).to_numpy()]
    if RING_VOTES in rings:
        rings = rings.sort_values(RING_VOTES, ascending=False, kind="stable")
    ids = rings["id_str"].astype(str).head(N_EXAMPLES).tolist()
    k = min(k, len(catalog) - len(ids))
    if len(ids) < 2 or k < 1:
        return []
    found = like_examples(search, ids, k).neighbours
    if found.empty:
        return []
    is_ring = _ring_labels(catalog).reindex(found["id_str"].astype(str)).to_numpy() == 1
    files = [search.embeddings.file_loc[search.embeddings.row_of(i)] for i in ids]
    captions = [f"example\n{i}" for i in ids] + [
        f"{r.rank}. {r.id_str}" + ("\nlabelled ring" if ring else "")
        for r, ring in zip(found.itertuples(), is_ring, strict=True)]
    grid = run.save(galaxy_grid([*files, *found["file_loc"]], captions,
                                highlight=list(range(len(ids))), panel_size=1.9,
                                title=f"{len(found)} galaxies most like {len(ids)} rings "
                                      "(framed) together"),
                    "similar_examples_grid.png")
    share = float(is_ring.mean())
    run.result.metrics.setdefault("similarity", {})["ring_fraction_examples"] = share
    run.say(f"{share:.0%} of the galaxies most like {len(ids)} rings are rings")
    return [figure_html(
        grid, "several ring galaxies and the galaxies most like them together",
        f"From several examples: the {len(ids)} rings with the most volunteer ring votes "
        f"(framed in red), and the {len(found)} galaxies nearest to their mean representation; "
        f"{share:.0%} of them are labelled rings. What the examples share counts, what only "
        "one has is averaged away. From the command line: galmorph similar "
        "embeddings.parquet --examples my_rings.txt (one id per line)")]


def _pick_query(catalog: pd.DataFrame, predictions: pd.DataFrame) -> tuple[int, str]:
    """Row of a clear galaxy to search from, and why it was chosen (deterministic)."""
    if RING_COLUMN in catalog and _ring_labels(catalog).eq(1).any():
        rings = catalog.index[_ring_labels(catalog).eq(1).to_numpy()]
        if RING_VOTES in catalog:
            votes = catalog.loc[rings, RING_VOTES].astype(float)
            row = int(votes.sort_values(ascending=False, kind="stable").index[0])
            return row, (f"the galaxy labelled as a ring with the most volunteer 'ring' votes: "
                         f"{int(catalog.loc[row, RING_VOTES])}")
        return int(rings[0]), "the first galaxy labelled as a ring"
    spiral = [c for c in predictions.columns if c.endswith("_spiral_fraction")]
    if spiral:
        row = int(predictions[spiral[0]].to_numpy().argmax())
        return row, "the galaxy the model finds most confidently spiral"
    return 0, "the first galaxy of the catalog"


def similarity_step(
    run: DemoRunner, catalog: pd.DataFrame, predictions: pd.DataFrame, loaded: Any
) -> Any:
    """Embed every galaxy and search from one; returns the embeddings."""
    from galmorph.inference.embed import embed_to_file
    from galmorph.inference.embeddings import read_embeddings
    from galmorph.report.plots import galaxy_grid
    from galmorph.search.search import SimilaritySearch

    s = run.settings
    pca = min(s.pca, len(catalog) - 1)
    path = embed_to_file(catalog, run.out / "embeddings.parquet", loaded, pca=pca,
                         device=s.device, progress=s.progress, num_workers=s.num_workers,
                         backend=s.backend)
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
        is_ring = _ring_labels(catalog).reindex(neighbours["id_str"].astype(str)).to_numpy()
    query_ring = (is_ring is not None and _ring_labels(catalog).get(query_id) == 1)
    captions = [f"query\n{query_id}" + ("\nlabelled ring" if query_ring else "")]
    for i, r in enumerate(neighbours.itertuples()):
        text = f"{r.rank}. {r.id_str}\ndistance {r.distance:.3f}"
        if is_ring is not None and is_ring[i] == 1:
            text += "\nlabelled ring"
        captions.append(text)
    grid = run.save(
        galaxy_grid([embeddings.file_loc[row], *neighbours["file_loc"]], captions,
                    highlight=[0], panel_size=1.9,
                    title=f"The {k} galaxies most like the query (framed); distance 0 = alike"),
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
        f"Query: {query_id}, {why}. Under each neighbour: its rank, its id and its distance "
        "from the query (the cosine distance between their representations: 0 for the same, "
        "larger for less alike, at most 2)"
        + ("; 'ring' marks the galaxies the catalog labels as rings" if is_ring is not None
           else "") + ". The search needs no labels at all."))
    if is_ring is not None and catalog.loc[row, RING_COLUMN] == 1:
        base = float(_ring_labels(catalog).eq(1).mean())
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
    if RING_COLUMN in catalog:
        section.blocks.extend(_examples_blocks(run, catalog, search, k))
    section.blocks.append(paragraph_html(
        f"Files: embeddings.parquet ({len(embeddings)} galaxies, {embeddings.features.shape[1]} "
        f"numbers each, keeping {kept:.1%} of the variance). The same search from the command "
        f"line: galmorph similar {path.name} --id {query_id} -k {k} --grid similar.png"))
    run.sections.append(section)
    return embeddings
