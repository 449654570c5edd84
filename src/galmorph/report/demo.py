"""``galmorph demo``: every part of galmorph, once, on the bundled galaxies, in one report.

:func:`run_demo` runs five steps on a catalog (by default the 630 bundled SDSS
galaxies with Galaxy Zoo 2 votes, :func:`galmorph.data.bundled.demo_catalog`) with a
model (by default the shipped ``gz2-starter``):

1. **predict** every galaxy's Galaxy Zoo vote fractions (``predictions.parquet``)
   and, when the catalog has volunteer votes, **evaluate** them per question
   (:mod:`galmorph.report.demo_predict`);
2. **embed** every galaxy (``embeddings.parquet``, PCA-reduced) and run a
   **similarity search** from one clear galaxy (a ring when the catalog has a
   ``ring`` column, else the most confidently spiral one), chosen deterministically
   (:mod:`galmorph.report.demo_similarity`);
3. a **simulated anomaly hunt**: a researcher whose interest in a galaxy is
   ``round(5 × f_odd)`` (``f_odd`` = the fraction of volunteers who answered "yes"
   to GZ2's "is there anything odd?", t06) labels ~50 galaxies that active
   learning proposes; the report shows the resulting ranking and its precision
   (:mod:`galmorph.report.demo_anomaly`);
4. **fine-tune** a ring classifier from a few dozen class-balanced labelled
   galaxies (the ``ring`` column), testing it on all the others
   (:mod:`galmorph.report.demo_finetune`);
5. write ``report.html`` (self-contained: :mod:`galmorph.report.html`).

Steps whose columns are missing from the catalog (votes, ``ring``) are skipped
with a note in the report. Every output goes to one folder. This module holds the
settings, the result, the :class:`DemoRunner` the steps report to, and
:func:`run_demo`.

Example
-------
>>> from galmorph.report import DemoSettings, run_demo
>>> result = run_demo(DemoSettings(out="demo-output"))  # doctest: +SKIP
>>> result.report  # doctest: +SKIP
PosixPath('demo-output/report.html')
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from galmorph import __version__
from galmorph.exceptions import GalmorphError
from galmorph.report.demo_anomaly import anomaly_step
from galmorph.report.demo_finetune import CLASSIFIER_FOLDER, finetune_step
from galmorph.report.demo_predict import predict_step
from galmorph.report.demo_settings import MIN_RING_LABELS, DemoResult, DemoSettings
from galmorph.report.demo_similarity import similarity_step
from galmorph.report.html import (
    REPORT_DPI,
    Section,
    facts_html,
    note_html,
    table_html,
    write_report,
)
from galmorph.report.plots import save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The files the demo writes in its folder (figures under ``figures/``), removed when it
#: starts so that the folder never mixes two runs: a step skipped this time, or a run
#: interrupted, leaves nothing of an earlier run beside the new files.
OUTPUTS = (
    "report.html", "predictions.parquet", "evaluation.json", "embeddings.parquet",
    "anomaly_ranking.csv", "ring_test_predictions.csv",
    *(f"figures/{name}.png" for name in ("predictions_grid", "misses_grid", "similar_grid",
                                          "similar_examples_grid", "anomaly_grid",
                                          "finetune_curve", "ring_candidates")),
)
#: What a fine-tuning run writes in its folder (:data:`CLASSIFIER_FOLDER`).
_CLASSIFIER_FILES = ("model.pt", "best.ckpt", "last.ckpt", "logs")


class DemoRunner:
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
        self.console.print(Text.assemble((f"[{self.step_number}/{self.n_steps}]", "bold cyan"),
                                         f" {title}"))
        start, cpu = time.perf_counter(), time.process_time()
        yield
        seconds = time.perf_counter() - start
        self.result.timings[key] = seconds
        self.result.cpu_seconds[key] = time.process_time() - cpu
        self.console.print(Text.assemble("      ", ("done", "green"), f" in {seconds:.1f} s"))

    def skip(self, key: str, reason: str) -> None:
        self.result.skipped[key] = reason
        self.console.print(Text.assemble("      ", ("skipped:", "yellow"), f" {reason}"))

    def say(self, text: str) -> None:
        self.console.print(Text(f"      {text}"))

    def save(self, figure: Figure, name: str) -> Figure:
        """Also keep every figure as a PNG next to the report."""
        save_figure(figure, self.figures / name, dpi=REPORT_DPI)
        return figure


def clear_outputs(out: Path) -> None:
    """Remove what an earlier demo wrote in ``out`` (:data:`OUTPUTS` and its fine-tuned
    classifier's folder); other files are left alone."""
    for name in OUTPUTS:
        (out / name).unlink(missing_ok=True)
    classifier = out / CLASSIFIER_FOLDER
    if classifier.is_dir() and any((classifier / n).exists() for n in _CLASSIFIER_FILES):
        shutil.rmtree(classifier)


def run_demo(settings: DemoSettings | None = None, console: Console | None = None) -> DemoResult:
    """Run every step of the demo and write the report; see the module docs.

    The outputs of an earlier demo in the same folder are removed once the catalog
    and model have been read (:func:`clear_outputs`), and ``report.html`` is
    written last, so an interrupted run leaves no report beside its files.

    Raises:
        GalmorphError: when the catalog or model cannot be used, or the output
            folder is a file.
        TypeError: when ``settings.data`` is not a path.
    """
    from galmorph.data.bundled import demo_catalog
    from galmorph.data.catalog import load_catalog
    from galmorph.models.blocks import check_n_blocks
    from galmorph.models.checkpoint import load_model
    from galmorph.models.defaults import DEFAULT_MODEL
    from galmorph.models.device import resolve_device

    settings = settings or DemoSettings()
    console = console or Console(highlight=False)
    began, cpu_began = time.perf_counter(), time.process_time()
    run = DemoRunner(settings, console)
    if run.out.exists() and not run.out.is_dir():
        raise GalmorphError(f"the output folder {run.out} is a file: name a folder")
    if not isinstance(settings.data, str | os.PathLike | None):
        raise TypeError(f"DemoSettings.data is the path of a catalog file (None: the bundled "
                        f"galaxies), not a {type(settings.data).__name__}")
    data = Path(settings.data) if settings.data is not None else demo_catalog()
    model_spec = settings.model or DEFAULT_MODEL
    catalog = load_catalog(data, None)
    if len(catalog) < 3:
        raise GalmorphError(f"the demo needs at least 3 galaxies; {data} has {len(catalog)}")
    loaded = load_model(model_spec, resolve_device(settings.device))
    check_n_blocks(settings.n_blocks, loaded.model.encoder)  # before any step, not at the 4th
    if settings.ring_labels < MIN_RING_LABELS:
        raise GalmorphError(f"the demo's ring classifier needs at least {MIN_RING_LABELS} "
                            f"labelled galaxies per class (--ring-labels), not "
                            f"{settings.ring_labels}")
    run.out.mkdir(parents=True, exist_ok=True)
    clear_outputs(run.out)
    console.print(Text.assemble(f"galmorph demo: {len(catalog)} galaxies from ",
                                (str(data), "bold"), ", model ", (loaded.name, "bold"),
                                "; output in ", (str(run.out), "bold")), soft_wrap=True)
    if not settings.progress:
        console.print(Text("Each step prints when it is done (the bundled galaxies take 1.5-5 "
                           "minutes on a laptop CPU); --progress shows progress bars."),
                      soft_wrap=True)

    with run.step("predict", "Predicting the morphology of every galaxy and evaluating it"):
        predictions = predict_step(run, catalog, loaded)
    with run.step("similarity", "Embedding the galaxies and searching for similar ones"):
        embeddings = similarity_step(run, catalog, predictions, loaded)
    with run.step("anomaly", "Simulating an anomaly-hunting session"):
        anomaly_step(run, catalog, predictions, embeddings)
    with run.step("finetune", "Fine-tuning a ring classifier from a few labelled galaxies"):
        finetune_step(run, catalog, embeddings, loaded)
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
    report = run.result.report.resolve()
    console.print(Text.assemble("Report: ", (str(report), "bold"),
                                f" (total {run.result.timings['total']:.0f} s)"), soft_wrap=True)
    _print_next_steps(console, run.out, report)
    return run.result


def _print_next_steps(console: Console, out: Path, report: Path) -> None:
    """What to do with the demo's outputs: read the report, browse, try one's own catalog."""
    console.print(Text(f"Next: open the report in a web browser: {report.as_uri()}"),
                  soft_wrap=True)
    embeddings, predictions = out / "embeddings.parquet", out / "predictions.parquet"
    if embeddings.is_file():
        extra = f" --predictions {predictions}" if predictions.is_file() else ""
        console.print(Text(f"      browse, search and label these galaxies in the browser: "
                           f"galmorph serve {embeddings}{extra} --session {out / 'hunt.db'}"),
                      soft_wrap=True)
    console.print(Text("      run it on your own galaxies: galmorph validate CATALOG, then "
                       "galmorph demo --data CATALOG -o DIR (CATALOG: a table of id_str and "
                       "file_loc columns, like the catalog.csv of galmorph demo-data DIR)"),
                  soft_wrap=True)
