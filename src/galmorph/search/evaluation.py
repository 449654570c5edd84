"""Tag-retrieval evaluation of similarity search: precision@k beside baselines.

:func:`evaluate_similarity` uses every galaxy carrying a morphology tag (see
:mod:`galmorph.search.tags`) as a query and measures precision@k, the fraction of
its ``k`` neighbours carrying the same tag, averaged over queries, per tag and
over tags. The same search (metric, exclusions) runs on the embeddings and on
baselines: ``random`` neighbours (the expected precision, ``(n_tag - 1) / (n - 1)``),
``pixels`` (PCA of the images at :data:`galmorph.search.baselines.PIXEL_SIZE` px),
``untrained`` (an encoder of the same architecture with random weights, seed 0)
and ``votes`` (the model's own predicted vote fractions). Each baseline averages
over the same orientations of every image as the embeddings did (their
``views``), so orientation-invariance favours none of them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from rich import box
from rich.console import Console
from rich.table import Table

from galmorph.data.catalog import CatalogSource, load_catalog
from galmorph.data.id_sets import recorded_splits
from galmorph.data.schemas import get_schema
from galmorph.data.splits import assign_splits
from galmorph.data.validation import inspect_catalog
from galmorph.data.vote_checks import vote_columns_in_any_case
from galmorph.exceptions import CatalogError, GalmorphError, GalmorphWarning, ModelError
from galmorph.inference.defaults import DEFAULT_BATCH_SIZE
from galmorph.inference.embeddings import Embeddings, read_embeddings
from galmorph.inference.loading import ModelSpec
from galmorph.inference.new_images import load_embedding_model
from galmorph.models.checkpoint import LoadedModel
from galmorph.models.device import resolve_device
from galmorph.search.arguments import check_k
from galmorph.search.baselines import METHOD_LABELS, baseline_features
from galmorph.search.defaults import BASELINES, DUPLICATE_RADIUS_ARCSEC
from galmorph.search.index import ExactIndex, _check_metric, search_vectors
from galmorph.search.neighbours import EXTRA_CANDIDATES, select_neighbours
from galmorph.search.tags import _TAGS_BY_NAME, derive_tags


def check_vote_columns(frame: pd.DataFrame, source: str) -> None:
    """Check a catalog's GZ2 vote-count columns as ``galmorph evaluate`` and ``validate`` do.

    Catalogs without any GZ2 vote column (custom tag columns only) pass.

    Raises:
        CatalogError: naming ``source``, the columns and rows with bad counts (text,
            NaN, negative or fractional) or questions with only some of their columns.
    """
    schema = get_schema("gz2")
    if not any(c in frame for c in schema.label_cols):
        return
    _, summary = inspect_catalog(frame, schema, source, Path.cwd(), check_images=False,
                                 drop=False)  # votes of absent questions need no warning here
    errors = summary.errors
    if len(errors) == 1:
        raise CatalogError(f"{source}: {errors[0]}")
    if errors:
        listed = "\n".join(f"  - {e}" for e in errors)
        raise CatalogError(f"{source} has {len(errors)} problems:\n{listed}")


def neighbour_table(
    features: np.ndarray, k: int, metric: str = "cosine", *, ra: np.ndarray | None = None,
    dec: np.ndarray | None = None, duplicate_radius: float = DUPLICATE_RADIUS_ARCSEC,
) -> np.ndarray:
    """Exact ``k`` nearest neighbours of every row among all rows, as :class:`.SimilaritySearch`.

    Each row's own entry and, with coordinates, entries of the same object are left out.

    Returns:
        ``int64 (n, k)`` rows, nearest first; -1 where fewer than ``k`` exist.
    """
    vectors = search_vectors(features, metric)
    index = ExactIndex(vectors, metric)
    n = len(vectors)
    wanted = min(n, k + 1 + EXTRA_CANDIDATES)
    candidates = index.search(vectors, wanted)
    out = np.full((n, k), -1, dtype=np.int64)
    for row in range(n):
        centre = (float(ra[row]), float(dec[row])) if ra is not None and dec is not None else None

        def pick(rows: np.ndarray, row: int = row, centre: Any = centre) -> list[int]:
            return select_neighbours(rows, k, exclude={row}, centre=centre, ra=ra, dec=dec,
                                     radius=duplicate_radius)

        kept = pick(candidates[row])
        if len(kept) < k and wanted < n:  # many duplicates: look at every row
            kept = pick(index.search(vectors[row : row + 1], n)[0])
        out[row, : len(kept)] = kept
    return out


def precision_at_k(neighbours: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """Per query, the fraction of its ``k`` neighbours that are relevant.

    Args:
        neighbours: ``(n_queries, k)`` rows of the neighbours (-1: none; counts as
            not relevant, so P@k divides by ``k`` always).
        relevant: ``(n_rows,)`` bool, e.g. whether each galaxy carries the tag.

    Example:
        >>> precision_at_k(np.array([[1, 2], [0, -1]]), np.array([True, True, False]))
        array([0.5, 0.5])
    """
    relevant = np.asarray(relevant, dtype=bool)
    hits = np.where(neighbours >= 0, relevant[np.maximum(neighbours, 0)], False)
    return hits.sum(axis=1) / neighbours.shape[1]


def _check_count(n: int, k: int, split: str | None, model_splits: np.ndarray | None,
                 embedded: np.ndarray) -> None:
    """Refuse fewer than 2 galaxies, or ``k`` above the neighbours each has (``n - 1``).

    Raises:
        GalmorphError: naming the split's galaxies, or suggesting a ``k`` that fits.
    """
    if n < 2:
        where = ""
        if split is not None and model_splits is not None:
            values, counts = np.unique(model_splits[embedded], return_counts=True)
            found = ", ".join(f"{v} {c}" for v, c in zip(values, counts, strict=True))
            where = f" in the {split} split (the catalog's embedded galaxies are: {found})"
        raise GalmorphError(f"only {n} galaxies to evaluate{where}: need at least 2")
    if k > n - 1:
        raise GalmorphError(f"k = {k} neighbours per query, but the {n} galaxies evaluated have "
                            f"only {n - 1} others each: use -k {n - 1} or less")


def evaluate_similarity(
    embeddings: Embeddings | str | Path,
    catalog: CatalogSource,
    *,
    k: int = 10,
    metric: str = "cosine",
    tags: Sequence[str] | None = None,
    baselines: Sequence[str] = BASELINES,
    model: ModelSpec = None,
    split: str | None = None,
    duplicate_radius: float = DUPLICATE_RADIUS_ARCSEC,
    device: str | torch.device = "auto",
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_workers: int | None = None,
    progress: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Tag-retrieval precision@k of embeddings beside baselines (see the module docs).

    The galaxies evaluated are those of ``catalog`` that have embeddings (and, with
    ``split``, those in that split of the embeddings' model: by the training and
    validation galaxies its file records, every other galaxy counting as ``test``; for
    older models, by their seeded split).
    Every galaxy carrying a tag is a query; neighbours are searched among all
    evaluated galaxies, exactly.

    Args:
        embeddings: an :class:`Embeddings` or its file.
        catalog: truth: ``id_str``, ``file_loc`` and GZ2 vote counts or 0/1 tag columns.
        k: neighbours per query.
        metric: one of :data:`galmorph.search.index.METRICS`, for the embeddings and every baseline.
        tags: tags to evaluate (see :func:`galmorph.search.tags.derive_tags`); None: every
            built-in one available.
        baselines: any of :data:`galmorph.search.baselines.BASELINES`. ``untrained`` and
            ``votes`` run a network over every image (about a minute for 630 galaxies on
            2 CPU cores); ``("random", "pixels")`` takes seconds.
        model: the embeddings' model, if not where the file records it (same checksum).
        split: ``train``, ``val`` or ``test`` (galaxies the model never saw): keep only
            that split of the model's training.
        seed: seed of the untrained encoder's weights.

    Returns:
        JSON-ready dict: ``k``, ``metric``, ``n_galaxies``, ``methods`` (columns in
        order), ``tags`` (per tag: ``name``, ``kind``, ``rule``, ``n``,
        ``prevalence``, ``precision`` by method), ``means`` (``all``, ``trained``,
        ``transfer``, ``custom``: mean precision over tags with ≥ 2 members, by
        method), ``skipped_tags``, ``model`` (provenance) and ``model_split_counts``
        (evaluated galaxies per split of the model's training, when recorded).

    Example:
        >>> result = evaluate_similarity("emb.parquet", "catalog.csv")  # doctest: +SKIP
        >>> result["means"]["all"]["model"] / result["means"]["all"]["random"]  # doctest: +SKIP
        3.4
    """
    _check_metric(metric)
    k = check_k(k)
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise GalmorphError(f"unknown baseline(s) {', '.join(unknown)}: use {', '.join(BASELINES)}")
    emb = embeddings if isinstance(embeddings, Embeddings) else read_embeddings(embeddings)
    network = bool(set(baselines) - {"random"})  # baselines that run a network on the images
    frame, _ = vote_columns_in_any_case(load_catalog(catalog, None, check_images=network),
                                        get_schema("gz2"))
    source = "catalog" if isinstance(catalog, pd.DataFrame) else str(catalog)
    check_vote_columns(frame, source)
    all_tags, kinds, skipped = derive_tags(frame, tags, source=source)  # before the model loads
    if all_tags.empty:
        raise GalmorphError(_no_tags_message(frame, source, skipped))
    torch_device = resolve_device(device)
    loaded = _model_if_found(emb, model, torch_device,
                             needed=split is not None or network)
    rows = pd.Series(np.arange(len(emb)), index=pd.Index(emb.ids)).reindex(frame["id_str"])
    if rows.isna().all():
        raise GalmorphError("none of the catalog's galaxies are in the embeddings (by id_str)")
    keep = rows.notna().to_numpy()
    split_record = ((loaded.metadata.get("training") or {}).get("split") or {}
                    if loaded is not None else {})
    model_splits = recorded_splits(split_record, frame["id_str"])  # the ids it trained on
    if model_splits is None and split_record.get("method") == "seeded":  # older models
        model_splits = assign_splits(frame["id_str"], split_record["fractions"],
                                     split_record["seed"])
    if split is not None:
        if model_splits is None:
            assert loaded is not None  # a --split needs the model
            raise GalmorphError(f"{loaded.name} records neither the galaxies it trained on nor "
                                "a seeded split: cannot select --split")
        keep = keep & (model_splits == split)
    _check_count(int(keep.sum()), k, split, model_splits, rows.notna().to_numpy())
    frame = frame[keep].reset_index(drop=True)
    emb_rows = rows.to_numpy()[keep].astype(np.int64)
    tag_table = all_tags[keep].reset_index(drop=True)
    ra = frame["ra"].to_numpy(np.float64) if "ra" in frame else None
    dec = frame["dec"].to_numpy(np.float64) if "dec" in frame else None

    features = {"model": emb.features[emb_rows]}
    for name in baselines:
        if name == "random":
            continue
        components = emb.info.n_features if (name == "pixels" or emb.info.pca) else None
        assert loaded is not None  # a baseline other than random needs the model
        features[name] = baseline_features(
            name, frame, loaded, components, device=torch_device, batch_size=batch_size,
            num_workers=num_workers, progress=progress, seed=seed, views=emb.info.views,
        )
    neighbours = {
        name: neighbour_table(values, k, metric, ra=ra, dec=dec, duplicate_radius=duplicate_radius)
        for name, values in features.items()
    }
    methods = [b for b in BASELINES if b in baselines] + ["model"]
    n = len(frame)
    per_tag = []
    for name in tag_table:
        tagged = tag_table[name].to_numpy()
        count = int(tagged.sum())
        precision: dict[str, float] = {}
        for method in methods:
            if count < 2:
                precision[method] = float("nan")
            elif method == "random":
                precision[method] = (count - 1) / (n - 1)
            else:
                precision[method] = float(precision_at_k(neighbours[method][tagged], tagged).mean())
        tag = _TAGS_BY_NAME.get(name)
        per_tag.append({
            "name": name, "kind": kinds[name], "rule": tag.rule if tag else f"column {name} = 1",
            "n": count, "prevalence": count / n, "precision": precision,
        })
    if not any(t["n"] >= 2 for t in per_tag):
        warnings.warn(f"no tag is carried by 2 or more of the {n} galaxies, so no precision "
                      "could be measured: evaluate on more galaxies, or with other --tags",
                      GalmorphWarning, stacklevel=2)
    means: dict[str, dict[str, float]] = {}
    for group in ("all", "trained", "transfer", "custom"):
        members = [t for t in per_tag if (group == "all" or t["kind"] == group) and t["n"] >= 2]
        if members:
            means[group] = {m: float(np.mean([t["precision"][m] for t in members]))
                            for m in methods}
    counts = None
    if model_splits is not None:
        values, totals = np.unique(model_splits[keep], return_counts=True)
        counts = {str(v): int(c) for v, c in zip(values, totals, strict=True)}
        if loaded is not None and (counts.get("train", 0) or counts.get("val", 0)):
            warnings.warn(
                f"{counts.get('train', 0) + counts.get('val', 0)} of the {n} galaxies were in "
                f"the training or validation split of {loaded.name}: use split='test' "
                "(--split test) for an honest figure", GalmorphWarning, stacklevel=2,
            )
    return {
        "k": k, "metric": metric, "n_galaxies": n, "split": split,
        "embeddings": str(emb.path) if emb.path else None,
        "n_features": emb.info.n_features, "pca": emb.info.pca is not None,
        "views": emb.info.views,
        "model": loaded.provenance() if loaded is not None else {
            "galmorph_model": str(emb.info.model.get("name", "")), "galmorph_model_version": "",
            "galmorph_model_sha256": str(emb.info.model.get("sha256", ""))},
        "model_split_counts": counts,
        "methods": methods, "tags": per_tag, "means": means, "skipped_tags": skipped,
    }


