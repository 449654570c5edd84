"""A DataFrame catalog's own row labels, carried through :func:`load_catalog`.

:func:`load_catalog` gives its galaxies a new 0..n-1 index (and may drop those without
an image). A table of results made from a DataFrame the caller passed in is labelled
with the caller's index instead, so that ``catalog["p"] = table["p"]`` puts each value
on its own galaxy, as pandas users expect.

Example:
    >>> import pandas as pd
    >>> catalog = pd.DataFrame({"id_str": ["a", "b"], "file_loc": ["a.jpg", "b.jpg"]},
    ...                        index=[10, 20])
    >>> frame, labels = load_catalog_keeping_rows(catalog, check_images=False)
    >>> list(frame.index), list(labels)
    ([0, 1], [10, 20])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from galmorph.data.catalog import CatalogSource, load_catalog

#: The column that numbers the caller's rows while :func:`load_catalog` reads them.
_ROW = "_galmorph_caller_row"


def load_catalog_keeping_rows(
    source: CatalogSource, **options: Any
) -> tuple[pd.DataFrame, pd.Index | None]:
    """:func:`load_catalog` (``options`` as its keywords), and for a DataFrame ``source``
    the index labels of the rows it kept, in order (None for a file or folder)."""
    if not isinstance(source, pd.DataFrame):
        return load_catalog(source, **options), None
    frame = load_catalog(source.assign(**{_ROW: np.arange(len(source))}), **options)
    return frame, source.index[frame.pop(_ROW).to_numpy()]
