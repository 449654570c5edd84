"""What a newcomer reads in ``galmorph demo``'s help, console and report: plain words,
numbers with their context, captions that fit, and what to do next."""

from __future__ import annotations

import argparse
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg

from galmorph.cli import build_parser
from galmorph.data.schemas import get_schema
from galmorph.report.demo_anomaly import _comparison
from galmorph.report.demo_finetune import _accuracy_text
from galmorph.report.demo_predict import _unlearnt_questions
from galmorph.report.worst_grid import worst_grid


class _Text(HTMLParser):
    """The text of a page, without its tags."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def page_text(html: str) -> str:
    """What a reader sees of ``html``: its text, tags left out."""
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


def _demo_parser() -> argparse.ArgumentParser:
    """The parser of ``galmorph demo``."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices["demo"]


def test_every_demo_option_shows_its_default_without_jargon() -> None:
    demo = _demo_parser()
    for action in demo._actions:
        if action.default in (None, argparse.SUPPRESS) or action.nargs == 0:
            continue
        assert "default" in (action.help or ""), action.option_strings
    text = demo.format_help()
    n_blocks = next(a for a in demo._actions if "--n-blocks" in a.option_strings)
    assert "head" not in n_blocks.help and "encoder" not in n_blocks.help
    assert "minutes" in text  # how long to wait


def test_long_captions_fit_their_panels() -> None:
    """The confident misses' captions ('volunteers: completely round (95%)') stay inside
    their panel instead of running into the next one."""
    galaxy = {"id_str": "J103157.56+031601.6", "file_loc": np.zeros((8, 8)),
              "question": "t07_rounded", "label": "completely round", "label_fraction": 0.95,
              "predicted": "in between", "probability": 0.52}
    for ncols, panel_size in ((6, 1.7), (6, 2.0), (4, 2.4)):
        figure = worst_grid([galaxy] * ncols, "votes", ncols=ncols, panel_size=panel_size)
        renderer = FigureCanvasAgg(figure).get_renderer()
        figure.draw(renderer)
        for ax in figure.axes:
            label = ax.xaxis.label.get_window_extent(renderer)
            assert label.width <= ax.get_window_extent(renderer).width, (ncols, panel_size)


def test_accuracy_below_always_not_ring_says_which_number_to_compare() -> None:
    truth = np.array([1] * 5 + [0] * 95)
    low = _accuracy_text(0.85, 0.82, truth)
    assert "would score 95.0%" in low and "compare the balanced accuracy" in low
    assert "compare the balanced accuracy" not in _accuracy_text(0.97, 0.9, truth)


def test_the_hunt_is_compared_with_the_outlier_finder_on_unseen_galaxies_only() -> None:
    # the session's top 50 holds its 9 labelled finds (34%), but only 20% of the unseen
    # galaxies it ranks first are interesting, against 18% for the outlier finder
    session = {"precision_at_50": 0.34, "precision_at_50_unlabelled": 0.20}
    forest = {"precision_at_50": 0.18, "precision_at_50_unlabelled": 0.18}
    text = _comparison(session, forest, 50, 50)
    assert "20% of the top 50" in text and "against 18%" in text
    assert "about as well" in text and "beats" not in text
    session["precision_at_50_unlabelled"] = 0.3
    assert "your session beats it" in _comparison(session, forest, 50, 50)


def test_vote_columns_of_questions_the_model_lacks_are_named() -> None:
    schema = get_schema("gz2-no-odd")
    catalog = pd.DataFrame(columns=["id_str", *schema.label_cols, "t06_odd_a14_yes_count",
                                    "t06_odd_a15_no_count", "t08_odd_feature_a19_ring_count",
                                    "ring"])
    assert _unlearnt_questions(catalog, schema) == ["t06_odd", "t08_odd_feature"]
    assert _unlearnt_questions(catalog[["id_str", *schema.label_cols]], schema) == []


def test_the_console_says_where_the_report_is_and_what_to_do_next(
    demo_run: tuple[Path, str],
) -> None:
    out, printed = demo_run
    assert "--progress shows progress bars" in printed  # the steps are silent for a minute
    assert f"Next: open the report in a web browser: {(out / 'report.html').resolve().as_uri()}" \
        in printed
    assert "galmorph validate CATALOG, then galmorph demo --data CATALOG" in printed
    assert "lower is better" in printed  # the summed NLL
    assert "not yet labelled ones only: top 10" in printed  # not inflated by its own labels


def test_the_report_explains_its_figures_and_numbers(demo_run: tuple[Path, str]) -> None:
    out, _ = demo_run
    text = page_text((out / "report.html").read_text(encoding="utf-8"))
    assert "NLL (negative log-likelihood)" in text
    assert "mean absolute difference between predicted and actual vote fractions" in text
    assert "Not in the table: t06_odd, t08_odd_feature, which the catalog has votes for" in text
    assert "'ring' marks the galaxies the catalog labels as rings" in text
    assert "Counting only the galaxies not yet labelled" in text
    assert "Generic outlier finder: not yet labelled %" in text  # the number the text gives
    assert "))" not in text  # no nested parentheses such as "votes (42))"
    for word in ("TODO", "nan", "None", "<", "object at"):
        assert word not in text, word
