"""``galmorph serve``: browse, search and label galaxies in the browser.

:class:`~galmorph.web.gallery.Gallery` holds the data and jobs;
:func:`~galmorph.web.app.create_app` puts them behind HTTP (FastAPI), with a
plain HTML/JavaScript page served from ``static/`` (no external assets);
:class:`~galmorph.web.summary.PredictionSummary` gives each galaxy's morphology
summary. They are loaded on first use, so importing ``galmorph.web`` does not
load FastAPI, pandas or torch.

Examples
--------
>>> from galmorph.web import DEFAULT_MAX_UPLOAD, Gallery, create_app
>>> DEFAULT_MAX_UPLOAD // 1024**2
10
>>> app = create_app(Gallery("emb.parquet"))  # doctest: +SKIP
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "app": ["create_app"],
        "background": ["BackgroundServer"],
        "gallery": ["Gallery"],
        "map_view": ["MapView"],
        "query": ["FilterError"],
        "summary": ["PredictionSummary"],
        "table": ["GalaxyTable"],
    },
)
__all__ += ["DEFAULT_MAX_UPLOAD"]

#: Largest image upload the server accepts, in bytes (``galmorph serve --max-upload-mb``).
DEFAULT_MAX_UPLOAD = 10 * 1024 * 1024
