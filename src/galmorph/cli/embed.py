"""``galmorph embed``: the model's representation of every galaxy of a catalog, as parquet.

Writes ``id_str``, ``ra``/``dec`` (when the catalog has them), ``file_loc`` and one
float32 column per feature (``feat_0``...): the encoder's pooled output, or its
first N principal components with ``--pca N``. ``--stages 2`` puts the pooled
features of an earlier encoder stage first (finer structure, see
:mod:`galmorph.inference.embed`). The file records the model (name,
path, checksum), its image settings and the fitted PCA, so ``galmorph similar
--image`` can put a new image in the same space (see :mod:`galmorph.inference.new_images`).

A partitioned catalog (a folder of parquet files, e.g. a HATS catalog, or a glob)
is embedded partition by partition into a folder that mirrors it, one embeddings
file per partition (without ``--pca``), in this process or on a Dask cluster
(``--workers N``, ``--scheduler ADDRESS``); see :mod:`galmorph.inference.dask_run`.

``--map`` then lays the galaxies out in 2-D for ``galmorph serve``'s map (UMAP, or PCA
for large catalogs; ``--map-method``) and caches it beside the embeddings
(``emb.parquet``: ``emb.map.parquet``; a folder: ``FOLDER/_map.parquet``); see
:mod:`galmorph.inference.maps`.

Example::

    galmorph embed catalog.csv --model gz2-starter -o embeddings.parquet --pca 40 --map
    galmorph embed hats_cat/dataset -o emb/ --workers 8 --id-column objid --file-column cutout
"""

from __future__ import annotations

import argparse
from pathlib import Path

