"""``galmorph anomaly start|next|label|rank|score|status``: the actions on a session file.

Each ``run_*`` runs one action of ``galmorph anomaly`` (its parser is in
:mod:`galmorph.cli.anomaly`) and returns the exit status.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import TYPE_CHECKING, Any

from rich.table import Table

from galmorph.cli._common import check_not_input, make_console, refuse_replacing_an_image

if TYPE_CHECKING:
    from galmorph.anomaly.labels import LabelStore
    from galmorph.anomaly.records import Batch
    from galmorph.anomaly.session import AnomalySession


def run_start(args: argparse.Namespace) -> int:
    """Create the session file and print a summary."""
    from galmorph.anomaly.session import AnomalySession

    session = AnomalySession.start(
        args.embeddings, args.session, method=args.baseline or "active", pca=args.pca,
        xi=args.xi, batch_size=args.batch_size, seed=args.seed, predictions=args.predictions,
        artefact_column=args.artefact_column, artefact_threshold=args.artefact_threshold,
        include_artefacts=args.include_artefacts, overwrite=args.force,
    )
    with session:
        flagged = int(session.galaxies["artefact"].sum())
        settings = session.settings
        console = make_console()
        console.print(
            f"Started {args.session}: {len(session.embeddings)} galaxies, method "
            f"{settings.method}, {session.features.shape[1]} standardised features"
            + (f"; {flagged} flagged as artefacts ({settings.artefact_column} ≥ "
               f"{settings.artefact_threshold:g})" if settings.artefact_source else "")
        )
        console.print(f"Next: galmorph anomaly next --session {args.session}")
    return 0


def _galaxy_info(session: AnomalySession, ids: list[str]) -> list[dict[str, Any]]:
    """``ra``, ``dec`` and ``file_loc`` of galaxies, where the embeddings have them."""
    import pandas as pd

    emb = session.embeddings
    rows = pd.Index(emb.ids).get_indexer(ids)
    columns = {"ra": emb.ra, "dec": emb.dec, "file_loc": emb.file_loc}
    return [{name: _plain(column[row].item() if hasattr(column[row], "item") else column[row])
             for name, column in columns.items() if column is not None} for row in rows]


def _batch_table(batch: Batch, info: list[dict[str, Any]]) -> Table:
    """The batch as a table; ids never shortened, the model's columns only when it gave them."""
    numbers = [(name, fmt) for name, fmt in
               (("predicted", ".2f"), ("std", ".2f"), ("acquisition", ".3g"))
               if batch.values[name].notna().any()]
    past = "predicted" in dict(numbers) and bool((batch.values["predicted"] > 5).any())
    table = Table(show_edge=False, caption=(
        "predicted above 5: the model expects a score at the top of the 0-5 scale (its "
        "estimate, extrapolated, may pass 5)" if past else None))
    table.add_column("#", justify="right")
    table.add_column("id_str", no_wrap=True, min_width=max(len(g) for g in batch.ids))
    for name in ("ra", "dec", *(n for n, _ in numbers)):
        table.add_column(name, justify="right", no_wrap=True)

    def number(value: float | None, fmt: str) -> str:
        return "–" if value is None or math.isnan(value) else format(value, fmt)

    for i, galaxy in enumerate(batch.ids):
        values = batch.values.iloc[i]
        table.add_row(str(i + 1), galaxy, number(info[i].get("ra"), ".4f"),
                      number(info[i].get("dec"), ".4f"),
                      *(number(values[name], fmt) for name, fmt in numbers))
    return table


