"""Reports: galaxy image grids, self-contained HTML reports and ``galmorph demo``.

What users import is named here and loaded on first use, so importing
``galmorph.report`` does not load matplotlib, pandas or torch.
:func:`run_demo` runs every part of galmorph on a catalog and writes one HTML
report (:mod:`galmorph.report.demo`, one module per step); :func:`galaxy_grid`
draws galaxy images with captions (:mod:`galmorph.report.plots`); and
:func:`write_report` writes titled :class:`Section` s of figures, tables and
notes to one HTML file with everything embedded (:mod:`galmorph.report.html`);
:func:`write_learning_curves` draws a training run's losses by epoch
(:mod:`galmorph.report.learning_curves`).

Examples
--------
>>> from galmorph.report import DemoSettings, Section, render_report, table_html
>>> DemoSettings().out
'demo-output'
>>> page = render_report("Counts", "", [Section("n", "N", "How many.",
...                      [table_html(["galaxies"], [["630"]])])])
>>> "<td>630</td>" in page
True
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "demo": ["run_demo"],
        "demo_settings": ["DemoResult", "DemoSettings"],
        "html": [
            "Section",
            "facts_html",
            "figure_html",
            "note_html",
            "paragraph_html",
            "render_report",
            "table_html",
            "write_report",
        ],
        "learning_curves": ["draw_learning_curves", "read_history", "write_learning_curves"],
        "plots": ["HIGHLIGHT_COLOUR", "check_figure_path", "figure_formats", "galaxy_grid"],
    },
)
