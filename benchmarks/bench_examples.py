"""Search from several examples: which way of combining them finds more of their kind.

For each morphology tag of a GZ2 catalog (:func:`galmorph.search.tags.derive_tags`, from
the volunteers' votes) with at least ``--min-members`` galaxies, draws ``--examples``
galaxies carrying it at random, ``--repeats`` times, and asks
:func:`galmorph.search.examples.like_examples` for the ``-k`` galaxies most like them with
each way of combining the examples. It prints precision@k (the fraction of those carrying
the tag; examples are never returned) per tag and way, beside two references: one
example alone (its own ``k`` nearest, the other examples left out too, averaged over the
examples) and the tag's share of the galaxies (what a random pick scores).

The galaxies searched are one split of the embeddings' model (``--split``, default
``val``: choose on the validation split, report on ``test``), by the training and
validation galaxies its file records.

Usage::

    galmorph embed ../shared/data/gz2_sdss/catalog.csv -o runs/gz2_emb.parquet
    .venv/bin/python benchmarks/bench_examples.py runs/gz2_emb.parquet \\
        ../shared/data/gz2_sdss/catalog.csv --split val
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from galmorph.data.catalog import load_catalog
from galmorph.data.id_sets import recorded_splits
from galmorph.exceptions import GalmorphError
from galmorph.inference.embeddings import Embeddings, read_embeddings
from galmorph.inference.loading import load_model
from galmorph.search.defaults import COMBINES
from galmorph.search.examples import like_examples
from galmorph.search.search import SimilaritySearch
from galmorph.search.tags import derive_tags


def split_embeddings(emb: Embeddings, split: str | None) -> Embeddings:
    """The galaxies of ``emb`` in ``split`` of its model's training (all for None)."""
    if split is None:
        return emb
    loaded = load_model(emb.info.model.get("path") or emb.info.model["name"])
    record = (loaded.metadata.get("training") or {}).get("split") or {}
    splits = recorded_splits(record, emb.ids)
    if splits is None:
        raise GalmorphError(f"{loaded.name} does not record the galaxies it trained on")
    keep = splits == split

    def take(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else values[keep]

    return dataclasses.replace(emb, ids=emb.ids[keep], features=emb.features[keep],
                               ra=take(emb.ra), dec=take(emb.dec), file_loc=take(emb.file_loc),
                               path=None)


def measure(search: SimilaritySearch, tags: pd.DataFrame, *, n_examples: int, k: int,
            repeats: int, min_members: int, seed: int) -> list[dict[str, object]]:
    """One row per tag: its share, and mean and spread of precision@k per way."""
    rows = []
    rng = np.random.default_rng(seed)
    for name in tags.columns:
        members = np.flatnonzero(tags[name].to_numpy())
        if len(members) < max(min_members, n_examples + 1):
            continue
        carries = tags[name].to_numpy()
        scores: dict[str, list[float]] = {way: [] for way in (*COMBINES, "one example")}
        for _ in range(repeats):
            chosen = rng.choice(members, n_examples, replace=False)
            ids = search.embeddings.ids[chosen].tolist()
            for way in COMBINES:
                found = like_examples(search, ids, k, combine=way).neighbours["row"]
                scores[way].append(float(carries[found.to_numpy()].mean()))
            # one example alone, the other examples left out too (as like_examples does)
            alone = [carries[search.by_vector(search.vectors[int(r)], k, exclude=chosen)
                             .neighbours["row"].to_numpy()].mean() for r in chosen]
            scores["one example"].append(float(np.mean(alone)))
        rows.append({"tag": name, "members": len(members), "share": float(carries.mean()),
                     **{way: (float(np.mean(v)), float(np.std(v))) for way, v in scores.items()}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("embeddings", help="embeddings file from galmorph embed")
    parser.add_argument("catalog", help="the catalog with GZ2 vote counts (the tags' truth)")
    parser.add_argument("--split", default="val", choices=("train", "val", "test", "all"))
    parser.add_argument("--examples", type=int, default=5, help="examples per search")
    parser.add_argument("-k", type=int, default=50, help="galaxies returned per search")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--min-members", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the rows as JSON")
    args = parser.parse_args()

    emb = split_embeddings(read_embeddings(args.embeddings),
                           None if args.split == "all" else args.split)
    catalog = load_catalog(args.catalog).set_index("id_str")
    missing = [i for i in emb.ids if i not in catalog.index]
    if missing:
        raise GalmorphError(f"{len(missing)} galaxies of {args.embeddings} are not in "
                            f"{args.catalog} (e.g. {missing[0]})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tags, _, _ = derive_tags(catalog.loc[emb.ids].reset_index(), source=args.catalog)
    search = SimilaritySearch(emb, "cosine", "exact")
    rows = measure(search, tags, n_examples=args.examples, k=args.k, repeats=args.repeats,
                   min_members=args.min_members, seed=args.seed)
    ways = [*COMBINES, "one example"]
    print(f"precision@{args.k} from {args.examples} examples, {args.repeats} draws, "
          f"{len(emb.ids)} galaxies ({args.split} split); mean ± std over draws")
    print(f"{'tag':<14}{'members':>8}{'share':>7}" + "".join(f"{w:>16}" for w in ways))
    for row in rows:
        print(f"{row['tag']:<14}{row['members']:>8}{row['share']:>7.3f}"
              + "".join(f"{row[w][0]:>9.3f} ± {row[w][1]:.3f}" for w in ways))
    means = {w: float(np.mean([r[w][0] for r in rows])) for w in ways}
    print(f"{'mean':<29}" + "".join(f"{means[w]:>16.3f}" for w in ways))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows,
                                               "means": means}, indent=1))


if __name__ == "__main__":
    from _cli import run_main

    run_main(main)