def run_next(args: argparse.Namespace) -> int:
    """Print (and optionally draw) the galaxies to label next."""
    from galmorph.anomaly.session import AnomalySession
    from galmorph.report.plots import check_figure_path

    if args.grid:
        check_figure_path(args.grid)
    with AnomalySession.open(args.session, embeddings=args.embeddings) as session:
        _check_outputs(session, args.grid)
        batch = session.next_batch(new=args.new)
        n_labels = session.store.n_labels()
        info = _galaxy_info(session, batch.ids)
        if args.grid:
            _draw([i.get("file_loc", "") for i in info],
                  [f"{n + 1}. {g}" for n, g in enumerate(batch.ids)], args.grid,
                  f"Batch {batch.batch_id}: score each galaxy from 0 (not interesting) to 5 "
                  f"(galmorph anomaly label); {_CHOSEN.get(batch.method, batch.method)}")
        if args.json:
            json.dump({"batch": batch.batch_id, "method": batch.method, "n_labels": n_labels,
                       "galaxies": [
                           {"id_str": g, **info[i],
                            **{k: _plain(v) for k, v in batch.values.iloc[i].items()}}
                           for i, g in enumerate(batch.ids)]},
                      sys.stdout, indent=2)
            sys.stdout.write("\n")
            return 0
        console = make_console()
        console.print(f"Batch {batch.batch_id} ({batch.method}, proposed with {batch.n_labels} "
                      f"labels; {n_labels} labels now): {len(batch.ids)} to score 0-5")
        console.print(_batch_table(batch, info))
        if args.grid:
            console.print(f"Wrote {args.grid}")
        console.print(f"Score with: galmorph anomaly label ID SCORE --session {args.session}")
    return 0


def _check_outputs(session: AnomalySession, *outputs: str | None) -> None:
    """Refuse (GalmorphError) an output file that is the session file, its embeddings or a
    galaxy's image: writing it would destroy the labels (or the embeddings, or the image)."""
    inputs = {"session file (and lose its labels)": session.store.path,
              "embeddings": session.settings.embeddings}
    for output in outputs:
        if output:
            check_not_input(output, inputs)
            refuse_replacing_an_image(output, session.embeddings.file_loc,
                                      f"the output {output}", "embeddings")


def _plain(value: Any) -> Any:
    """NaN as None (JSON null)."""
    return None if isinstance(value, float) and math.isnan(value) else value


def run_label(args: argparse.Namespace) -> int:
    """Store the ID SCORE pairs (or ``--from`` a file) in one transaction; print them."""
    from galmorph.anomaly.labels import LabelStore
    from galmorph.data.table_checks import plural

    pairs, source = _label_input(args)
    console = make_console()
    with LabelStore.open(args.session) as store:
        pairs = _known_pairs(store, pairs, args)
        records = store.label_many(pairs, source=source)
        if args.from_file:
            changed = sum(r.previous is not None for r in records)
            console.print(f"Stored {plural(len(records), 'score')} from {args.from_file} "
                          f"({changed} replacing earlier scores)")
        else:
            for record in records:
                was = f" (was {record.previous:g})" if record.previous is not None else ""
                console.print(f"{record.galaxy_id}: {record.score:g}{was}")
        console.print(f"{plural(store.n_labels(), 'galaxy')} labelled in {args.session}")
    console.print(f"Next: galmorph anomaly next --session {args.session} (the rest of the batch, "
                  f"or a new one), or galmorph anomaly rank --session {args.session}")
    return 0