def _model_if_found(emb: Embeddings, model: ModelSpec, device: torch.device, *,
                    needed: bool) -> LoadedModel | None:
    """The embeddings' model; None, with a warning, when it cannot be had and is not
    ``needed`` (random neighbours alone and no split: only its training split is lost)."""
    try:
        return load_embedding_model(emb.info, model, device)
    except ModelError as err:
        if needed:
            raise
        warnings.warn(f"{err}. Evaluated without it, so which galaxies it was trained on is "
                      "unknown: the figures may include them", GalmorphWarning, stacklevel=3)
        return None


def _no_tags_message(frame: pd.DataFrame, source: str, skipped: dict[str, str]) -> str:
    """Why no built-in tag could be derived, and which 0/1 columns ``--tags`` could name."""
    flags = [str(c) for c in frame.columns
             if c not in ("id_str", "file_loc") and frame[c].notna().any()
             and pd.to_numeric(frame[c], errors="coerce").isin([0, 1]).all()]
    hint = (f"; {source} has 0/1 columns to evaluate instead: --tags {','.join(flags[:5])}"
            if flags else "; name your own 0/1 tag columns with --tags")
    return ("no tags to evaluate: the built-in tags need GZ2 vote counts ("
            + "; ".join(f"{k}: {v}" for k, v in skipped.items()) + ")" + hint)