from galmorph.cli._common import (
    add_encoder_image_options,
    add_num_workers,
    add_partition_options,
    check_not_input,
    make_console,
    model_with_image,
    positive_int,
    reject_options,
    run_partitioned,
    single_file_catalog,
)
from galmorph.cli.predict import (
    SCHEDULER_HAS_WORKERS,
    add_backend_option,
    add_skip_bad_images,
    bad_image_hint,
    skipping_bad_images,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``embed`` sub-command."""
    from galmorph.data.views import VIEW_CHOICES
    from galmorph.inference.defaults import (
        DEFAULT_CHUNK_SIZE,
        DEFAULT_UMAP_MAX,
        DEFAULT_VIEWS,
        MAP_METHODS,
    )
    from galmorph.models.defaults import DEFAULT_MODEL

    parser = subparsers.add_parser(
        "embed",
        help="write the model's representation of every galaxy (for similarity search)",
        description=(
            "Run a model's encoder over every galaxy of a catalog and write its pooled "
            "features (optionally reduced by incremental PCA) to a parquet file, with the "
            "model and PCA needed to embed new images in the same space."
        ),
        epilog=(
            "Metadata: the parquet key 'galmorph_embedding' holds JSON with the model (spec, "
            "path, name, sha256), encoder, image settings and the PCA (components, mean, "
            "explained_variance); read it with galmorph.inference.embeddings.read_embeddings(path)."
        ),
    )
    parser.add_argument("catalog", metavar="CATALOG",
                        help="table of galaxies (id_str, file_loc); a folder of images (one "
                             "galaxy each, named by its file); or a partitioned catalog (a "
                             "folder of parquet files, or a quoted glob)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.parquet",
                        help="output parquet file (written atomically); for a partitioned "
                             "catalog, a folder, one file per partition (e.g. emb, not "
                             "emb.parquet)")
    parser.add_argument(
        "-m", "--model", default=DEFAULT_MODEL,
        help=("model: a shipped name, a model file (.pt/.ckpt) or training folder, "
              "hf_hub:ORG/NAME, or an external timm encoder (folder or hf_hub: repository "
              f"with config.json) (default: {DEFAULT_MODEL})"),
    )
    parser.add_argument("--pca", type=positive_int, default=None, metavar="N",
                        help="keep the first N principal components (incremental PCA)")
    parser.add_argument(
        "--views", type=int, choices=VIEW_CHOICES, default=DEFAULT_VIEWS,
        help=("average each galaxy's features over this many orientations of its image: 8 "
              "(right-angle rotations, each also mirrored; features that do not depend on how "
              "the galaxy is turned), 4 (rotations) or 1 (as it is, 8 times faster than 8; "
              f"default: {DEFAULT_VIEWS})"),
    )
    parser.add_argument(
        "--resume", action="store_true",
        help=("write finished chunks to OUT.parquet.parts/ and skip them when run again after "
              "an interruption (for large catalogs); the folder is removed at the end"),
    )
    parser.add_argument("--chunk-size", type=positive_int, default=DEFAULT_CHUNK_SIZE,
                        metavar="N", help=f"galaxies per chunk (default: {DEFAULT_CHUNK_SIZE})")
    parser.add_argument("--batch-size", type=positive_int, default=128,
                        help="galaxies per batch (default: 128)")
    add_num_workers(parser)
    parser.add_argument("--device", default="auto",
                        help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    parser.add_argument(
        "--stages", type=int, nargs="+", default=[], metavar="S",
        help=("also keep the pooled features of these earlier encoder stages (0 = the "
              "finest), before the encoder's own: they respond to finer structure (rings, "
              "arcs, tidal features) than the questions the model was trained on; whether "
              "that helps a hunt depends on the model (`galmorph anomaly benchmark` tells): "
              "with the current starter it does not (default: none)"),
    )
    parser.add_argument(
        "--map", action="store_true",
        help=("then lay the galaxies out in 2-D for galmorph serve's map and cache it beside "
              "the embeddings (emb.parquet: emb.map.parquet; a folder: FOLDER/_map.parquet)"),
    )
    parser.add_argument(
        "--map-method", choices=MAP_METHODS, default="auto",
        help=(f"how --map lays them out: auto (UMAP up to {DEFAULT_UMAP_MAX:,} galaxies, PCA "
              "above), umap or pca. UMAP keeps neighbours together; measured on one busy core: "
              "10,000 galaxies in 25 s, 30,000 in under a minute, 100,000 in 2-3 min (and "
              "up to 1.5 min compiling, once). PCA (the first two principal components) "
              "is fast: 1,000,000 galaxies of 40 features in 6 s. A forced umap on a "
              f"folder is fitted on {DEFAULT_UMAP_MAX:,} galaxies and places the others "
              "(default: auto)"),
    )
    add_backend_option(parser)
    add_encoder_image_options(parser)
    parser.add_argument("--skip-missing-images", action="store_true",
                        help="skip rows whose image file is missing instead of stopping "
                        "(--skip-bad-images also skips unreadable ones)")
    add_skip_bad_images(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_partition_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Embed the catalog and write the file (or a partitioned catalog's folder); 0 on
    success, 1 when partitions failed."""
    from galmorph.inference.defaults import DEFAULT_CHUNK_SIZE
    from galmorph.inference.embed import embed_to_file
    from galmorph.inference.embeddings import read_embedding_info
    from galmorph.inference.partitions import is_partitioned

    reject_options({"--map-method": args.map_method != "auto" and not args.map},
                   "only with --map")
    if is_partitioned(args.catalog):
        reject_options(
            {"--pca": args.pca is not None, "--chunk-size": args.chunk_size != DEFAULT_CHUNK_SIZE},
            "not for partitioned catalogs: each partition is embedded on its own, and one "
            "PCA per partition would put them in different spaces (embed without --pca, "
            "then galmorph reduce OUT -o OUT40 --pca 40 fits one PCA over all of them)",
        )
        reject_options({"--workers": args.workers is not None and args.scheduler is not None},
                       SCHEDULER_HAS_WORKERS)
        status = run_partitioned(args, "embed", {
            "batch_size": args.batch_size, "num_workers": args.num_workers,
            "device": args.device, "progress": not args.no_progress, "backend": args.backend,
            "views": args.views, "stages": args.stages,
        })
        if args.map:
            if status:
                make_console(stderr=True).print(
                    "no map: it needs every partition; run again to complete them")
            else:
                make_map(args.output, args.map_method)
        return status
    catalog = single_file_catalog(args)
    check_not_input(args.output, {"catalog": args.catalog})
    with bad_image_hint(args):
        path = embed_to_file(
            catalog, args.output, model_with_image(args), resume=args.resume, pca=args.pca,
            chunk_size=args.chunk_size, batch_size=args.batch_size,
            num_workers=args.num_workers, device=args.device, progress=not args.no_progress,
            backend=args.backend, views=args.views, stages=args.stages,
            **skipping_bad_images(args),
        )
    info, n_rows = read_embedding_info(path)  # not the rows: the file may be large
    what = f"{info.n_features} features"
    if info.pca is not None:
        kept = float(info.pca.explained_variance_ratio.sum())
        what = (f"{info.n_features} PCA components of {info.feature_dim} features "
                f"({kept:.1%} of the variance)")
    if info.stages:
        what += f" (encoder stages {', '.join(map(str, info.stages))} and its output)"
    if info.views > 1:
        what += f", averaged over {info.views} orientations"
    make_console().print(
        f"Wrote {n_rows} galax{'y' if n_rows == 1 else 'ies'} x {what} to {path} "
        f"(model {info.model['name']}, sha256 {info.model['sha256'][:12]})"
    )
    if args.map:
        make_map(path, args.map_method)
    return 0


def make_map(embeddings: str | Path, method: str) -> None:
    """Compute the map of the embeddings just written and cache it; print what was done."""
    from galmorph.inference.maps import ensure_map, map_path

    console = make_console()
    galaxy_map = ensure_map(
        embeddings, method=method, recompute=True,
        on_compute=lambda used, n: console.print(
            f"computing the map: {used.upper()} of {n:,} galax{'y' if n == 1 else 'ies'}..."),
    )
    console.print(f"Wrote the map ({galaxy_map.method.upper()}, "
                  f"{galaxy_map.info['seconds']:.1f} s) to {map_path(embeddings)}")
