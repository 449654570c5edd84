"""The galaxies ``galmorph serve`` browses, as a table to filter, sort and page.

:class:`GalaxyTable` lines up a ``galmorph predict`` table, the catalog's number
columns and the embeddings' sky positions with the gallery's rows, resolves the
names that filters (:mod:`galmorph.web.query`) and sorts use, and answers
:meth:`GalaxyTable.select` with row numbers. Sort orders and the last selections
are cached, so moving through the pages of one query costs a slice.

Names, for any schema (answers are found from the ``<question>_asked`` and
``<question>_<answer>_fraction`` columns):

* an answer without its ``aNN_`` prefix (``bar``), with it (``a06_bar``), with its
  question (``t03_bar_a06_bar``, or ``bar.bar``, ``t03_bar.a06_bar``...): its
  ``_fraction`` column. A name several answers share (``no_bulge``) is refused with
  the names that tell them apart;
* ``ANSWER.uncertainty``: the width of its 90% interval, ``_upper90 - _lower90``;
* ``ANSWER.share``: its fraction of all volunteers, ``_fraction`` times its question's
  ``_asked`` (``bar`` counts only the volunteers asked about bars, so a smooth galaxy
  few would be asked about can still have ``bar`` 0.8; ``bar.share`` is then low);
* the whole name of a number column of the predictions, the catalog or the embeddings
  (``t03_bar_asked``, ``redshift``, ``ra``); it wins over an answer of the same name.
  A fine-tuned classifier's predictions have no answers: their number columns
  (``prob_<class>``) are its :attr:`GalaxyTable.predicted` columns.

A name with spaces or other characters (``prob_not ring``) is written in backquotes
in a filter (see :func:`galmorph.web.query.typed`), and may be in a sort or
:meth:`GalaxyTable.values`; messages and :meth:`GalaxyTable.names` spell names so.

Example:
    >>> import numpy as np, pandas as pd
    >>> table = GalaxyTable(np.array(["a", "b", "c"]), predictions=pd.DataFrame({
    ...     "id_str": ["c", "a", "b"], "t03_bar_asked": [1.0, 1.0, 1.0],
    ...     "t03_bar_a06_bar_fraction": [0.9, 0.2, 0.7],
    ...     "t03_bar_a07_no_bar_fraction": [0.1, 0.8, 0.3]}))
    >>> table.select("bar > 0.5", "-bar").tolist()
    [2, 1]
    >>> table.names()
    ['bar', 'no_bar']
"""

from __future__ import annotations

import difflib
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
import pandas as pd

from galmorph.models.tasks import ASKED, FRACTION, answer_questions
from galmorph.web.query import FilterError, evaluate, parse, typed, unquote

#: Selections (filter, sort, id text) kept, most recent first.
MAX_SELECTIONS = 16
#: Sort orders kept (one int64 per galaxy each).
MAX_ORDERS = 8
UNCERTAINTY = ".uncertainty"
#: An answer's fraction of all volunteers: its fraction times the fraction asked.
SHARE = ".share"
_PREFIXED = re.compile(r"[at][0-9]+_(.+)")


def _short(name: str) -> str:
    """``a06_bar`` → ``bar``, ``t03_bar`` → ``bar``; other names as they are."""
    match = _PREFIXED.fullmatch(name)
    return match.group(1) if match else name


def _listed(names: list[str]) -> str:
    """The first ten ``names``, joined by commas (``…`` for more)."""
    return ", ".join(names[:10]) + (", …" if len(names) > 10 else "")


def _rows_of(frame: pd.DataFrame, ids: np.ndarray) -> np.ndarray | None:
    """Row of ``frame`` for each id (its first, -1 when missing); None when already aligned."""
    frame_ids = frame["id_str"].astype(str).to_numpy()
    if len(frame_ids) == len(ids) and (frame_ids == ids).all():
        return None
    first = ~pd.Index(frame_ids).duplicated()
    found = pd.Index(frame_ids[first]).get_indexer(ids)
    return np.where(found >= 0, np.flatnonzero(first)[found], -1)


