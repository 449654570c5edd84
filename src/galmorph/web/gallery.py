"""What ``galmorph serve`` shows: galaxies, their images and predictions, searches, labels.

:class:`Gallery` reads everything once at start-up (embeddings, optional catalog,
predictions and anomaly session) and answers the web app's questions in plain
Python types, so it can be used and tested without HTTP. Galaxies are named by
``id_str`` only; image paths never leave this module.

Example:
    >>> gallery = Gallery("emb.parquet", session="hunt.db")  # doctest: +SKIP
    >>> gallery.page(1, 24)["total"]  # doctest: +SKIP
    630
"""

from __future__ import annotations

import base64
import math
import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from galmorph.data.fits_images import band_files, image_exists
from galmorph.exceptions import GalmorphError, GalmorphWarning, ImageError
from galmorph.web.detail import AnswerRows
from galmorph.web.pictures import BROWSER_IMAGE_TYPES, png_bytes, upload_notes, write_upload
from galmorph.web.summary import PredictionSummary
from galmorph.web.table import GalaxyTable

if TYPE_CHECKING:
    from galmorph.anomaly.session import AnomalySession
    from galmorph.search.search import SimilarityResult, SimilaritySearch
    from galmorph.web.map_view import MapView

#: Largest page of the browse grid.
MAX_PAGE_SIZE = 200
#: Largest number of neighbours or ranking rows one request may ask for.
MAX_RESULTS = 500


class UnknownGalaxy(GalmorphError):
    """A galaxy id that is not in the loaded catalog."""


class NoSession(GalmorphError):
    """A labelling action on a gallery started without ``--session``."""


class NoLabels(GalmorphError):
    """A ranking asked for before any score, when the session's method learns from scores."""


#: Why there is no ranking yet (what the web page shows).
NO_LABELS = ("No scores yet. Score some galaxies in the Label tab first: the ranking learns "
             "from your scores.")


def _number(value: Any) -> float | None:
    """A JSON-safe float: None for NaN."""
    value = float(value)
    return None if math.isnan(value) else value


