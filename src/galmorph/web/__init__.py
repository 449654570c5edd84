"""``galmorph serve``: browse, search and label galaxies in the browser.

:class:`~galmorph.web.gallery.Gallery` holds the data and jobs;
:func:`~galmorph.web.app.create_app` puts them behind HTTP (FastAPI), with a
plain HTML/JavaScript page served from ``static/`` (no external assets).
"""