def _lower_case(ids: np.ndarray) -> np.ndarray:
    """``ids`` (text) in lower case: the same array when no id has an upper-case ASCII or a
    non-ASCII letter (a check on the code points, many times faster than lowering them)."""
    codes = np.ascontiguousarray(ids).view(np.uint32)
    if len(codes) == 0 or codes.max() < 65 or not ((codes - 65 < 26) | (codes > 127)).any():
        return ids
    return np.char.lower(ids)


def _order(values: np.ndarray, descending: bool) -> np.ndarray:
    """Stable argsort of ``values``, NaN last either way.

    float32 values are sorted as one uint64 key per row (order-preserving bits, then
    the row), about 4x faster than a stable argsort.
    """
    if values.dtype != np.float32:
        return np.argsort(-values if descending else values, kind="stable")
    bits = (values + np.float32(0)).view(np.uint32)  # -0.0 + 0.0 is 0.0: ties stay ties
    key = np.where(bits >> 31, ~bits, bits | np.uint32(1 << 31))
    if descending:
        key = ~key
    key = key.astype(np.uint64)
    key[np.isnan(values)] = np.uint64(0xFFFFFFFF)
    key = (key << np.uint64(32)) | np.arange(len(values), dtype=np.uint64)
    return (np.sort(key) & np.uint64(0xFFFFFFFF)).astype(np.int64)


