"""Self-contained HTML reports: one file, figures embedded, no external assets.

A report is a title, a short introduction and a list of :class:`Section`; each
section has a plain-language explanation and blocks of HTML (figures, tables,
notes). Figures are embedded as base64 PNG ``data:`` URIs, styles are inline in
a ``<style>`` element, and there are no scripts or links to other files, so the
report can be mailed, archived or opened offline.

Example
-------
>>> from galmorph.report.html import Section, render_report, table_html
>>> html = render_report("Demo", "", [Section("a", "A", "Plain words.",
...                      [table_html(["x"], [["1"]])])])
>>> html.startswith("<!DOCTYPE html>") and "<table" in html
True
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from galmorph.files import atomic_target

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0;
       color: #1d1d1f; background: #f6f6f4; line-height: 1.45; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5rem 2rem 3rem; }
header { background: #13213b; color: #fff; padding: 1.6rem 2rem; }
header h1 { margin: 0 0 .3rem; font-size: 1.7rem; }
header p { margin: .2rem 0; color: #d6deeb; max-width: 900px; }
nav { margin: 1rem 0 0; font-size: .95rem; }
nav a { color: #9cc3ff; margin-right: 1rem; text-decoration: none; }
section { background: #fff; border-radius: 8px; padding: 1.2rem 1.6rem 1.4rem;
          margin: 1.4rem 0; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
section h2 { margin-top: 0; font-size: 1.35rem; }
p.explain { font-size: 1.02rem; color: #333; max-width: 900px; }
p.note { background: #fff6db; border-left: 4px solid #e0b000; padding: .5rem .8rem; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: .9rem; color: #555; margin-top: .3rem; max-width: 900px; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid #e3e3e3; text-align: right; }
th { background: #eef1f6; }
td:first-child, th:first-child { text-align: left; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
footer { color: #666; font-size: .85rem; margin-top: 2rem; }
code { background: #f0f0f0; padding: 0 .25rem; border-radius: 3px; }
"""


#: Resolution of the report's figures: 8-point captions are 12 pixels high.
REPORT_DPI = 110


@dataclass
class Section:
    """One part of a report.

    Attributes:
        id: anchor name (letters, digits, dashes).
        title: heading.
        explanation: one or two plain sentences saying what the reader sees (text,
            escaped when rendered).
        blocks: HTML fragments, in order (from :func:`figure_html`, :func:`table_html`,
            :func:`note_html`, :func:`facts_html`, :func:`paragraph_html`).
    """

    id: str
    title: str
    explanation: str
    blocks: list[str] = field(default_factory=list)


def png_bytes(figure: Figure, dpi: int = REPORT_DPI) -> bytes:
    """A matplotlib figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def figure_html(image: Figure | bytes, alt: str, caption: str = "",
                dpi: int = REPORT_DPI) -> str:
    """A ``<figure>`` with the image embedded as a base64 PNG ``data:`` URI.

    Args:
        image: a matplotlib figure, or PNG bytes.
        alt: text alternative of the image.
        caption: text under it (escaped).
    """
    data = png_bytes(image, dpi) if isinstance(image, Figure) else image
    if not data.startswith(b"\x89PNG"):
        raise ValueError("figure_html embeds PNG images only")
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    caption_html = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{uri}" alt="{html.escape(alt)}">{caption_html}</figure>'


def table_html(headers: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "") -> str:
    """A ``<table>`` of text cells (all escaped)."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def note_html(text: str) -> str:
    """A highlighted note (e.g. a step that was skipped, and why)."""
    return f'<p class="note">{html.escape(text)}</p>'


def paragraph_html(text: str) -> str:
    """A plain paragraph."""
    return f"<p>{html.escape(text)}</p>"


def facts_html(facts: Sequence[tuple[str, Any]]) -> str:
    """A two-column list of name/value pairs."""
    items = "".join(f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>"
                    for k, v in facts)
    return f'<dl class="facts">{items}</dl>'


def percent_text(value: Any) -> str:
    """A fraction as a percentage with one decimal, for a table cell; ``–`` when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * value:.1f}"


def number_text(value: Any, fmt: str = ".3f") -> str:
    """A number formatted with ``fmt``, for a table cell; ``–`` when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, fmt)


def render_report(
    title: str, introduction: str, sections: Sequence[Section], footer: str = ""
) -> str:
    """The whole report as one HTML5 document (a string)."""
    nav = "".join(f'<a href="#{html.escape(s.id)}">{html.escape(s.title)}</a>' for s in sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(introduction)}</p>"
        f"<nav>{nav}</nav></header>",
        "<main>",
    ]
    for section in sections:
        parts.append(
            f'<section id="{html.escape(section.id)}"><h2>{html.escape(section.title)}</h2>'
            f'<p class="explain">{html.escape(section.explanation)}</p>'
            + "".join(section.blocks) + "</section>"
        )
    if footer:
        parts.append(f"<footer>{html.escape(footer)}</footer>")
    parts += ["</main>", "</body>", "</html>", ""]
    return "\n".join(parts)


def write_report(
    path: str | Path, title: str, introduction: str, sections: Sequence[Section],
    footer: str = "",
) -> Path:
    """Write :func:`render_report` to ``path`` (UTF-8, atomically: an interrupted write
    leaves the earlier file or none); returns the path."""
    path = Path(path)
    page = render_report(title, introduction, sections, footer)
    with atomic_target(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
