"""``galmorph serve``: browse, search and label galaxies in the browser.

:class:`~galmorph.web.gallery.Gallery` holds the data and jobs;
:func:`~galmorph.web.app.create_app` puts them behind HTTP (FastAPI), with a
plain HTML/JavaScript page served from ``static/`` (no external assets).
"""

#: Largest image upload the server accepts, in bytes (``galmorph serve --max-upload-mb``).
DEFAULT_MAX_UPLOAD = 10 * 1024 * 1024
