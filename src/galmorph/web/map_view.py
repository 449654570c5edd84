"""The 2-D map of ``galmorph serve``: points in gallery row order, colours and selections.

:class:`MapView` holds the map of the embeddings (computed and cached beside them by
:func:`galmorph.inference.maps.ensure_map`) aligned to the gallery's rows by id, so
that row ``i`` of the coordinates the page draws is galaxy ``gallery.ids[i]``. It
answers the page's questions in plain numpy: the coordinates (sent as little-endian
float32 bytes), one value per row to colour by (a predicted answer, the user's label
score or the anomaly ranking's interest), and the galaxies inside a box or lasso
polygon drawn on the map (:func:`parse_polygon`, :func:`inside_polygon`).

Example:
    >>> import numpy as np
    >>> square = parse_polygon("0,0, 2,0, 2,2, 0,2")
    >>> inside_polygon(np.array([[1, 1], [3, 1]], dtype=np.float32), square).tolist()
    [True, False]
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from galmorph.data.tree import plain_name
from galmorph.exceptions import GalmorphError
from galmorph.numbers import reads_as_number
from galmorph.web.gallery import NoSession
from galmorph.web.summary import answer_label

if TYPE_CHECKING:
    from galmorph.inference.maps import GalaxyMap
    from galmorph.web.gallery import Gallery

#: Most vertices a selection polygon may have (the page simplifies its lassos below this).
MAX_POLYGON_VERTICES = 1000
#: Galaxies of a selection shown as cards under the map, unless the page asks for more.
SELECTION_SHOWN = 12
#: Longest polygon text accepted (characters).
MAX_POLYGON_TEXT = 40 * MAX_POLYGON_VERTICES
#: A GZ answer stem: question ``tNN_...``, answer ``aNN_...``.
_GZ_STEM = re.compile(r"(t[0-9]+_.+?)_(a[0-9]+_.+)")
#: Colour sources that come from the labelling session rather than the predictions.
SESSION_COLOURS = {"score": "your label score (0-5)",
                   "interest": "anomaly ranking: interest (0-5)"}


def align_map(ids: np.ndarray, map_ids: np.ndarray, xy: np.ndarray, source: str = "the map"
              ) -> np.ndarray:
    """The map's ``(n, 2)`` float32 coordinates in the order of ``ids`` (NaN where missing).

    The first occurrence of a repeated map id is used.

    Raises:
        GalmorphError: when the map shares no galaxy with ``ids``.

    Example:
        >>> align_map(np.array(["b", "c"]), np.array(["a", "b"]),
        ...           np.array([[0, 0], [1, 2]], dtype=np.float32)).tolist()
        [[1.0, 2.0], [nan, nan]]
    """
    xy = np.asarray(xy, dtype=np.float32)
    map_ids = np.asarray(map_ids).astype(str)
    if len(map_ids) == len(ids) and np.array_equal(map_ids, ids):
        return xy
    index = pd.Index(map_ids)
    first = ~index.duplicated()
    rows = index[first].get_indexer(ids)
    found = rows >= 0
    if not found.any():
        raise GalmorphError(f"{source} shares no galaxy with the embeddings: recompute it "
                            "(galmorph embed --map, or delete the map file)")
    aligned = np.full((len(ids), 2), np.nan, dtype=np.float32)
    aligned[found] = xy[first][rows[found]]
    return aligned


def float32_bytes(values: np.ndarray) -> bytes:
    """``values`` as little-endian float32 bytes, in C order (``(n, 2)``: ``x, y`` per row)."""
    return np.ascontiguousarray(values, dtype="<f4").tobytes()


def parse_polygon(text: str) -> np.ndarray:
    """A polygon ``"x1,y1,x2,y2,..."`` in map coordinates as ``(v, 2)`` float64.

    Raises:
        GalmorphError: for text that is not 3 to :data:`MAX_POLYGON_VERTICES` pairs of
            finite numbers.
    """
    if not text.strip():
        raise GalmorphError("no polygon: give polygon=x1,y1,x2,y2,... in map coordinates")
    if len(text) > MAX_POLYGON_TEXT:
        raise GalmorphError(f"the polygon is longer than {MAX_POLYGON_TEXT} characters")
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        bad = next(p for p in parts if not reads_as_number(p))
        raise GalmorphError(f"the polygon has {bad[:30]!r} where a number belongs: give "
                            "x1,y1,x2,y2,... in map coordinates") from None
    if not all(math.isfinite(v) for v in values):
        raise GalmorphError("the polygon's coordinates must be finite numbers")
    if len(values) % 2:
        raise GalmorphError(f"the polygon has {len(values)} numbers: give x,y pairs")
    vertices = len(values) // 2
    if not 3 <= vertices <= MAX_POLYGON_VERTICES:
        raise GalmorphError(f"the polygon has {vertices} vertices: give 3 to "
                            f"{MAX_POLYGON_VERTICES}")
    return np.array(values, dtype=np.float64).reshape(-1, 2)


def inside_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """``(n,)`` bool: which points ``(n, 2)`` lie inside ``polygon`` ``(v, 2)`` (even-odd rule).

    Concave and self-crossing polygons (lassos) are handled; NaN points are outside.
    """
    xy = np.asarray(xy)
    low, high = polygon.min(axis=0), polygon.max(axis=0)
    with np.errstate(invalid="ignore"):
        near = np.flatnonzero((xy[:, 0] >= low[0]) & (xy[:, 0] <= high[0])
                              & (xy[:, 1] >= low[1]) & (xy[:, 1] <= high[1]))
    x, y = xy[near, 0].astype(np.float64), xy[near, 1].astype(np.float64)
    inside = np.zeros(len(near), dtype=bool)
    x_prev, y_prev = polygon[-1]
    for x_next, y_next in polygon:
        if y_next != y_prev:
            crosses = (y_next > y) != (y_prev > y)
            at = x_next + (x_prev - x_next) * (y - y_next) / (y_prev - y_next)
            inside ^= crosses & (x < at)
        x_prev, y_prev = x_next, y_next
    mask = np.zeros(len(xy), dtype=bool)
    mask[near[inside]] = True
    return mask


def answer_title(name: str, stem: str) -> str:
    """``question: answer`` for a GZ-style answer stem (``t02_edgeon_a04_yes`` → ``edge-on:
    yes``); ``name`` for other stems."""
    match = _GZ_STEM.fullmatch(stem)
    if match is None:
        return name
    question = match.group(1)
    return f"{plain_name(question)}: {answer_label(question, stem)}"


class MapView:
    """The map's points in gallery row order.

    Attributes:
        xy: ``(n, 2)`` float32 map coordinates of the gallery's rows (NaN: not on the map).
        method: how the map was made (``umap`` or ``pca``).
        info: what the map file records about it.
    """

    def __init__(self, gallery: Gallery, galaxy_map: GalaxyMap, source: str = "the map"
                 ) -> None:
        self.gallery = gallery
        self.xy = align_map(gallery.ids, galaxy_map.ids, galaxy_map.xy, source)
        self.method = galaxy_map.method
        self.info = dict(galaxy_map.info)
        self._placed = np.isfinite(self.xy).all(axis=1)

    @classmethod
    def load(cls, gallery: Gallery, *, method: str = "auto", recompute: bool = False,
             on_compute: Callable[[str, int], None] | None = None) -> MapView:
        """The map of ``gallery``'s embeddings, computed and cached beside them when missing
        (``method``: ``auto``, ``umap`` or ``pca``; ``on_compute(method, n)`` is called
        before a computation).

        Raises:
            GalmorphError: when the map cannot be computed or read.
        """
        from galmorph.inference.maps import ensure_map, map_path

        path = gallery.embeddings.path
        if path is None:
            raise GalmorphError("the map needs embeddings read from a file or folder")
        galaxy_map = ensure_map(path, method=method, recompute=recompute,
                                on_compute=on_compute)
        return cls(gallery, galaxy_map, str(map_path(path)))

    def meta(self) -> dict[str, Any]:
        """What the page needs besides the points: counts, method, bounds, colour choices."""
        placed = self.xy[self._placed]
        low = placed.min(axis=0) if len(placed) else np.zeros(2)
        high = placed.max(axis=0) if len(placed) else np.ones(2)
        return {"count": len(self.xy), "placed": int(self._placed.sum()),
                "method": self.method,
                "bounds": [float(low[0]), float(low[1]), float(high[0]), float(high[1])],
                "colours": self.colour_choices()}

    def colour_choices(self) -> list[dict[str, str]]:
        """What the map can be coloured by: ``{"name", "label"}``, predicted answers first
        (``spiral`` labelled ``spiral: spiral``, ``yes`` ``edge-on: yes``), or a classifier's
        columns (`` `prob_not ring` `` labelled ``prob_not ring``)."""
        table = self.gallery.table
        choices = [{"name": name, "label": answer_title(name, stem)}
                   for name, stem in zip(table.names(), table.stems, strict=True)]
        choices += [{"name": name, "label": column}
                    for name, column in zip(table.predicted_names(), table.predicted,
                                            strict=True)]
        if self.gallery.session is not None:
            choices += [{"name": name, "label": label} for name, label in SESSION_COLOURS.items()]
        return choices

    def colour(self, by: str) -> np.ndarray:
        """``(n,)`` float32 value of each row for ``by`` (NaN: none).

        ``by`` is a predicted answer (a name :meth:`GalaxyTable.values` knows),
        ``score`` (the label given in this session) or ``interest`` (the anomaly
        ranking's: the score given, else the model's prediction).

        Raises:
            NoSession: for ``score`` or ``interest`` without a labelling session.
            GalmorphError: for a name that is none of these.
        """
        if by not in SESSION_COLOURS:
            return np.asarray(self.gallery.table.values(by), dtype=np.float32)
        if self.gallery.session is None:
            raise NoSession(f"colouring by {by} needs a labelling session: start galmorph "
                            "serve with --session FILE.db")
        frame = (self.gallery.labels_table() if by == "score"
                 else self.gallery.ranking_table())
        values = np.full(len(self.xy), np.nan, dtype=np.float32)
        rows = self.gallery.rows.get_indexer(frame["id_str"].astype(str))
        known = rows >= 0
        values[rows[known]] = frame[by].to_numpy(dtype=np.float32)[known]
        return values

    def sample(self, polygon: np.ndarray, n: int) -> tuple[int, np.ndarray]:
        """How many rows lie inside ``polygon``, and up to ``n`` of them drawn at random
        (the same ones for the same polygon), in gallery order: a look at what a
        selection holds."""
        rows = np.flatnonzero(inside_polygon(self.xy, polygon))
        shown = (np.sort(np.random.default_rng(0).choice(rows, n, replace=False))
                 if len(rows) > n else rows)
        return len(rows), shown

    def select(self, polygon: np.ndarray) -> pd.DataFrame:
        """The galaxies inside ``polygon`` (map coordinates): ``id_str``, ``x``, ``y``
        (and ``ra``, ``dec`` when known), in gallery order."""
        rows = np.flatnonzero(inside_polygon(self.xy, polygon))
        frame = pd.DataFrame({"id_str": self.gallery.ids[rows],
                              "x": self.xy[rows, 0], "y": self.xy[rows, 1]})
        emb = self.gallery.embeddings
        if emb.ra is not None and emb.dec is not None:
            frame["ra"], frame["dec"] = emb.ra[rows], emb.dec[rows]
        return frame
