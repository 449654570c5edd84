"""Which of the caller's rows :func:`load_catalog` kept.

:func:`load_catalog` gives its galaxies a new 0..n-1 index (and may drop those without
an image). :func:`load_catalog_with_rows` also says where each kept galaxy was in the
table given (a file's rows, or a DataFrame's, numbered from 0), so that:

* a table of results made from a DataFrame takes the caller's index labels, and
  ``catalog["p"] = table["p"]`` puts each value on its own galaxy, as pandas users expect;
* messages name rows as the caller counts them, also after rows were dropped.

Example:
    >>> import pandas as pd
    >>> catalog = pd.DataFrame({"id_str": ["a", "b"], "file_loc": ["a.jpg", "b.jpg"]},
    ...                        index=[10, 20])
    >>> frame, rows = load_catalog_with_rows(catalog, check_images=False)
    >>> list(frame.index), rows.tolist(), list(catalog.index[rows])
    ([0, 1], [0, 1], [10, 20])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from galmorph.data.catalog import CatalogSource, load_catalog, read_catalog

#: The column that numbers the caller's rows while :func:`load_catalog` reads them.
_ROW = "_galmorph_caller_row"


def load_catalog_with_rows(source: CatalogSource, **options: Any
                           ) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`load_catalog` (``options`` as its keywords), and for each row it kept the
    row's number (from 0) in the file, folder listing or DataFrame ``source``, in order.
    The file is read once."""
    table = source if isinstance(source, pd.DataFrame) else read_catalog(source)
    frame = load_catalog(table.assign(**{_ROW: np.arange(len(table))}), **options)
    return frame, frame.pop(_ROW).to_numpy()


def caller_index(source: CatalogSource, rows: np.ndarray) -> pd.Index | None:
    """The index labels of a DataFrame ``source`` at ``rows``; None for a file or folder
    (whose results are numbered from 0)."""
    return source.index[rows] if isinstance(source, pd.DataFrame) else None
