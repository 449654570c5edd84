"""``galmorph demo`` and the HTML report: every step runs and the report is self-contained."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure
from rich.console import Console

from galmorph.cli import build_parser, main
from galmorph.exceptions import GalmorphError
from galmorph.inference import embed, loop
from galmorph.inference.embeddings import read_embeddings
from galmorph.models.checkpoint import load_model
from galmorph.models.onnx_backend import cache_dir, cached_onnx_model
from galmorph.report import demo
from galmorph.report.demo import OUTPUTS, DemoRunner
from galmorph.report.demo_anomaly import ODD_NO, ODD_YES, anomaly_step
from galmorph.report.demo_settings import DemoSettings
from galmorph.report.html import Section, figure_html, note_html, render_report, table_html
from galmorph.search.examples import like_examples
from galmorph.search.search import SimilaritySearch

SECTIONS = ("predictions", "similarity", "anomalies", "finetune", "about")


class _ReportParser(HTMLParser):
    """Collects section ids, images and every external reference of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[str] = []
        self.external: list[str] = []
        self.tables = 0
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag not in ("img", "meta", "br", "hr", "link", "input"):
            self.stack.append(tag)
        if tag == "section":
            self.sections.append(values.get("id") or "")
        if tag == "table":
            self.tables += 1
        if tag == "img":
            self.images.append(values.get("src") or "")
        for name in ("src", "href"):
            value = values.get(name)
            if value and not value.startswith(("#", "data:")):
                self.external.append(value)
        if tag in ("script", "link", "iframe"):
            self.external.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}> in {self.stack[-3:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> _ReportParser:
    parser = _ReportParser()
    parser.feed(html)
    parser.close()
    assert parser.stack == [], f"unclosed tags: {parser.stack}"
    return parser


def _png(uri: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    data = base64.b64decode(uri[len(prefix):], validate=True)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return data


# ------------------------------------------------------------------ report
def test_report_is_self_contained_and_escaped() -> None:
    figure = Figure(figsize=(2, 2))
    figure.add_subplot().plot([0, 1], [0, 1])
    html = render_report(
        "A <title>", "intro & more",
        [Section("one", "One", "Plain <words>.",
                 [figure_html(figure, "a line", "caption <b>"),
                  table_html(["a", "b"], [["1", "<2>"]]), note_html("skipped & why")])],
        footer="foot",
    )
    page = parse(html)
    assert html.startswith("<!DOCTYPE html>")
    assert page.sections == ["one"]
    assert page.tables == 1
    assert len(page.images) == 1
    _png(page.images[0])
    assert page.external == []
    text = "".join(page.text)
    assert "Plain <words>." in text and "<2>" in text and "caption <b>" in text
    assert "<words>" not in html  # escaped in the source


def test_figure_html_rejects_other_images() -> None:
    with pytest.raises(ValueError, match="PNG"):
        figure_html(b"GIF89a", "x")


# -------------------------------------------------------------------- demo
FAST = ["--epochs", "2", "--anomaly-labels", "12", "--ring-labels", "5", "--device", "cpu"]


def test_demo_runs_every_step_and_writes_the_report(demo_run: tuple[Path, str]) -> None:
    out, printed = demo_run
    assert "Report:" in printed and "report.html" in printed
    assert f"galmorph serve {out / 'embeddings.parquet'}" in printed
    for step in ("[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"):
        assert step in printed
    assert "skipped" not in printed

    for name in ("predictions.parquet", "embeddings.parquet", "evaluation.json",
                 "anomaly_ranking.csv", "ring_test_predictions.csv", "ring-classifier/model.pt"):
        assert (out / name).is_file(), name
    # every file it writes is one that a re-run clears first
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {p for p in written if not p.startswith("ring-classifier/")} == set(OUTPUTS)
    predictions = pd.read_parquet(out / "predictions.parquet")
    assert len(predictions) == 60

    page = parse((out / "report.html").read_text(encoding="utf-8"))
    assert page.sections == list(SECTIONS)
    assert page.external == []
    # grids of predictions, confident misses, similar galaxies (to one, and to several
    # rings), the anomaly ranking, the curve, ring candidates
    assert len(page.images) == 7
    for uri in page.images:
        assert len(_png(uri)) > 1000
    assert page.tables >= 3  # evaluation, anomaly precision, timings
    text = " ".join(page.text)
    for words in ("t01_smooth_or_features", "Test accuracy", "Random %", "ROC AUC",
                  "Where the model and the volunteers disagree most",
                  "From several examples: the 5 rings with the most volunteer ring votes"):
        assert words in text
    # the galaxies most like the 5 most-voted rings: as many rings as the report says
    catalog = pd.read_csv(out.parent / "catalog.csv", dtype={"id_str": str})
    rings = catalog[catalog["ring"] == 1].sort_values("t08_odd_feature_a19_ring_count",
                                                      ascending=False, kind="stable")
    found = like_examples(SimilaritySearch(out / "embeddings.parquet"),
                          rings["id_str"].head(5).tolist(), DemoSettings().k).neighbours["id_str"]
    share = catalog.set_index("id_str").loc[found, "ring"].eq(1).mean()
    assert f"{share:.0%} of them are labelled rings" in text
    assert f"{share:.0%} of the galaxies most like 5 rings are rings" in printed
    # the test accuracy beside that of always answering 'not ring' (most test galaxies)
    rings = pd.read_csv(out / "ring_test_predictions.csv")["ring"]
    assert f"always answering 'not ring' would score {(rings == 0).mean():.1%}" in text
    classifier = out / "ring-classifier" / "model.pt"
    n_val = load_model(classifier).metadata["training"]["split"]["sizes"]["val"]
    assert f"on the {n_val} held-out validation galaxies" in text
    # the fine-tuned classifier is tested with the demo's backend too (auto: ONNX Runtime)
    checksum = hashlib.sha256(classifier.read_bytes()).hexdigest()
    assert list(cache_dir().glob(f"{checksum[:32]}-full-*.onnx"))


def test_demo_skips_steps_without_their_columns(
    demo_subset, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    def strip(frame: pd.DataFrame) -> pd.DataFrame:
        votes = [c for c in frame.columns if c.endswith("_count")]
        return frame.drop(columns=[*votes, "ring"]).head(30)

    exported: list[str] = []  # the parts of the model run by ONNX Runtime

    def recording(loaded, what="full", stages=()):  # noqa: ANN001, ANN202
        exported.append(what)
        return cached_onnx_model(loaded, what, stages)

    monkeypatch.setattr(loop, "cached_onnx_model", recording)
    monkeypatch.setattr(embed, "cached_onnx_model", recording)
    catalog = demo_subset(strip)
    out = tmp_path / "bare"
    earlier = ["evaluation.json", "anomaly_ranking.csv",
               "ring_test_predictions.csv", "figures/ring_candidates.png",
               "ring-classifier/model.pt", "ring-classifier/logs/version_0/metrics.csv"]
    for name in [*earlier, "report.html", "notes.txt", "figures/mine.png"]:  # and the user's
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("earlier")
    assert main(["demo", "--data", str(catalog), "--out", str(out), *FAST]) == 0
    # what the earlier run made and this one did not is gone; the user's files are kept
    assert not [name for name in earlier if (out / name).exists()]
    assert not (out / "ring-classifier").exists()
    assert (out / "notes.txt").read_text() == (out / "figures/mine.png").read_text() == "earlier"
    # on the CPU the default backend (auto) predicts and embeds with ONNX Runtime
    assert exported == ["full", "encoder"]
    printed = capsys.readouterr().out
    assert printed.count("skipped:") == 3  # evaluation, anomaly hunt, fine-tuning
    assert (out / "predictions.parquet").is_file() and (out / "embeddings.parquet").is_file()
    assert not (out / "evaluation.json").exists()
    page = parse((out / "report.html").read_text(encoding="utf-8"))
    assert page.sections == list(SECTIONS)
    assert len(page.images) == 2  # predictions grid and similar galaxies
    text = " ".join(page.text)
    assert "Skipped" in text and "ring" in text


def test_demo_is_listed_with_its_options() -> None:
    parser = build_parser()
    args = parser.parse_args(["demo"])
    assert args.out == "demo-output" and args.data is None and args.backend == "auto"
    assert parser.parse_args(["demo", "--backend", "torch"]).backend == "torch"
    args = parser.parse_args(["demo", "--out", "x", "--data", "c.csv", "--epochs", "3"])
    assert (args.out, args.data, args.epochs) == ("x", "c.csv", 3)
    # -o and --output as every other command, --out as before
    assert {parser.parse_args(["demo", option, "y"]).out for option in ("-o", "--output")} == {"y"}


def test_demo_reports_a_bad_catalog_as_one_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "report.html").write_text("earlier")
    assert main(["demo", "--data", str(tmp_path / "missing.csv"), "--out",
                 str(tmp_path / "o")]) == 2
    assert "error" in capsys.readouterr().err
    assert (tmp_path / "o" / "report.html").read_text() == "earlier"  # nothing was run


def test_demo_checks_its_fine_tuning_sizes_before_the_first_step(
        tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    for option, value, why in (("--n-blocks", "-5", "a whole number of -1 or more"),
                               ("--ring-labels", "3", "a whole number of 4 or more")):
        with pytest.raises(SystemExit) as stopped:
            main(["demo", option, value])
        assert stopped.value.code == 2 and why in capsys.readouterr().err

    def not_reached(*args: object) -> None:
        raise AssertionError("the demo began its steps")

    monkeypatch.setattr(demo, "predict_step", not_reached)
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out), "--device", "cpu", "--n-blocks", "50"]) == 2
    assert re.search(r"cannot train 50 blocks of layers: this model's encoder has (\d+); give "
                     r"--n-blocks from 0 to \1, or -1 for all", capsys.readouterr().err)
    assert not out.exists()
    with pytest.raises(GalmorphError, match="at least 4 labelled galaxies per class"):
        demo.run_demo(DemoSettings(out=out, device="cpu", ring_labels=2))
    assert not out.exists()


def test_demo_refuses_an_output_folder_that_is_a_file(tmp_path: Path, capsys) -> None:
    target = tmp_path / "out.html"
    target.write_text("mine")
    assert main(["demo", "--out", str(target)]) == 2
    assert f"the output folder {target} is a file" in capsys.readouterr().err
    assert target.read_text() == "mine"


def test_an_interrupted_demo_leaves_no_earlier_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("an earlier run's report")

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "predict_step", interrupted)
    assert main(["demo", "--out", str(out), "--device", "cpu"]) == 130
    assert not (out / "report.html").exists()  # no report describing other files


