"""``galmorph reduce``: one PCA over every galaxy of an embeddings file or folder.

``galmorph embed --pca`` is not available for a partitioned catalog (a PCA per partition
would put them in different spaces); this fits one over all its partitions and writes a
folder of the same shape with the projected features, for similarity search and anomaly
hunts (:mod:`galmorph.inference.embedding_reduce`).

Example::

    galmorph reduce emb -o emb40 --pca 40
"""

from __future__ import annotations

import argparse

from galmorph.cli._common import make_console, positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``reduce`` sub-command."""
    parser = subparsers.add_parser(
        "reduce",
        help="fit one PCA over every galaxy of an embeddings file or folder",
        description=(
            "Project the features that galmorph embed wrote (a parquet file, or the folder "
            "of a partitioned catalog) on their first principal components, fitted over "
            "all the galaxies a partition at a time, and write them as embed does (a new "
            "file, or a new folder of the same shape). Use it for a partitioned catalog, "
            "whose embed cannot take --pca."
        ),
    )
    parser.add_argument("embeddings", metavar="EMBEDDINGS",
                        help="parquet file or folder from galmorph embed, without --pca")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="the new file (.parquet) or folder")
    parser.add_argument("--pca", type=positive_int, required=True, metavar="N",
                        help="principal components to keep: the combinations of features "
                             "that vary most between galaxies, e.g. 40, as the tutorials use "
                             "for similarity search and anomaly hunts")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Reduce and say what was written; 0 on success."""
    from galmorph.inference.embedding_reduce import reduce_embeddings

    info = reduce_embeddings(args.embeddings, args.output, args.pca)
    assert info.pca is not None
    kept = float(info.pca.explained_variance_ratio.sum())
    make_console().print(
        f"Wrote {info.n_features} PCA components of {info.feature_dim} features "
        f"({kept:.1%} of the variance, fitted on {info.pca.n_samples_seen} galaxies) to "
        f"{args.output}")
    return 0