#: What each column of the evaluation table is, for its caption.
_METHOD_NOTES = {
    "random": "the tag's prevalence among the others",
    "pixels": "PCA of the raw pixels",
    "untrained": "the same network with random weights",
    "votes": "the model's predicted vote fractions as features",
    "model": "the embeddings",
}


def print_tag_evaluation(result: dict[str, Any], console: Console | None = None) -> None:
    """Print :func:`evaluate_similarity` output (or its JSON) as a table, one row per tag.

    Example:
        >>> print_tag_evaluation(evaluate_similarity("emb.parquet", "cat.csv"))  # doctest: +SKIP
    """
    console = console or Console()
    methods = result["methods"]
    table = Table(
        title=(f"Tag retrieval: precision@{result['k']} ({result['metric']}), "
               f"{result['n_galaxies']} galaxies"),
        caption=("Each galaxy with a tag is a query; precision@k: the fraction of its neighbours "
                 "with the same tag. "
                 + "; ".join(f"{METHOD_LABELS[m]}: {_METHOD_NOTES[m]}" for m in methods)
                 + ("; ×random: model / random" if "random" in methods else "")
                 + ". Means are over tags with at least 2 members."),
        box=box.SIMPLE_HEAD, pad_edge=False,
    )
    table.add_column("tag", no_wrap=True)
    table.add_column("n", justify="right")
    for method in methods:
        table.add_column(METHOD_LABELS[method], justify="right", no_wrap=True)
    if "random" in methods:
        table.add_column("×random", justify="right", no_wrap=True)

    def cells(values: dict[str, float | None]) -> list[str]:
        numbers = {m: math.nan if values[m] is None else float(values[m]) for m in methods}
        out = ["–" if math.isnan(v) else f"{v:.3f}" for v in numbers.values()]
        if "random" in methods:
            ratio = numbers["model"] / numbers["random"] if numbers["random"] else math.nan
            out.append("–" if math.isnan(ratio) else f"{ratio:.2f}")
        return out

    kinds = list(dict.fromkeys(tag["kind"] for tag in result["tags"]))
    for kind in kinds:
        for tag in result["tags"]:
            if tag["kind"] == kind:
                table.add_row(tag["name"], str(tag["n"]), *cells(tag["precision"]))
        table.add_section()
    for group, values in result["means"].items():
        table.add_row(f"mean {group}", "", *cells(values), style="bold")
    console.print(table)
    if len(kinds) > 1:
        members = {kind: [t["name"] for t in result["tags"] if t["kind"] == kind]
                   for kind in kinds}
        console.print(" ".join(f"{kind}: {', '.join(names)}." for kind, names in members.items()))
    for name, reason in result.get("skipped_tags", {}).items():
        console.print(f"skipped tag {name}: {reason}")
