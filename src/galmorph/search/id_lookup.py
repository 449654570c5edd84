"""Rows of galaxy ids as people type them: as written, else in another case.

:class:`IdLookup` finds the row of an id exactly, or ignoring case where only one id
matches (``j000314.90-000217.7`` for ``J000314.90-000217.7``); its indexes are built on
first use and shared by threads (the web app's requests).

Example:
    >>> import numpy as np
    >>> ids = IdLookup(np.array(["Abc", "ABC", "xyz"]))
    >>> ids.row("XYZ"), ids.row("abc"), ids.row("ABC"), ids.row("nothing")
    (2, None, 1, None)
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pandas as pd


class IdLookup:
    """Rows of ``ids`` ``(n,)`` by id, all different (see the module docs); a ``pd.Index``
    of them is used as it is, not built again."""

    def __init__(self, ids: np.ndarray | pd.Index) -> None:
        self.ids = ids
        self._exact: pd.Index | None = ids if isinstance(ids, pd.Index) else None
        self._caseless: pd.Index | None = None
        self._lock = threading.Lock()

    def _indexes(self, caseless: bool) -> tuple[pd.Index, pd.Index | None]:
        with self._lock:
            if self._exact is None:
                self._exact = pd.Index(pd.Series(self.ids, dtype=object).astype(str))
            if caseless and self._caseless is None:
                self._caseless = pd.Index(self._exact.astype(str).str.casefold())
            return self._exact, self._caseless

    def caseless_row(self, text: str) -> int | None:
        """The one row whose id equals ``text`` ignoring case; None for none or several."""
        folded = self._indexes(caseless=True)[1]
        assert folded is not None
        found = np.flatnonzero(folded == text.casefold())
        return int(found[0]) if len(found) == 1 else None

    def row(self, text: str) -> int | None:
        """The row of id ``text`` as written, else :meth:`caseless_row`."""
        return self.rows([text])[0]

    def rows(self, texts: Sequence[str]) -> list[int | None]:
        """:meth:`row` of each of ``texts``."""
        names = [str(text) for text in texts]
        found = self._indexes(caseless=False)[0].get_indexer(names).tolist()
        return [row if row >= 0 else self.caseless_row(name)
                for row, name in zip(found, names, strict=True)]
