"""Personalised anomaly hunts: an embeddings file and its session file, together.

The researcher scores galaxies from 0 (boring) to 5 (fascinating); a model learns
their taste from the representation and proposes what to look at next.

:class:`AnomalySession` ties one embeddings file to a session file
(:class:`galmorph.anomaly.labels.LabelStore`): it proposes batches, stores labels and ranks
every galaxy. A ranking orders galaxies on one 0–5 scale: labelled galaxies by the score the
researcher gave, the others by the method's prediction (active learning: the GP's mean;
baselines: their score mapped onto 0–5, :func:`~galmorph.anomaly.baselines.scale_scores`);
on a tie the labelled galaxy comes first.

Example
-------
>>> session = AnomalySession.start("emb.parquet", "hunt.db")  # doctest: +SKIP
>>> batch = session.next_batch()  # doctest: +SKIP
>>> session.label(batch.ids[0], 4)  # doctest: +SKIP
>>> session.ranking().head()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from galmorph.anomaly.baselines import artefact_flags, isolation_forest_scores, lof_scores
from galmorph.anomaly.checks import (
    check_new_session,
    check_same_galaxies,
    check_same_model,
    check_settings,
    one_value_notice,
    path_argument,
    warn_if_one_value,
)
from galmorph.anomaly.defaults import (
    DEFAULT_ARTEFACT_THRESHOLD,
    DEFAULT_BATCH_SIZE,
    DEFAULT_PCA,
    DEFAULT_XI,
)
from galmorph.anomaly.features import InterestTransform, fit_interest_features
from galmorph.anomaly.fingerprint import check_same_features, feature_record
from galmorph.anomaly.labels import LabelStore
from galmorph.anomaly.methods import check_method, predict_interest, propose
from galmorph.anomaly.ranking import rank_order
from galmorph.anomaly.records import MAX_SCORE, MIN_SCORE, Batch, LabelRecord, check_score
from galmorph.exceptions import GalmorphError
from galmorph.files import user_path
from galmorph.inference.embedding_folder import read_all_embeddings
from galmorph.inference.embeddings import Embeddings
from galmorph.inference.resumable import ids_digest


@dataclass(frozen=True)
class SessionSettings:
    """How a session proposes and ranks; stored in its file (see :class:`AnomalySession`).

    Attributes:
        embeddings: absolute path of the embeddings file or folder.
        method: one of :data:`~galmorph.anomaly.defaults.METHODS`.
        pca: principal components of the interest features.
        xi: exploration trade-off ξ of the expected improvement.
        batch_size: galaxies per proposed batch.
        seed: seed of the cold start, the forests and the PCA.
        include_artefacts: propose and rank flagged galaxies too.
        artefact_source: the predictions file the flags came from, if any.
        artefact_column: its fraction column.
        artefact_threshold: the fraction at or above which a galaxy is flagged.
        model: the embeddings' model (name and sha256), for the record.
        ids_sha256: checksum of the embeddings' ids, to notice a changed file.
        features: what identifies the embeddings' features (see
            :mod:`~galmorph.anomaly.fingerprint`), to refuse others; empty in sessions
            made before it was recorded.
    """

    embeddings: str
    method: str = "active"
    pca: int = DEFAULT_PCA
    xi: float = DEFAULT_XI
    batch_size: int = DEFAULT_BATCH_SIZE
    seed: int = 0
    include_artefacts: bool = False
    artefact_source: str | None = None
    artefact_column: str | None = None
    artefact_threshold: float = DEFAULT_ARTEFACT_THRESHOLD
    model: dict[str, str] = field(default_factory=dict)
    ids_sha256: str = ""
    features: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SessionSettings:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in values.items() if k in known})


class AnomalySession:
    """An embeddings file and a session file (:class:`~galmorph.anomaly.labels.LabelStore`).

    Make one with :meth:`start`, continue one with :meth:`open`. Labels are
    written through immediately; nothing else needs saving.
    """

    def __init__(self, store: LabelStore, embeddings: Embeddings,
                 settings: SessionSettings) -> None:
        self.store = store
        self.embeddings = embeddings
        self.settings = settings
        self._features: np.ndarray | None = None
        self._transform: InterestTransform | None = None
        self._galaxies: pd.DataFrame | None = None

    def __repr__(self) -> str:
        """One line: the session file, its galaxies, labels (or closed) and method."""
        try:
            labels = f"{self.store.n_labels()} labels"
        except GalmorphError:  # closed, or its file gone
            labels = "closed"
        return (f"AnomalySession({str(self.store.path)!r}, {len(self.embeddings)} galaxies, "
                f"{labels}, method={self.settings.method!r})")

    # --------------------------------------------------------- lifecycle

    @classmethod
    def start(
        cls,
        embeddings: str | Path,
        session: str | Path,
        *,
        method: str = "active",
        pca: int = DEFAULT_PCA,
        xi: float = DEFAULT_XI,
        batch_size: int = DEFAULT_BATCH_SIZE,
        seed: int = 0,
        predictions: pd.DataFrame | str | Path | None = None,
        artefact_column: str | None = None,
        artefact_threshold: float = DEFAULT_ARTEFACT_THRESHOLD,
        include_artefacts: bool = False,
        overwrite: bool = False,
    ) -> AnomalySession:
        """Start a session: settings, galaxies, their isolation-forest scores and artefact flags.

        Args:
            embeddings: path of the parquet file from ``galmorph embed``, or of the
                folder it writes for a partitioned catalog (``~`` is the home folder), or
                embeddings read from one.
            session: path of the session file to create.
            predictions: table (file, or partitioned output folder) from ``galmorph
                predict`` to flag artefacts with
                (:func:`~galmorph.anomaly.baselines.artefact_flags`); None: no flags.
            overwrite: replace an existing session file.

        Raises:
            TypeError: when ``embeddings`` or ``session`` is not a path (or Embeddings read
                from one).
            GalmorphError: for bad embeddings or predictions; a ``session`` that is a
                folder, or exists without ``overwrite``; bad settings
                (:class:`~galmorph.anomaly.checks.SettingError`, also a ValueError, naming
                the argument: ``pca``, ``batch_size`` whole numbers ≥ 1, ``seed`` ≥ 0,
                ``xi`` a finite number ≥ 0, ``artefact_threshold`` from 0 to 1).
        """
        from galmorph.inference.manifest import read_output

        embeddings = path_argument(embeddings, "embeddings")
        check_method(method)
        checked = check_settings(pca=pca, xi=xi, batch_size=batch_size, seed=seed,
                                 artefact_threshold=artefact_threshold)
        check_new_session(session, overwrite)
        emb = read_all_embeddings(embeddings)
        if len(emb) < 2:
            raise GalmorphError(f"{embeddings} holds {len(emb)} galaxy: a session needs at "
                                "least 2")
        values: dict[str, np.ndarray] = {}
        source = column = None
        if predictions is not None:
            table = (predictions if isinstance(predictions, pd.DataFrame)
                     else read_output(user_path(predictions), "predict"))
            source = None if isinstance(predictions, pd.DataFrame) else str(
                user_path(predictions).resolve())
            flags, fractions, column = artefact_flags(
                table, emb.ids, column=artefact_column, threshold=checked["artefact_threshold"],
                source=f"predictions file {predictions}" if source else "the predictions table")
            values.update(artefact=flags, artefact_value=fractions)
        settings = SessionSettings(
            embeddings=str(embeddings.resolve()), method=method, **checked,
            include_artefacts=include_artefacts, artefact_source=source, artefact_column=column,
            model={k: emb.info.model.get(k, "") for k in ("name", "sha256")},
            ids_sha256=ids_digest(emb.ids), features=feature_record(emb.info, emb.features),
        )
        features, transform = fit_interest_features(emb.features, settings.pca,
                                                    seed=settings.seed)
        values["isolation_forest"] = isolation_forest_scores(features, seed=settings.seed)
        if method == "lof":
            values["lof"] = lof_scores(features, seed=settings.seed)
        store = LabelStore.create(session, asdict(settings), emb.ids, values=values,
                                  overwrite=overwrite)
        session_ = cls(store, emb, settings)
        session_._features, session_._transform = features, transform
        return session_

    @classmethod
    def open(cls, session: str | Path, *, embeddings: str | Path | None = None
             ) -> AnomalySession:
        """Continue a session; ``embeddings`` gives the embeddings' new path (a moved file).

        The new path is recorded in the session once its model, galaxies and features
        are checked.

        Raises:
            GalmorphError: when the embeddings were made by another model than the
                session's, or their galaxies or features differ from the session's (the
                session is left as it was).
        """
        store = LabelStore.open(session)
        try:
            settings = SessionSettings.from_dict(store.settings())
            path = path_argument(settings.embeddings if embeddings is None else embeddings,
                                "embeddings")
            if embeddings is None and not path.exists():
                raise GalmorphError(f"the session's embeddings file {path} is missing; pass "
                                    "its new location: embeddings=PATH (--embeddings PATH)")
            emb = read_all_embeddings(path)
            check_same_model(settings.model, emb.info.model, path)
            if ids_digest(emb.ids) != settings.ids_sha256:
                check_same_galaxies(store.galaxies()["id_str"].tolist(), emb.ids.tolist(),
                                    path, session)
            if settings.features:  # not in sessions made before it was recorded
                check_same_features(settings.features, feature_record(emb.info, emb.features),
                                    path, session, settings.embeddings)
        except BaseException:
            store.close()
            raise
        moved = str(path.resolve())
        if moved != settings.embeddings:
            store.update_settings({"embeddings": moved})
            settings = replace(settings, embeddings=moved)
        return cls(store, emb, settings)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> AnomalySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------- state
    @property
    def features(self) -> np.ndarray:
        """Standardised interest features of every galaxy (computed once)."""
        return self._interest()[0]

    @property
    def transform(self) -> InterestTransform:
        """What made :attr:`features` from the embeddings' features, to put other
        galaxies' in the same space (see :mod:`galmorph.anomaly.scoring`)."""
        return self._interest()[1]

    def _interest(self) -> tuple[np.ndarray, InterestTransform]:
        if self._features is None or self._transform is None:
            self._features, self._transform = fit_interest_features(
                self.embeddings.features, self.settings.pca, seed=self.settings.seed)
        return self._features, self._transform

    @property
    def galaxies(self) -> pd.DataFrame:
        """The session's galaxy table (see :meth:`~galmorph.anomaly.labels.LabelStore.galaxies`)."""
        if self._galaxies is None:
            self._galaxies = self.store.galaxies()
        return self._galaxies

    def labelled(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows and current scores of the labelled galaxies."""
        labels = self.store.labels()
        rows = pd.Index(self.embeddings.ids).get_indexer(list(labels))
        return rows.astype(np.int64), np.fromiter(labels.values(), dtype=np.float64,
                                                  count=len(labels))

    def _anomaly(self, method: str) -> np.ndarray | None:
        if method == "lof":
            lof = self.galaxies["lof"].to_numpy(dtype=np.float64)
            if np.isnan(lof).all():
                lof = lof_scores(self.features, seed=self.settings.seed)
                self.store.set_galaxy_values({"lof": lof})
                self._galaxies = None
            return lof
        if method in ("isolation-forest", "reweighted-forest"):
            return self.galaxies["isolation_forest"].to_numpy(dtype=np.float64)
        return None

    def _eligible(self, include_artefacts: bool | None) -> np.ndarray:
        if include_artefacts is None:
            include_artefacts = self.settings.include_artefacts
        if include_artefacts:
            return np.ones(len(self.embeddings), dtype=bool)
        return ~self.galaxies["artefact"].to_numpy(dtype=bool)

    # ----------------------------------------------------------- actions
    def label(self, galaxy_id: str, score: float) -> LabelRecord:
        """Store a score (0–5) durably; see :meth:`~galmorph.anomaly.labels.LabelStore.label`."""
        return self.store.label(galaxy_id, check_score(score))

    def label_many(self, pairs: Iterable[tuple[str, float]] | Mapping[str, float], *,
                   source: str = "user") -> list[LabelRecord]:
        """Store several scores in one transaction: all or none. ``pairs``: ``(id, score)``
        pairs (e.g. ``zip(table.id_str, table.score)``) or a dict ``{id: score}`` (see
        :meth:`~galmorph.anomaly.labels.LabelStore.label_many`)."""
        return self.store.label_many(pairs, source=source)

    def next_batch(self, *, new: bool = False) -> Batch:
        """The galaxies to label next: the unlabelled rest of the latest batch, or a new batch.

        A new batch is proposed (and recorded) when the latest one is fully
        labelled, when there is none, or with ``new``.

        Raises:
            GalmorphError: when every eligible galaxy is labelled.
        """
        labels = self.store.labels()
        latest = self.store.latest_batch()
        if latest is not None and not new:
            waiting = [i for i, g in enumerate(latest.ids) if g not in labels]
            if waiting:
                return Batch(latest.batch_id, latest.created_at, latest.method, latest.n_labels,
                             [latest.ids[i] for i in waiting],
                             latest.values.iloc[waiting].reset_index(drop=True), latest.details)
        settings = self.settings
        rows, scores = self.labelled()
        candidates = self._eligible(None)
        candidates[rows] = False
        if not candidates.any():
            raise GalmorphError("every galaxy that can be proposed is labelled already: rank "
                                "them (`galmorph anomaly rank`)")
        warn_if_one_value(scores, settings.method)
        chosen, table, details = propose(
            settings.method, self.features, rows, scores, candidates=candidates,
            batch_size=settings.batch_size, xi=settings.xi,
            anomaly=self._anomaly(settings.method), seed=settings.seed,
        )
        method = "cold-start" if settings.method == "active" and not len(rows) else settings.method
        return self.store.record_batch(self.embeddings.ids[chosen].tolist(), method, table,
                                       details)

    def notice(self) -> str | None:
        """What the researcher should know about the scores so far (all one value), or None."""
        return one_value_notice(self.labelled()[1], self.settings.method)

    def ranking(self, *, method: str | None = None, include_artefacts: bool | None = None
                ) -> pd.DataFrame:
        """Every eligible galaxy, most interesting first.

        Columns: ``rank``, ``id_str``, ``interest`` (the score given if labelled,
        else the prediction, clipped to 0–5), ``labelled``, ``score`` (given; NaN if not),
        ``predicted`` (the method's, which may pass 5), ``isolation_forest``, ``artefact``, then
        ``ra``, ``dec``, ``file_loc`` when the embeddings have them.

        Args:
            method: rank with another method than the session's.
            include_artefacts: override the session's setting.
        """
        method = method or self.settings.method
        check_method(method)
        rows, scores = self.labelled()
        warn_if_one_value(scores, method)
        predicted = predict_interest(method, self.features, rows, scores,
                                     anomaly=self._anomaly(method),
                                     seed=self.settings.seed).predicted
        n = len(self.embeddings)
        labelled = np.zeros(n, dtype=bool)
        labelled[rows] = True
        given = np.full(n, np.nan)
        given[rows] = scores
        values = np.where(labelled, given, predicted)
        pool = np.flatnonzero(self._eligible(include_artefacts) | labelled)
        order = pool[rank_order(values[pool], labelled[pool])]
        interest = np.clip(values, MIN_SCORE, MAX_SCORE)  # the GP's mean may pass 5
        frame = pd.DataFrame({
            "rank": np.arange(1, len(order) + 1),
            "id_str": self.embeddings.ids[order],
            "interest": interest[order],
            "labelled": labelled[order],
            "score": given[order],
            "predicted": predicted[order],
            "isolation_forest": self.galaxies["isolation_forest"].to_numpy()[order],
            "artefact": self.galaxies["artefact"].to_numpy()[order],
        })
        emb = self.embeddings
        for name, column in (("ra", emb.ra), ("dec", emb.dec), ("file_loc", emb.file_loc)):
            if column is not None:
                frame[name] = np.asarray(column)[order]
        frame.attrs["galmorph"] = {"galmorph_anomaly_method": method,
                                   "galmorph_anomaly_labels": str(len(rows)),
                                   "galmorph_anomaly_session": str(self.store.path)}
        return frame
