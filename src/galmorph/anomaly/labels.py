"""A durable store of a researcher's interest scores: one SQLite file per session.

:class:`LabelStore` keeps everything an anomaly-hunting session needs to resume
(see :mod:`galmorph.anomaly.session`):

* ``settings``: key → JSON value (embeddings file, PCA dims, ξ, batch size, seed, ...);
* ``galaxies``: one row per galaxy of the embeddings (``row``, ``id_str``), with its
  unsupervised anomaly scores (``isolation_forest``, ``lof``) and artefact flag
  (``artefact``, ``artefact_value``);
* ``labels``: the current score (0–5) of every labelled galaxy;
* ``label_history``: every label ever given, append-only, with its UTC time, the
  score it replaced and where it came from (``source``);
* ``batches`` / ``batch_items``: each batch of galaxies proposed for labelling,
  with when, how (``method``) and the model's numbers for each galaxy;
* ``events``: a log of what was done (session started, rankings written, ...).

The schema and connections are in :mod:`galmorph.anomaly.database`, the transactions,
settings and event log in :mod:`galmorph.anomaly.session_file`; the values
returned (:class:`~galmorph.anomaly.records.LabelRecord`,
:class:`~galmorph.anomaly.records.Batch`) in :mod:`galmorph.anomaly.records`.

Durability: the file is in WAL mode with ``synchronous=FULL``; each
:meth:`LabelStore.label` is one ``BEGIN IMMEDIATE ... COMMIT`` transaction and
returns only after the commit, so a label is on disk once ``label`` returns,
whatever happens to the process afterwards. Several processes (the command line
and a web app) may read and write one session at once: writers wait up to
``busy_timeout`` seconds for each other and readers never block. One
:class:`LabelStore` may be shared between threads (its calls are serialised).
:meth:`LabelStore.create` refuses to replace a file in use, and a store whose file was
replaced anyway refuses to use it (see :mod:`galmorph.anomaly.database`).

Example
-------
>>> store = LabelStore.create("s.db", {"batch_size": 10}, ids=["J1", "J2"])  # doctest: +SKIP
>>> store.label("J1", 4).score  # doctest: +SKIP
4.0
>>> store.labels()  # doctest: +SKIP
{'J1': 4.0}
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from galmorph.anomaly.checks import check_new_session, id_score_pairs
from galmorph.anomaly.database import (
    APPLICATION,
    DEFAULT_BUSY_TIMEOUT,
    GALAXY_VALUES,
    SCHEMA,
    SCHEMA_VERSION,
    column_values,
    connect,
    held_alone,
    now,
    nullable,
    remove_database,
    remove_sidecars,
)
from galmorph.anomaly.records import Batch, LabelRecord, check_score
from galmorph.anomaly.session_file import SessionFile
from galmorph.exceptions import GalmorphError

if TYPE_CHECKING:
    import pandas as pd


class LabelStore(SessionFile):
    """A session file (see the module docs). Open with :meth:`open` or make with :meth:`create`."""

    @classmethod
    def create(
        cls,
        path: str | Path,
        settings: Mapping[str, Any],
        ids: Sequence[str],
        *,
        values: Mapping[str, np.ndarray] | None = None,
        overwrite: bool = False,
    ) -> LabelStore:
        """Make a new session file with its settings and galaxies, atomically.

        The file is built under a temporary name and renamed into place, so an
        interrupted ``create`` leaves no half-made session.

        Args:
            path: the session file (``.db``).
            settings: JSON-serialisable values.
            ids: ``id_str`` of every galaxy, in embeddings row order.
            values: optional per-galaxy columns of :data:`~galmorph.anomaly.database.GALAXY_VALUES`.
            overwrite: replace an existing file (its labels are lost).

        Raises:
            GalmorphError: when ``path`` is a folder, or exists and ``overwrite`` is false
                or another connection has it open.
        """
        path = check_new_session(path, overwrite)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        remove_database(tmp)
        try:
            conn = connect(tmp, DEFAULT_BUSY_TIMEOUT)
            with conn:
                conn.execute("BEGIN")
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.executemany("INSERT INTO meta VALUES (?, ?)", [
                    ("application", APPLICATION), ("schema_version", str(SCHEMA_VERSION)),
                    ("created_at", now()),
                ])
                conn.executemany("INSERT INTO settings VALUES (?, ?)",
                                 [(k, json.dumps(v)) for k, v in settings.items()])
                names = list(values or {})
                columns = [column_values(name, (values or {})[name], len(ids)) for name in names]
                conn.executemany(
                    f"INSERT INTO galaxies (row, id_str{''.join(', ' + n for n in names)}) "
                    f"VALUES (?, ?{', ?' * len(names)})",
                    ((i, str(g), *(c[i] for c in columns)) for i, g in enumerate(ids)),
                )
            conn.close()  # checkpoints the WAL into the file and removes it
            with held_alone(path):  # refused while in use; no one opens it until replaced
                remove_sidecars(path)  # an old session's WAL must not replay into the new file
                os.replace(tmp, path)  # atomic: the old session stays whole until this moment
        except BaseException:
            remove_database(tmp)
            raise
        store = cls(path)
        store.log_event("start", {"settings": dict(settings), "n_galaxies": len(ids)})
        return store

    # ------------------------------------------------------------ galaxies
    def n_galaxies(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM galaxies")[0][0])

    def galaxies(self) -> pd.DataFrame:
        """``row``, ``id_str`` and the columns of
        :data:`~galmorph.anomaly.database.GALAXY_VALUES`, in row order."""
        import pandas as pd

        with self._lock:
            frame = pd.read_sql_query(
                f"SELECT row, id_str, {', '.join(GALAXY_VALUES)} FROM galaxies ORDER BY row",
                self._db,
            )
        frame["artefact"] = frame["artefact"].astype(bool)
        return frame

    def set_galaxy_values(self, values: Mapping[str, np.ndarray]) -> None:
        """Fill per-galaxy columns, one value per row, in one transaction.

        The columns are those of :data:`~galmorph.anomaly.database.GALAXY_VALUES`.

        Raises:
            GalmorphError: for an unknown column or a wrong number of values.
        """
        n = self.n_galaxies()
        columns = {name: column_values(name, column, n) for name, column in values.items()}
        with self._write() as conn:
            for name, column in columns.items():
                conn.executemany(f"UPDATE galaxies SET {name} = ? WHERE row = ?",
                                 ((v, i) for i, v in enumerate(column)))

    def unknown_ids(self, ids: Sequence[str]) -> list[str]:
        """The ids (in the order given) that are not galaxies of the session."""
        known: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = [str(g) for g in ids[start:start + 500]]
            known.update(g for (g,) in self._query(
                f"SELECT id_str FROM galaxies WHERE id_str IN ({', '.join('?' * len(chunk))})",
                chunk))
        return [str(g) for g in ids if str(g) not in known]

    # -------------------------------------------------------------- labels
    def label(self, galaxy_id: str, score: float, *, source: str = "user") -> LabelRecord:
        """Store ``score`` for a galaxy; returns once it is committed to disk.

        A galaxy labelled again gets the new score; the old one stays in the history.

        Raises:
            GalmorphError: for a score outside 0–5 or an id not in the session.
        """
        return self.label_many([(galaxy_id, score)], source=source)[0]

    def label_many(self, pairs: Iterable[tuple[str, float]] | Mapping[str, float], *,
                   source: str = "user") -> list[LabelRecord]:
        """Store scores of several galaxies in one transaction: all of them or none.

        Args:
            pairs: ``(galaxy_id, score)`` pairs, e.g. ``[("J1", 4), ("J2", 0)]`` or
                ``zip(table.id_str, table.score)``; or a dict ``{galaxy_id: score}``.
            source: where the scores came from, kept in the history.

        Raises:
            TypeError: when ``pairs`` is a table, or an item is not an (id, score) pair.
            GalmorphError: for a score outside 0–5, an id not in the session or an id
                given twice; nothing is stored then.
        """
        pairs = [(str(g), check_score(s)) for g, s in id_score_pairs(pairs)]
        ids = [g for g, _ in pairs]
        repeated = [g for g, n in Counter(ids).items() if n > 1]
        if repeated:
            raise GalmorphError(f"galaxy {repeated[0]!r} is given more than once; give each "
                                "galaxy one score (nothing was stored)")
        records = []
        with self._write() as conn:
            unknown = self.unknown_ids(ids)
            if unknown:
                shown = ", ".join(map(repr, unknown[:5])) + (
                    f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
                nothing = " (nothing was stored)" if len(pairs) > 1 else ""
                raise GalmorphError(f"no galaxy with id {shown} in session {self.path}{nothing}")
            for galaxy_id, value in pairs:
                records.append(self._insert(conn, galaxy_id, value, source))
        return records

    @staticmethod
    def _insert(conn: sqlite3.Connection, galaxy_id: str, value: float, source: str
                ) -> LabelRecord:
        """One label into the history and the current scores (inside a transaction)."""
        old = conn.execute("SELECT score FROM labels WHERE id_str = ?", (galaxy_id,)).fetchone()
        previous = None if old is None else float(old[0])
        when = now()
        cursor = conn.execute(
            "INSERT INTO label_history (id_str, score, previous, labelled_at, source) "
            "VALUES (?, ?, ?, ?, ?)", (galaxy_id, value, previous, when, source),
        )
        sequence = int(cursor.lastrowid or 0)
        conn.execute("INSERT OR REPLACE INTO labels VALUES (?, ?, ?, ?)",
                     (galaxy_id, value, when, sequence))
        return LabelRecord(galaxy_id, value, when, previous, source, sequence)

    def labels(self) -> dict[str, float]:
        """Current score of every labelled galaxy, in labelling order (of the latest label)."""
        rows = self._query("SELECT id_str, score FROM labels ORDER BY history_id")
        return {galaxy_id: float(score) for galaxy_id, score in rows}

    def n_labels(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM labels")[0][0])

    def history(self, galaxy_id: str | None = None) -> list[LabelRecord]:
        """Every label given (of one galaxy, or all), oldest first."""
        sql = "SELECT id_str, score, labelled_at, previous, source, id FROM label_history"
        rows = (self._query(sql + " WHERE id_str = ? ORDER BY id", (str(galaxy_id),))
                if galaxy_id is not None else self._query(sql + " ORDER BY id"))
        return [LabelRecord(str(g), float(s), t, None if p is None else float(p), src, int(i))
                for g, s, t, p, src, i in rows]

    # ------------------------------------------------------------- batches
    def record_batch(
        self,
        ids: Sequence[str],
        method: str,
        values: pd.DataFrame | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Batch:
        """Store a proposed batch (``values``: optional ``acquisition``/``predicted``/``std``)."""
        import pandas as pd

        columns = ("acquisition", "predicted", "std")
        table = pd.DataFrame(index=range(len(ids)), columns=list(columns), dtype=float)
        if values is not None:
            for name in columns:
                if name in values:
                    table[name] = np.asarray(values[name], dtype=float)
        when = now()
        with self._write() as conn:
            n_labels = int(conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0])
            cursor = conn.execute(
                "INSERT INTO batches (created_at, method, n_labels, details) VALUES (?, ?, ?, ?)",
                (when, method, n_labels, json.dumps(dict(details or {}))),
            )
            batch_id = int(cursor.lastrowid or 0)
            conn.executemany(
                "INSERT INTO batch_items VALUES (?, ?, ?, ?, ?, ?)",
                [(batch_id, i, str(g), *(nullable(table.at[i, c]) for c in columns))
                 for i, g in enumerate(ids)],
            )
        return Batch(batch_id, when, method, n_labels, [str(g) for g in ids], table,
                     dict(details or {}))

    def latest_batch(self) -> Batch | None:
        """The most recently proposed batch, or None."""
        import pandas as pd

        rows = self._query("SELECT id, created_at, method, n_labels, details FROM batches "
                           "ORDER BY id DESC LIMIT 1")
        if not rows:
            return None
        batch_id, when, method, n_labels, details = rows[0]
        items = self._query("SELECT id_str, acquisition, predicted, std FROM batch_items "
                            "WHERE batch_id = ? ORDER BY position", (batch_id,))
        values = pd.DataFrame([r[1:] for r in items], columns=["acquisition", "predicted", "std"],
                              dtype=float)
        return Batch(int(batch_id), when, method, int(n_labels), [r[0] for r in items], values,
                     json.loads(details))

    def n_batches(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM batches")[0][0])