def _label_input(args: argparse.Namespace) -> tuple[list[tuple[str, float]], str]:
    """The ``(id, score)`` pairs to store and their source: the command line or a file."""
    from galmorph.anomaly.label_files import read_label_file

    if args.from_file and args.pairs:
        args.parser.error("give ID SCORE pairs or --from FILE, not both")
    if args.from_file:
        return read_label_file(args.from_file), f"file {args.from_file}"
    if not args.pairs or len(args.pairs) % 2:
        args.parser.error("give galaxy ids and scores in pairs: ID SCORE [ID SCORE ...] "
                          "(or --from FILE)")
    return [(args.pairs[i], _score(args.pairs[i], args.pairs[i + 1], i // 2 + 1))
            for i in range(0, len(args.pairs), 2)], "user"


def _score(galaxy_id: str, text: str, position: int) -> float:
    """The score typed for a galaxy; an error names the galaxy and the pair."""
    from galmorph.anomaly.records import check_score
    from galmorph.exceptions import GalmorphError
    from galmorph.numbers import reads_as_number

    try:
        return check_score(text)
    except GalmorphError as err:
        swapped = reads_as_number(galaxy_id) and not reads_as_number(text)
        hint = "; give each galaxy id first, then its score" if swapped else ""
        raise GalmorphError(f"score of {galaxy_id} (pair {position}): {err}{hint}; nothing "
                            "was stored") from None


def _known_pairs(store: LabelStore, pairs: list[tuple[str, float]], args: argparse.Namespace
                 ) -> list[tuple[str, float]]:
    """The pairs of galaxies in the session.

    With ``--skip-unknown`` the others are left out with a warning; without it a file's
    unknown galaxies are an error naming their rows (typed ids: the store's own error).

    Raises:
        GalmorphError: for a ``--from`` file naming galaxies not in the session.
    """
    import warnings

    from galmorph.anomaly.label_files import is_session_file
    from galmorph.data.table_checks import plural
    from galmorph.exceptions import GalmorphError, GalmorphWarning

    unknown = set(store.unknown_ids([g for g, _ in pairs]))
    if not unknown or not (args.skip_unknown or args.from_file):
        return pairs
    rows = [f"row {i} ({g})" for i, (g, _) in enumerate(pairs) if g in unknown]
    what = plural(len(unknown), "galaxy")
    if not args.skip_unknown:
        if is_session_file(args.from_file):  # no rows to name: its ids
            rows = [g for g, _ in pairs if g in unknown]
        where = ", ".join(rows[:5]) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")
        raise GalmorphError(f"labels file {args.from_file}: {what} not in session {store.path}: "
                            f"{where}; nothing was stored (pass --skip-unknown to leave them "
                            "out)")
    warnings.warn(f"{what} not in session {store.path} left out (e.g. {sorted(unknown)[0]})",
                  GalmorphWarning, stacklevel=2)
    return [(g, s) for g, s in pairs if g not in unknown]


def run_rank(args: argparse.Namespace) -> int:
    """Print the top of the ranking and write all of it."""
    from galmorph.anomaly.session import AnomalySession
    from galmorph.inference.outputs import output_format, write_table
    from galmorph.report.plots import check_figure_path

    if args.output:
        output_format(args.output, "ranking.csv")
    if args.grid:
        check_figure_path(args.grid)
    with AnomalySession.open(args.session, embeddings=args.embeddings) as session:
        _check_outputs(session, args.output, args.grid)
        ranking = session.ranking(method=args.method, include_artefacts=args.include_artefacts)
        top = ranking.head(args.top)
        if args.output:
            write_table(ranking, args.output, ranking.attrs["galmorph"])
            session.store.log_event("rank", {"output": args.output, "method": args.method})
        if args.grid:
            method = ranking.attrs["galmorph"]["galmorph_anomaly_method"]
            word, ranked_by = _RANKED_BY[method]
            captions = [f"{r.rank}. {r.id_str}\n" + (f"your score {r.score:g}" if r.labelled
                                                      else f"{word} {r.interest:.2f}")
                        for r in top.itertuples()]
            files = (top["file_loc"].tolist() if "file_loc" in top
                     else [""] * len(top))
            _draw(files, captions, args.grid,
                  f"The {len(top)} most interesting galaxies, by {ranked_by}; framed: "
                  "scored by you",
                  highlight=[i for i, v in enumerate(top["labelled"]) if v])
    console = make_console()
    table = Table(show_edge=False, caption="interest: your score if labelled (*), else predicted")
    table.add_column("rank", justify="right")
    table.add_column("id_str", no_wrap=True, min_width=max(map(len, top["id_str"]), default=6))
    table.add_column("interest", justify="right")
    table.add_column("isolation forest", justify="right")
    for row in top.itertuples():
        table.add_row(str(row.rank), row.id_str,
                      f"{row.interest:.2f}{'*' if row.labelled else ''}",
                      f"{row.isolation_forest:.3f}")
    console.print(table)
    for path in (args.output, args.grid):
        if path:
            console.print(f"Wrote {path}")
    if not args.output:
        console.print(f"All {len(ranking)} galaxies in a file: add -o ranked.csv")
    console.print(f"Score more galaxies to sharpen it: galmorph anomaly next --session "
                  f"{args.session}")
    if ranking["labelled"].any():  # what anomaly score learns from
        console.print(f"Score a whole survey's embeddings by it: galmorph anomaly score "
                      f"--session {args.session} SURVEY_EMB -o interest")
    return 0


def run_score(args: argparse.Namespace) -> int:
    """Score other embeddings by the session's interest model; print the top."""
    from galmorph.anomaly.scoring import score_embeddings
    from galmorph.anomaly.session import AnomalySession

    check_not_input(args.output, {"embeddings": args.source, "session file": args.session})
    with AnomalySession.open(args.session, embeddings=args.embeddings) as session:
        options = {"top": args.top, "resume": args.resume}
        if args.workers is None and args.scheduler is None:
            summary = score_embeddings(session, args.source, args.output, **options)
        else:
            from galmorph.inference.hpc import dask_client

            with dask_client(args.scheduler, args.workers) as client:
                summary = score_embeddings(session, args.source, args.output, client=client,
                                           **options)
        session.store.log_event("score", {"source": args.source, "output": args.output})
    console = make_console()
    console.print(f"Scored {summary.n_galaxies} galaxies ({summary.n_labelled} of them "
                  f"labelled in the session) into {summary.output}")
    table = Table(show_edge=False, caption="predicted interest (0-5) ± its standard deviation")
    table.add_column("", justify="right")
    table.add_column("id_str", no_wrap=True,
                     min_width=max(map(len, summary.top["id_str"]), default=6))
    table.add_column("predicted", justify="right")
    for i, row in enumerate(summary.top.itertuples(), start=1):
        table.add_row(str(i), row.id_str, f"{row.predicted:.2f} ± {row.std:.2f}")
    console.print(table)
    return 0


def run_status(args: argparse.Namespace) -> int:
    """Print the session's settings and progress."""
    from galmorph.anomaly.labels import LabelStore

    with LabelStore.open(args.session) as store:
        settings = store.settings()
        console = make_console()
        console.print(f"Session {args.session}: {store.n_galaxies()} galaxies, "
                      f"{store.n_labels()} labelled ({len(store.history())} labels given), "
                      f"{store.n_batches()} batches proposed")
        for key, value in settings.items():
            console.print(f"  {key}: {_setting_text(key, value)}", highlight=False)
    console.print(f"Next: galmorph anomaly next --session {args.session}")
    return 0


def _setting_text(key: str, value: Any) -> str:
    """A session setting as a line for people: the model and features in short, not as dicts."""
    if key == "model" and isinstance(value, dict):
        return f"{value.get('name') or '?'} (sha256 {str(value.get('sha256', ''))[:12]})"
    if key == "features" and isinstance(value, dict):
        stages = ", ".join(map(str, value.get("stages") or [])) or "none"
        return (f"{value.get('n_features')} per galaxy from {value.get('encoder')} (earlier "
                f"stages: {stages}; views: {value.get('views')}; pca: {value.get('pca')}); "
                f"checksum {str(value.get('sha256', ''))[:12]}")
    if key.endswith("sha256") and isinstance(value, str):
        return value[:12]
    return str(value)


#: How a batch was chosen, by its method, for the title of its grid.
_CHOSEN = {"cold-start": "chosen to cover every kind of galaxy (no scores yet)",
           "active": "chosen where your scores so far promise the most, or know the least "
                     "(expected improvement)",
           "isolation-forest": "the most unusual by an isolation forest",
           "lof": "the most unusual by the local outlier factor",
           "reweighted-forest": "the most unusual by an isolation forest re-weighted by your "
                                "scores"}
#: A ranking's caption word and title words, by method: what its numbers (0-5) are.
_RANKED_BY = {
    "active": ("predicted", "the interest (0-5) predicted from your scores"),
    "isolation-forest": ("outlier", "an isolation forest's outlier score, scaled to 0-5 "
                         "(your scores not used)"),
    "lof": ("outlier", "the local outlier factor, scaled to 0-5 (your scores not used)"),
    "reweighted-forest": ("re-weighted", "an isolation forest's outlier score re-weighted "
                          "by your scores, scaled to 0-5"),
}


def _draw(files: list[str], captions: list[str], path: str, title: str,
          highlight: list[int] | None = None) -> None:
    from galmorph.report.plots import galaxy_grid

    galaxy_grid(files, captions, path=path, title=title, highlight=highlight or ())
