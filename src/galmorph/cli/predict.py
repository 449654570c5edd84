"""``galmorph predict``: per-galaxy predictions of a model, written to a table file.

For a vote-count model, each galaxy gets per answer the expected vote fraction,
the Dirichlet concentration and a 90% interval of the fraction, and per question
the probability it was asked. The output format follows the file's extension
(.parquet, .csv, .fits); the file records the model's name, version and checksum.

Large catalogs are done ``--chunk-size`` galaxies at a time (memory does not grow
with the catalog); ``--resume`` keeps finished chunks so that a killed run can be
continued; ``--devices N`` shares the galaxies between N GPUs (Lightning DDP).

A partitioned catalog (a folder of parquet files, e.g. a HATS catalog, or a glob)
is predicted partition by partition into a folder that mirrors it, in this process
or on a Dask cluster (``--workers N``, ``--scheduler ADDRESS``); see
:mod:`galmorph.inference.dask_run`.

Example::

    galmorph predict catalog.csv --model runs/gz2/model.pt -o predictions.parquet
    galmorph predict big.parquet -o big_pred.parquet --resume --devices 4 --device cuda
    galmorph predict hats_cat/dataset -o preds/ --workers 8 --id-column objid \
        --file-column cutout
"""

from __future__ import annotations

import argparse
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from galmorph.cli._common import (
    add_num_workers,
    add_partition_options,
    check_not_input,
    make_console,
    positive_int,
    refuse_replacing_an_image,
    reject_options,
    run_partitioned,
    single_file_catalog,
    writable_file,
)
from galmorph.exceptions import GalmorphError

if TYPE_CHECKING:
    import pandas as pd

    from galmorph.models.checkpoint import LoadedModel

#: Why ``--workers`` does not go with ``--scheduler``.
SCHEDULER_HAS_WORKERS = ("not with --scheduler: the cluster it runs has its own workers "
                         "(start them there, one thread each)")
#: How the metadata of each output format is read back (shown in ``--help``).
READING_METADATA = (
    "Output metadata (galmorph_model, galmorph_model_version, galmorph_model_sha256, ...): "
    "parquet: pyarrow.parquet.read_schema(path).metadata; FITS: header keywords of HDU 1; "
    "CSV: a plain table, its metadata in OUT.meta.json beside it (JSON); ECSV: its YAML "
    "header's meta. "
    "galmorph.inference.outputs.read_metadata(path) reads any of them."
)


def add_inference_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by the commands that run a model over a catalog."""
    from galmorph.data.views import VIEW_CHOICES
    from galmorph.inference.defaults import DEFAULT_VIEWS
    from galmorph.models.defaults import DEFAULT_MODEL

    parser.add_argument(
        "-m",
        "--model",
        default=DEFAULT_MODEL,
        help=(
            "model: a shipped name, a model file (.pt/.ckpt) or training folder, or "
            f"hf_hub:ORG/NAME (default: {DEFAULT_MODEL})"
        ),
    )
    parser.add_argument(
        "--mc-samples",
        type=positive_int,
        default=1,
        metavar="N",
        help="repeat each prediction N times with parts of the network switched off at "
             "random (Monte Carlo dropout), to measure how unsure it is; 1: once, no "
             "randomness (default: 1)",
    )
    parser.add_argument(
        "--views", type=int, choices=VIEW_CHOICES, default=DEFAULT_VIEWS,
        help="average each galaxy's outputs over this many orientations of its image: 8 "
        "(right-angle rotations, each also mirrored), 4 (rotations) or 1 (as it is, 8 times "
        "faster than 8; for the shipped starter 8 lowers the summed NLL (negative "
        "log-likelihood of the volunteers' votes; lower is better) of its validation "
        f"galaxies from 15.22 to 14.95) (default: {DEFAULT_VIEWS})",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=128, help="galaxies per batch (default: 128)"
    )
    add_num_workers(parser)
    parser.add_argument(
        "--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the MC-dropout samples (default: 0)"
    )
    parser.add_argument(
        "--skip-missing-images",
        action="store_true",
        help="skip rows whose image file is missing instead of stopping "
        "(--skip-bad-images also skips unreadable ones)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_backend_option(parser: argparse.ArgumentParser, *, mc_samples: bool = False) -> None:
    """The ``--backend`` option of predict, embed, evaluate and demo; ``mc_samples``: the
    command has ``--mc-samples``, which needs PyTorch."""
    from galmorph.models.defaults import BACKENDS

    onnx, auto = (("; not with --mc-samples above 1", " when --mc-samples is 1 (about 2x "
                   "faster), else torch") if mc_samples else
                  ("", " (about 2x faster), torch on a GPU"))
    parser.add_argument(
        "--backend", choices=BACKENDS, default="auto",
        help="torch: PyTorch; onnx: ONNX Runtime on the CPU (the model is converted once "
        f"and cached{onnx}); auto: onnx on the CPU{auto} (default: auto)",
    )


def column_list(text: str) -> tuple[str, ...]:
    """Column names from ``--keep-columns ra,dec`` (spaces around names are dropped)."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("give column names separated by commas, e.g. ra,dec")
    return names