def test_the_hunt_is_skipped_when_there_is_nothing_or_too_little_to_rank(
    demo_run: tuple[Path, str], tmp_path: Path
) -> None:
    out, _ = demo_run
    catalog = pd.read_csv(out.parent / "catalog.csv")
    predictions = pd.read_parquet(out / "predictions.parquet")
    embeddings = read_embeddings(out / "embeddings.parquet")
    odd = catalog[ODD_YES] / (catalog[ODD_YES] + catalog[ODD_NO])
    dull, interesting = catalog[odd < 0.5], catalog[odd >= 0.7]
    assert len(dull) >= 3 and len(interesting) >= 1
    for rows, why in ((dull, "nothing to hunt for"),
                      (pd.concat([interesting.head(1), dull.head(3)]), "too few to rank")):
        run = DemoRunner(DemoSettings(out=tmp_path), Console(file=io.StringIO()))
        anomaly_step(run, rows.reset_index(drop=True), predictions, embeddings)
        assert why in run.result.skipped["anomaly"]
        assert "Skipped" in run.sections[-1].blocks[-1]


def test_run_demo_names_a_catalog_that_is_not_a_path(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="DemoSettings.data is the path of a catalog file"):
        demo.run_demo(DemoSettings(data=630, out=tmp_path / "out"))  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()