class GalaxyTable:
    """Per-galaxy numbers aligned with the gallery's rows, to filter and sort by.

    Args:
        ids: ``(n,)`` the gallery's ids, row by row.
        predictions: a ``galmorph predict`` table with ``id_str`` (rows matched by id;
            galaxies it lacks get NaN).
        catalog: a table with ``id_str``; its number columns can be named too.
        columns: more ``(n,)`` columns already in row order (None values skipped),
            e.g. the embeddings' ``ra`` and ``dec``.
    """

    def __init__(self, ids: np.ndarray, *, predictions: pd.DataFrame | None = None,
                 catalog: pd.DataFrame | None = None,
                 columns: Mapping[str, np.ndarray | None] | None = None) -> None:
        self.ids = np.asarray(ids).astype(str, copy=False)
        extra = pd.DataFrame({k: v for k, v in (columns or {}).items() if v is not None})
        #: Where each number column comes from: its table, and its row per gallery row.
        self._sources: dict[str, tuple[pd.DataFrame, np.ndarray | None]] = {}
        self._text: set[str] = set()
        for frame in (predictions, catalog, extra):
            if frame is None or not len(frame.columns):
                continue
            rows = _rows_of(frame, self.ids) if frame is not extra else None
            for name in frame.columns:
                dtype = frame[name].dtype
                if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
                    self._text.add(str(name))
                elif str(name) not in self._sources:
                    self._sources[str(name)] = (frame, rows)
        self._values: dict[str, np.ndarray] = {}
        self.stems: list[str] = []
        self._asked: dict[str, str] = {}  # answer stem -> its question's _asked column
        self._keys: dict[str, list[str]] = {}  # lower-case name -> answer stems
        self._spelled: dict[str, str] = {}  # lower-case name -> as first written
        #: The number columns of predictions without answers (a classifier's ``prob_<class>``).
        self.predicted: list[str] = []
        if predictions is not None:
            self._find_answers([str(c) for c in predictions.columns])
            if not self.stems:
                self.predicted = [name for name, (frame, _) in self._sources.items()
                                  if frame is predictions]
        self._lower_ids: np.ndarray | None = None
        self._orders: OrderedDict[tuple[str, bool], np.ndarray] = OrderedDict()
        self._selections: OrderedDict[tuple[str, str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def _find_answers(self, columns: list[str]) -> None:
        """Answer stems (``t03_bar_a06_bar``) and the names that reach each."""
        for column, question in answer_questions(columns).items():
            if column not in self._sources:
                continue
            stem = column.removesuffix(FRACTION)
            answer = stem[len(question) + 1:]
            self.stems.append(stem)
            self._asked[stem] = f"{question}{ASKED}"
            for q in dict.fromkeys((question, _short(question))):
                for a in dict.fromkeys((answer, _short(answer))):
                    self._add_key(f"{q}.{a}", stem)
            for key in (_short(answer), answer, stem):
                self._add_key(key, stem)

    def _add_key(self, key: str, stem: str) -> None:
        stems = self._keys.setdefault(key.lower(), [])
        self._spelled.setdefault(key.lower(), key)
        if stem not in stems:
            stems.append(stem)

    def _name_of(self, stem: str) -> str:
        """The shortest name that means only this answer, as a filter spells it."""
        keys = [self._spelled[key] for key, stems in self._keys.items() if stems == [stem]]
        plain = [k for k in keys if typed(k) == k]
        return min(plain, key=lambda k: ("." in k, len(k), k)) if plain else typed(stem)

    def names(self) -> list[str]:
        """One name per predicted answer, in the table's order (``bar``, ``a10_no_bulge``)."""
        return [self._name_of(stem) for stem in self.stems]

    def predicted_names(self) -> list[str]:
        """:attr:`predicted`, as a filter spells them (`` `prob_not ring` ``, ``prob_ring``)."""
        return [typed(name) for name in self.predicted]

    # ------------------------------------------------------------ columns
    @staticmethod
    def _frozen(values: np.ndarray) -> np.ndarray:
        values.flags.writeable = False
        return values

    def _column(self, name: str) -> str:
        """Key of a whole column in ``_values``, aligned with the gallery's rows (NaN where a
        galaxy is missing)."""
        if name not in self._values:
            frame, rows = self._sources[name]
            series = frame[name]
            dtype = np.float32 if series.dtype == np.float32 else np.float64
            values = series.to_numpy(dtype=dtype, na_value=np.nan)
            if rows is not None:
                values = np.where(rows >= 0, values[rows], np.nan).astype(dtype)
            self._values[name] = self._frozen(values)
        return name

    def _stem(self, name: str, where: str) -> str:
        stems = self._keys.get(name.lower())
        if stems is None:
            raise self._unknown(name, where)
        if len(stems) > 1:
            raise FilterError(
                f"{name!r}{where} could mean {len(stems)} answers: {', '.join(stems)}; "
                f"write one of {', '.join(self._name_of(s) for s in stems)}")
        return stems[0]

    def _unknown(self, name: str, where: str) -> FilterError:
        if name in self._text:
            return FilterError(f"{name!r}{where} is a text column: filters and sorts use "
                               "number columns")
        known = [k for k in (*self._spelled.values(), *self._sources)
                 if "." not in k or "." in name]
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        close_text = f"; did you mean {' or '.join(map(typed, close))}?" if close else ""
        return FilterError(f"unknown name {name!r}{where}{close_text} ({self._hint()})")

    def _hint(self) -> str:
        """What names there are, as a filter spells them (for unknown names)."""
        if self.stems:
            return (f"names are the predicted answers ({_listed(self.names())}), "
                    "ANSWER.share, ANSWER.uncertainty, and number columns of the "
                    "predictions or catalog")
        if self.predicted:
            return (f"names are the predicted columns ({_listed(self.predicted_names())}) "
                    "and number columns of the catalog")
        columns = _listed([typed(k) for k in self._sources]) or "none"
        return ("no predictions are loaded (galmorph serve --predictions FILE); "
                f"number columns: {columns}")

    def _derived(self, name: str, suffix: str, where: str) -> str:
        """Key in ``_values`` of ``ANSWER.uncertainty`` or ``ANSWER.share`` (``suffix``)."""
        what = {UNCERTAINTY: "a 90% interval", SHARE: "a share of all volunteers"}[suffix]
        base = name[:-len(suffix)]
        if base in self._sources and base.lower() not in self._keys:
            base = base.removesuffix("_fraction")
            if base.lower() not in self._keys:
                raise FilterError(f"{name!r}{where}: only predicted answers have {what} "
                                  f"(bar{suffix})")
        stem = self._stem(base, where)
        key = stem + suffix
        if key not in self._values:
            needed = ((f"{stem}_lower90", f"{stem}_upper90") if suffix == UNCERTAINTY
                      else (f"{stem}_fraction", self._asked[stem]))
            if any(column not in self._sources for column in needed):
                raise FilterError(f"{name!r}{where} needs the columns {' and '.join(needed)}, "
                                  "which the predictions lack")
            first, second = (self._values[self._column(c)] for c in needed)
            self._values[key] = self._frozen(second - first if suffix == UNCERTAINTY
                                             else first * second)
        return key

    def _key(self, name: str, where: str) -> str:
        """Key in ``_values`` of what ``name`` means (computed on first use)."""
        for suffix in (UNCERTAINTY, SHARE):
            if name.lower().endswith(suffix):
                return self._derived(name, suffix, where)
        if name in self._sources:
            return self._column(name)
        same = [c for c in self._sources if c.lower() == name.lower()]
        if len(same) == 1:
            return self._column(same[0])
        return self._column(self._stem(name, where) + "_fraction")

    def values(self, name: str) -> np.ndarray:
        """``(n,)`` read-only float values of ``name`` per gallery row (NaN where unknown),
        resolved as in filters: ``bar``, ``a06_bar``, ``bar.uncertainty``, ``bar.share``,
        ``ra``, ``prob_not ring`` or `` `prob_not ring` ``...

        Raises:
            FilterError: for an unknown name (with close matches) or an ambiguous one.
        """
        return self._values[self._key(unquote(name.strip()), "")]

    # ---------------------------------------------------------- selecting
    def _mask(self, where: str, text: str) -> np.ndarray | None:
        mask = None
        if where:
            mask = evaluate(parse(where), lambda name: self._values[self._key(
                name.text, f" at character {name.position}")])
        if text:
            if self._lower_ids is None:
                self._lower_ids = _lower_case(self.ids)
            found = np.char.find(self._lower_ids, text) >= 0
            mask = found if mask is None else mask & found
        return mask

    @staticmethod
    def sort_name(sort: str) -> str:
        """The name a sort orders by, without its sign (``-bar`` → ``bar``); "" for none.

        Raises:
            FilterError: for a sign that names nothing.
        """
        sort = sort.strip()
        if not sort:
            return ""
        name = unquote(sort[1:].strip() if sort[0] in "-+" else sort)
        if not name:
            raise FilterError(f"sort {sort!r} names nothing: write NAME or -NAME, e.g. -bar")
        return name

    def _sorted(self, sort: str) -> np.ndarray | None:
        name = self.sort_name(sort)
        if not name:
            return None
        key = (self._key(name, " in sort"), sort.startswith("-"))
        with self._lock:
            order = self._orders.get(key)
            if order is not None:
                self._orders.move_to_end(key)
                return order
        order = self._frozen(_order(self._values[key[0]], key[1]))
        with self._lock:
            self._orders[key] = order
            while len(self._orders) > MAX_ORDERS:
                self._orders.popitem(last=False)
        return order

    def select(self, where: str = "", sort: str = "", q: str = "") -> np.ndarray:
        """Read-only row numbers of the galaxies that pass ``where`` and whose id contains
        ``q`` (case-insensitive), in the order of ``sort`` (``NAME`` ascending, ``-NAME``
        descending; stable, NaN last), else in row order.

        Raises:
            FilterError: for a filter or sort that cannot be read, saying why.
        """
        key = (where.strip(), sort.strip(), q.strip().lower())
        with self._lock:
            rows = self._selections.get(key)
            if rows is not None:
                self._selections.move_to_end(key)
                return rows
        mask = self._mask(key[0], key[2])
        order = self._sorted(key[1])
        if order is None:
            rows = np.arange(len(self.ids)) if mask is None else np.flatnonzero(mask)
        else:
            rows = order if mask is None else order[mask[order]]
        rows = self._frozen(rows)
        with self._lock:
            self._selections[key] = rows
            while len(self._selections) > MAX_SELECTIONS:
                self._selections.popitem(last=False)
        return rows

    def frame(self, rows: np.ndarray) -> pd.DataFrame:
        """The galaxies of ``rows``, in that order, as a table to export: ``id_str``, ``ra``
        and ``dec`` where known, then each predicted answer's fraction (or a classifier's
        column), named as filters name them."""
        table = {"id_str": self.ids[rows]}
        for name in ("ra", "dec"):
            if name in self._sources:
                table[name] = self.values(name)[rows]
        for name in [*self.names(), *self.predicted]:
            table[unquote(name)] = self.values(name)[rows]
        return pd.DataFrame(table)