def add_skip_bad_images(parser: argparse.ArgumentParser) -> None:
    """The ``--skip-bad-images`` option of predict and embed."""
    parser.add_argument(
        "--skip-bad-images", action="store_true",
        help="leave out galaxies whose image file is missing or cannot be read (empty, "
        "truncated, corrupt) instead of stopping; a warning names them",
    )


def skipping_bad_images(args: argparse.Namespace) -> dict[str, bool]:
    """``drop_missing_images`` and ``skip_unreadable_images`` from the options."""
    return {"drop_missing_images": args.skip_missing_images or args.skip_bad_images,
            "skip_unreadable_images": args.skip_bad_images}


def bad_image_hint(args: argparse.Namespace) -> AbstractContextManager[None]:
    """Image errors raised in the block end with the option that goes past them, unless
    that option was given (every image then failed: the hint would not help)."""
    from galmorph.cli.validate import image_error_hint

    return image_error_hint(None if args.skip_bad_images else
                            "to leave out galaxies whose image file is missing or cannot be "
                            "read, add --skip-bad-images")


def inference_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of predict_catalog/evaluate_catalog from the shared options."""
    return {
        "mc_samples": args.mc_samples,
        "views": args.views,
        "batch_size": args.batch_size,
        "num_workers": args.num_workers,
        "device": args.device,
        "seed": args.seed,
        "drop_missing_images": args.skip_missing_images,
        "progress": not args.no_progress,
    }


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``predict`` sub-command."""
    from galmorph.inference.defaults import DEFAULT_CHUNK_SIZE

    parser = subparsers.add_parser(
        "predict",
        help="predict every galaxy of a catalog and write a table",
        description=(
            "Run a model over every galaxy of a catalog (id_str and file_loc columns; vote "
            "columns not needed). For vote-count models, each galaxy gets per answer "
            "<answer>_fraction (the fraction of volunteers expected to give that answer), "
            "<answer>_lower90 and <answer>_upper90 (the model's 90% interval of that "
            "fraction), <answer>_concentration (the Dirichlet concentration behind them: "
            "the larger, the surer the model and the narrower the interval), and per "
            "question <question>_asked (the fraction of volunteers expected to reach it "
            "through the decision tree's earlier answers). Questions the model had no "
            "training votes for (the shipped starter's t10 and t11) are left out."
        ),
        epilog=READING_METADATA,
    )
    parser.add_argument("catalog", metavar="CATALOG",
                        help="table of galaxies, one per row; a folder of images (one galaxy "
                             "each, named by its file); or a partitioned catalog (a folder "
                             "of parquet files, or a quoted glob)")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="output table: .parquet, .csv, .ecsv (CSV with types and metadata, for "
        "astropy and TOPCAT) or .fits (written atomically); for a partitioned "
        "catalog, a folder, one file per partition (e.g. preds, not preds.parquet)",
    )
    add_inference_options(parser)
    add_backend_option(parser, mc_samples=True)
    add_skip_bad_images(parser)
    parser.add_argument(
        "--keep-columns", type=column_list, default=(), metavar="COL,...",
        help="catalog columns to copy into the output after id_str, e.g. ra,dec, to plot "
        "or cross-match the predictions on their own (default: none)",
    )
    parser.add_argument(
        "--grid", metavar="OUT.png",
        help="also draw, for each answer of the model's first question (a classifier: each "
        "class), the 6 galaxies with the highest predicted value (for an answer that not "
        "every volunteer is asked, the highest share of all volunteers), to check at a "
        "glance that the model reads your images as it should",
    )
    parser.add_argument(
        "--grid-answers", type=column_list, default=(), metavar="ANSWER,...",
        help="--grid: the answers to draw instead, e.g. t03_bar_a06_bar or bar (an "
        "answer's label, where only one answer has it)",
    )
    large = parser.add_argument_group("large catalogs and several GPUs")
    large.add_argument(
        "--resume",
        action="store_true",
        help="keep finished chunks in OUT.parts/ and skip them when run again after an "
        "interruption; the folder is removed once OUT is written",
    )
    large.add_argument(
        "--chunk-size", type=positive_int, default=DEFAULT_CHUNK_SIZE, metavar="N",
        help=f"galaxies per chunk: results held in memory at once (default: {DEFAULT_CHUNK_SIZE})",
    )
    large.add_argument(
        "--devices", type=positive_int, default=1, metavar="N",
        help="processes per machine, one per GPU (with --device cpu: CPU processes); "
        "above 1, Lightning DDP shares the galaxies between them (default: 1)",
    )
    large.add_argument("--num-nodes", type=positive_int, default=1, metavar="N",
                       help="machines, for DDP under torchrun or SLURM (default: 1)")
    large.add_argument("--strategy", default="ddp",
                       help="Lightning strategy with --devices/--num-nodes (default: ddp)")
    add_partition_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Predict and write the table (or a partitioned catalog's folder); 0 on success,
    1 when partitions failed."""
    from galmorph.inference.defaults import DEFAULT_CHUNK_SIZE
    from galmorph.inference.outputs import output_format
    from galmorph.inference.partitions import is_partitioned
    from galmorph.inference.predict import predict_to_file
    from galmorph.models.checkpoint import load_model
    from galmorph.models.device import resolve_device

    if args.grid_answers and not args.grid:
        raise GalmorphError("--grid-answers says what --grid draws: give --grid OUT.png too")
    if is_partitioned(args.catalog):
        reject_options(
            {"--grid": args.grid is not None,
             "--chunk-size": args.chunk_size != DEFAULT_CHUNK_SIZE,
             "--devices": args.devices > 1, "--num-nodes": args.num_nodes > 1},
            "not for partitioned catalogs, which are done a partition at a time (share "
            "them between processes with --workers or --scheduler)",
        )
        reject_options({"--workers": args.workers is not None and args.scheduler is not None},
                       SCHEDULER_HAS_WORKERS)
        options = {"backend": args.backend, "keep_columns": args.keep_columns,
                   **inference_kwargs(args)}
        del options["drop_missing_images"]  # done as each partition is read (job options)
        return run_partitioned(args, "predict", options)
    catalog = single_file_catalog(args)
    output_format(args.output)  # an unusable file name fails before any work
    check_not_input(args.output, {"catalog": args.catalog})
    if args.grid:
        from galmorph.report.plots import check_figure_path

        writable_file(str(check_figure_path(args.grid)), "--grid")
        refuse_grid_over_an_image(catalog, args.grid)
    loaded = load_model(args.model, resolve_device(args.device))
    if args.grid_answers and loaded.learnt_schema is not None:  # a name is checked now
        from galmorph.report.answer_grid import answer_columns, grid_columns

        grid_columns(answer_columns(loaded.learnt_schema), loaded.learnt_schema,
                     args.grid_answers)
    with bad_image_hint(args):
        written = predict_to_file(
            catalog, args.output, loaded, resume=args.resume, chunk_size=args.chunk_size,
            devices=args.devices, num_nodes=args.num_nodes, strategy=args.strategy,
            backend=args.backend, keep_columns=args.keep_columns,
            **{**inference_kwargs(args), **skipping_bad_images(args)},
        )
    if written is not None:  # None in the other processes of a multi-GPU run
        make_console().print(
            f"Wrote {written.n_rows} galax{'y' if written.n_rows == 1 else 'ies'} x "
            f"{written.n_columns - 1 - len(args.keep_columns)} prediction columns (and "
            f"{', '.join(('id_str', *args.keep_columns))}) to {written.path} (model "
            f"{loaded.name}, sha256 {loaded.checksum[:12]})"
        )
        if args.grid:
            _draw(catalog, written.path, loaded, args.grid_answers, args.grid)
            make_console().print(f"Drew the galaxies with the highest predictions in "
                                 f"{args.grid}")
    return 0


def _catalog_images(catalog: str | pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The catalog (read when a path) and its image files' absolute paths, in its order."""
    from galmorph.data.catalog import read_catalog
    from galmorph.data.image_paths import resolve_image_paths

    frame = read_catalog(catalog) if isinstance(catalog, str) else catalog
    return frame, resolve_image_paths(frame["file_loc"], frame.attrs.get("base_dir", ".")).paths


def refuse_grid_over_an_image(catalog: str | pd.DataFrame, grid: str) -> None:
    """Raises GalmorphError when ``--grid`` names an image of the catalog (read only when
    the file is there; of its paths only those ending in the grid's name are resolved;
    a catalog without ``file_loc`` is left to the checks that name what it lacks)."""
    from galmorph.data.catalog import read_catalog
    from galmorph.data.image_paths import resolve_image_paths

    if not Path(grid).is_file():
        return
    frame = read_catalog(catalog) if isinstance(catalog, str) else catalog
    if "file_loc" not in frame:
        return
    paths = frame["file_loc"].astype(str)
    named = paths[paths.str.endswith(Path(grid).name)]
    refuse_replacing_an_image(grid, resolve_image_paths(named, frame.attrs.get("base_dir", "."))
                              .paths, f"--grid {grid}", "catalog")


def _draw(catalog: str | pd.DataFrame, table: Path, loaded: LoadedModel,
          answers: tuple[str, ...], path: str) -> None:
    """``--grid``: the galaxies with the highest predictions per answer, read back from
    the written ``table``, their images from ``catalog``."""
    import pandas as pd

    from galmorph.data.table_files import read_table
    from galmorph.report.answer_grid import answer_grid, grid_columns

    predictions = read_table(table, text_columns=["id_str"])
    columns = grid_columns(predictions, loaded.learnt_schema, answers)
    frame, paths = _catalog_images(catalog)
    files = pd.Series(paths, index=frame["id_str"].astype(str))
    answer_grid(predictions, list(files.reindex(predictions["id_str"].astype(str))
                                  .fillna("")), columns, path=path,
                title=(f"Galaxies with the highest predicted share of volunteers giving each "
                       f"answer (model {loaded.name})" if loaded.task == "votes" else
                       f"Galaxies with the highest probability of each class (model "
                       f"{loaded.name})"))