class Gallery:
    """The loaded galaxies and the jobs the web app runs on them.

    Args:
        embeddings: parquet file from ``galmorph embed``, or the folder it writes for a
            partitioned catalog (searched with an index built a partition at a time; with
            a ``session``, the anomaly hunt holds every galaxy's features in memory).
        catalog: table whose ``file_loc`` gives the images (default: the
            embeddings' own ``file_loc``).
        predictions: table from ``galmorph predict``, for morphology summaries
            (and artefact flags of a new session).
        session: anomaly session file; started on these embeddings when it does
            not exist (with ``batch_size`` galaxies per batch).
        model: the embeddings' model, if it is not where the file records it
            (needed to search by an uploaded image).

    Raises:
        GalmorphError: for unreadable inputs, or a catalog or predictions that share no
            galaxy with the embeddings (see :mod:`galmorph.web.sources`, which also warns
            of missing images and galaxies the catalog or predictions lack).
    """

    def __init__(
        self,
        embeddings: str | Path,
        *,
        catalog: str | Path | None = None,
        predictions: str | Path | None = None,
        session: str | Path | None = None,
        model: str | Path | None = None,
        batch_size: int | None = None,
    ) -> None:
        from galmorph.data.catalog import load_catalog
        from galmorph.inference.embedding_folder import open_embeddings
        from galmorph.web import sources

        self.embeddings = open_embeddings(embeddings)
        emb = self.embeddings
        self.ids = emb.ids.astype(str)
        self.rows = pd.Index(self.ids)
        self.rows.get_indexer(self.rows[:1])  # build the id lookup now, not on a request
        self.model = model
        frame = load_catalog(catalog, check_images=False) if catalog is not None else None
        #: Image path per row (text; None when unknown), never sent to the browser.
        self.files = sources.image_files(self.ids, frame, catalog, emb.file_loc, embeddings)
        sources.check_images(self.files, embeddings, catalog)
        table = (sources.read_predictions(predictions, self.ids, embeddings)
                 if predictions is not None else None)
        self.summary = PredictionSummary(table, str(predictions)) if table is not None else None
        #: The galaxies' numbers to filter and sort by (predictions, catalog, positions).
        self.table = GalaxyTable(self.ids, predictions=table, catalog=frame,
                                 columns={"ra": emb.ra, "dec": emb.dec})
        #: Each galaxy's predicted answers with intervals, for its page; None: no predictions.
        self.answers = AnswerRows(table) if table is not None else None
        self.session: AnomalySession | None = None
        if session is not None:
            flags = (sources.artefact_source(predictions, table)
                     if predictions is not None and table is not None
                     and not Path(session).exists() else None)
            self.session = self._open_session(Path(embeddings), Path(session), flags, batch_size)
        self._search: SimilaritySearch | None = None
        #: The 2-D map of the Map tab (``MapView.load(gallery)``); None: no map.
        self.map_view: MapView | None = None
        self._lock = threading.RLock()
        from galmorph.search.id_lookup import IdLookup

        #: Rows by id as people type them, also in another case (built on first use).
        self.id_lookup = IdLookup(self.rows)

    @staticmethod
    def _open_session(embeddings: Path, path: Path, predictions: str | Path | None,
                      batch_size: int | None) -> AnomalySession:
        from galmorph.anomaly.defaults import DEFAULT_BATCH_SIZE
        from galmorph.anomaly.session import AnomalySession

        if path.exists():
            return AnomalySession.open(path, embeddings=embeddings)
        return AnomalySession.start(embeddings, path, predictions=predictions,
                                    batch_size=batch_size or DEFAULT_BATCH_SIZE)

    def close(self) -> None:
        """Close the session file, if any."""
        if self.session is not None:
            self.session.close()

    # ------------------------------------------------------------ galaxies
    def row(self, galaxy_id: str) -> int:
        """Row of ``galaxy_id``; :class:`UnknownGalaxy` when it is not loaded."""
        row = self.rows.get_indexer([galaxy_id])[0]
        if row < 0:
            raise UnknownGalaxy(f"no galaxy {galaxy_id!r} in this catalog")
        return int(row)

    def describe(self, row: int, labels: dict[str, float] | None = None) -> dict[str, Any]:
        """JSON-ready facts of one galaxy: id, position, summary, the user's score, and
        ``has_image``: whether its image file is there now."""
        galaxy_id = str(self.ids[row])
        file = self.files[row]
        info: dict[str, Any] = {"id": galaxy_id,
                                "has_image": file is not None and image_exists(file)}
        emb = self.embeddings
        if emb.ra is not None and emb.dec is not None:
            info["ra"], info["dec"] = _number(emb.ra[row]), _number(emb.dec[row])
        if self.summary is not None:
            info["summary"] = self.summary(galaxy_id)
        if labels is not None:
            info["score"] = labels.get(galaxy_id)
        return info

    def labels(self) -> dict[str, float] | None:
        """Every score given, by id; None without a session."""
        return self.session.store.labels() if self.session is not None else None

    def page(self, page: int = 1, per_page: int = 48, query: str = "", where: str = "",
             sort: str = "") -> dict[str, Any]:
        """One page of the galaxies whose id contains ``query`` (case-insensitive) and that
        pass the filter ``where``, in the order of ``sort`` (see :mod:`galmorph.web.table`).

        Raises:
            FilterError: for a filter or sort that cannot be read, saying why.
        """
        per_page = max(1, min(per_page, MAX_PAGE_SIZE))
        rows = self.table.select(where, sort, query)
        pages = max(1, math.ceil(len(rows) / per_page))
        page = max(1, min(page, pages))
        with self._lock:
            labels = self.labels()
        chosen = rows[(page - 1) * per_page: page * per_page]
        galaxies = [self.describe(int(r), labels) for r in chosen]
        if name := self.table.sort_name(sort):  # each card shows what orders it
            values = self.table.values(name)
            for galaxy, row in zip(galaxies, chosen, strict=True):
                galaxy["sorted"] = {"name": name, "value": _number(values[row])}
        return {"total": int(len(rows)), "page": page, "pages": pages, "per_page": per_page,
                "where": where, "sort": sort, "galaxies": galaxies}

    def info(self) -> dict[str, Any]:
        """What is loaded, for the page header."""
        info = self.embeddings.info
        return {
            "n_galaxies": len(self.ids),
            "model": info.model.get("name", ""),
            "n_features": info.n_features,
            "has_coordinates": self.embeddings.has_coordinates,
            "has_predictions": self.summary is not None,
            "answers": self.table.names(),
            # a classifier's prob_<class> columns, as filters spell them (`prob_not ring`)
            "columns": self.table.predicted_names(),
            "has_session": self.session is not None,
            "session": self.session.store.path.name if self.session is not None else None,
            "n_labels": self.session.store.n_labels() if self.session is not None else None,
            # active learning ranks nothing before the first score (the baselines do)
            "ranking_needs_labels": (self.session is not None
                                     and self.session.settings.method == "active"),
        }

    # -------------------------------------------------------------- images
    def image(self, galaxy_id: str) -> tuple[Path | bytes, str]:
        """A galaxy's image: ``(path, media type)`` for JPEG/PNG, else ``(PNG bytes, "image/png")``.

        Raises:
            UnknownGalaxy: for an id that is not loaded, or one without an image.
            ImageError: when the file cannot be read.
        """
        file = self.files[self.row(galaxy_id)]
        if file is None:
            raise UnknownGalaxy(f"galaxy {galaxy_id!r} has no image")
        path = Path(file)
        media = None if band_files(path) else BROWSER_IMAGE_TYPES.get(path.suffix.lower())
        if media is not None:
            if not path.is_file():
                raise UnknownGalaxy(f"the image of galaxy {galaxy_id!r} is missing")
            return path, media
        return png_bytes(path), "image/png"

    # ---------------------------------------------------------- similarity
    @property
    def search(self) -> SimilaritySearch:
        """The similarity search (built on first use)."""
        with self._lock:
            if self._search is None:
                from galmorph.search.search import SimilaritySearch

                self._search = SimilaritySearch(self.embeddings)
                self._search.id_lookup = self.id_lookup  # one index of the ids, not two
            return self._search

    def neighbours(self, result: SimilarityResult) -> list[dict[str, Any]]:
        """The found galaxies of a search, described, with ``rank`` and ``distance``."""
        labels = self.labels()
        found = []
        for rank, row, distance in zip(result.neighbours["rank"], result.neighbours["row"],
                                       result.neighbours["distance"], strict=True):
            found.append({**self.describe(int(row), labels), "rank": int(rank),
                          "distance": _number(distance)})
        return found

    def similar(self, galaxy_id: str, k: int = 12) -> dict[str, Any]:
        """The ``k`` galaxies most like ``galaxy_id`` (itself and its duplicates left out)."""
        row = self.row(galaxy_id)
        k = max(1, min(k, MAX_RESULTS, len(self.ids) - 1))
        result = self.search.by_row(row, k)
        return {"query": self.describe(row, self.labels()), "metric": result.metric,
                "neighbours": self.neighbours(result)}

    def similar_to_upload(self, files: Sequence[tuple[str, bytes]],
                          k: int = 12) -> dict[str, Any]:
        """The ``k`` galaxies most like an uploaded image: ``files``, its ``(filename,
        bytes)``, one file or one FITS file per band (see :mod:`galmorph.web.pictures`).
        A FITS upload's query has ``preview``, a PNG data URL of what was read; ``notes``
        says how the image differs from the model's training images (size, channels,
        stretch), as the command line warns.

        Raises:
            ImageError: when the files are not one readable jpg, png or FITS image.
        """
        shown = ", ".join(name for name, _ in files)
        k = max(1, min(k, MAX_RESULTS, len(self.ids)))
        with tempfile.TemporaryDirectory(prefix="galmorph-upload-") as folder:
            path = write_upload(files, Path(folder))
            try:
                preview = png_bytes(path)
            except ImageError as err:
                if len(files) == 1:
                    raise ImageError(f"{shown!r} is not a readable image") from None
                raise ImageError(str(err).replace(f"{folder}{os.sep}", "")) from None
            # process-wide: a warning another request raises meanwhile is caught here too
            # (rare: a galmorph one would join these notes; others are issued again)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", GalmorphWarning)
                result = self.search.by_image(path, k, model=self.model)
        query: dict[str, Any] = {"id": shown, "notes": upload_notes(caught, path, shown)}
        if path.suffix.lower() not in BROWSER_IMAGE_TYPES:
            query["preview"] = "data:image/png;base64," + base64.b64encode(preview).decode()
        return {"query": query, "metric": result.metric, "neighbours": self.neighbours(result)}

    # ------------------------------------------------------------ labelling
    def _session(self) -> AnomalySession:
        if self.session is None:
            raise NoSession("no labelling session: start galmorph serve with --session FILE.db")
        return self.session

    def batch(self, *, new: bool = False) -> dict[str, Any]:
        """The latest batch to label, whole (scored galaxies keep their score).

        A batch is proposed when there is none, or with ``new`` (the model is
        refitted to every label so far: "retrain"). Before any score there is nothing
        to refit to, and ``new`` keeps the batch. ``retrained``: whether it was refitted;
        ``notice``: what the researcher should know about the scores (all one value), or None.
        """
        with self._lock:
            session = self._session()
            latest = session.store.latest_batch()
            retrained = new and (latest is None or session.store.n_labels() > 0)
            if latest is None or retrained:
                session.next_batch(new=True)
                latest = session.store.latest_batch()
            labels = session.store.labels()
            galaxies = []
            for i, galaxy_id in enumerate(latest.ids):
                values = latest.values.iloc[i]
                galaxies.append({**self.describe(self.row(galaxy_id), labels),
                                 "predicted": _number(values["predicted"]),
                                 "std": _number(values["std"])})
            return {"batch": latest.batch_id, "method": latest.method,
                    "n_labels": len(labels), "retrained": retrained,
                    "notice": session.notice(), "galaxies": galaxies}

    def label(self, galaxy_id: str, score: float) -> dict[str, Any]:
        """Store a score from 0 to 5 for a loaded galaxy."""
        with self._lock:
            session = self._session()
            self.row(galaxy_id)
            record = session.label(galaxy_id, score)
            return {"id": galaxy_id, "score": record.score, "n_labels": session.store.n_labels()}

    def ranking(self, limit: int = 50) -> dict[str, Any]:
        """The ``limit`` most interesting galaxies (see :meth:`AnomalySession.ranking`) and
        a ``notice`` when the scores cannot yet say much (all one value), else None;
        :class:`NoLabels` before the first score when the session's method needs scores."""
        limit = max(1, min(limit, MAX_RESULTS))
        frame = self._ranking()
        rows = []
        for item in frame.head(limit).itertuples():
            rows.append({**self.describe(self.row(item.id_str)), "rank": int(item.rank),
                         "interest": _number(item.interest), "labelled": bool(item.labelled)})
        with self._lock:
            notice = self._session().notice()
        return {"n_ranked": len(frame), "notice": notice, "galaxies": rows}

    def labels_table(self) -> pd.DataFrame:
        """Every label: ``id_str``, ``score``, ``labelled_at`` (UTC), ``ra``, ``dec``."""
        with self._lock:
            history = self._session().store.history()
        latest = {record.galaxy_id: record for record in history}
        frame = pd.DataFrame({
            "id_str": list(latest),
            "score": [r.score for r in latest.values()],
            "labelled_at": [r.labelled_at for r in latest.values()],
        })
        self._add_positions(frame)
        return frame

    def ranking_table(self) -> pd.DataFrame:
        """The whole ranking, without image paths."""
        return self._ranking().drop(columns=["file_loc"], errors="ignore")

    def _ranking(self) -> pd.DataFrame:
        """The session's ranking; :class:`NoLabels` when it needs scores and has none."""
        with self._lock:
            session = self._session()
            try:
                return session.ranking()
            except GalmorphError:
                if session.store.n_labels() == 0:
                    raise NoLabels(NO_LABELS) from None
                raise

    def _add_positions(self, frame: pd.DataFrame) -> None:
        emb = self.embeddings
        if emb.ra is not None and emb.dec is not None and len(frame):
            rows = self.rows.get_indexer(frame["id_str"])
            frame["ra"], frame["dec"] = emb.ra[rows], emb.dec[rows]


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as UTF-8 CSV, without its index."""
    return frame.to_csv(index=False).encode()
