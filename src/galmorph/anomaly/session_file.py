"""The connection to an anomaly session file: opening it, transactions, settings, events.

:class:`SessionFile` opens a session file (checking it is one), serialises the calls of
threads sharing it, runs each write as one ``BEGIN IMMEDIATE ... COMMIT`` transaction,
and refuses a file replaced or deleted under it (see :mod:`galmorph.anomaly.database`).
It reads and writes the ``settings`` and the ``events`` log;
:class:`~galmorph.anomaly.labels.LabelStore` adds the galaxies, labels and batches.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from galmorph.anomaly.checks import check_session_file
from galmorph.anomaly.database import (
    APPLICATION,
    DEFAULT_BUSY_TIMEOUT,
    check_same_file,
    connect_file,
    now,
)
from galmorph.exceptions import GalmorphError


class SessionFile:
    """An open session file; :class:`~galmorph.anomaly.labels.LabelStore` is the one to use."""

    def __init__(self, path: str | Path, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        """Open an existing session file; see :meth:`open`."""
        self.path = check_session_file(path)
        self._closed = False
        self._lock = threading.RLock()
        self._conn, self._file = connect_file(self.path, busy_timeout)
        try:
            version = self._conn.execute(
                "SELECT value FROM meta WHERE key = 'application'"
            ).fetchone()
        except sqlite3.DatabaseError:
            version = None
        if version is None or version[0] != APPLICATION:
            self._conn.close()
            raise GalmorphError(f"{self.path} is not a galmorph anomaly session file")

    @classmethod
    def open(cls, path: str | Path, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> Self:
        """Open an existing session file.

        Raises:
            GalmorphError: when it is missing, a folder or not a session file.
        """
        return cls(path, busy_timeout=busy_timeout)

    # ------------------------------------------------------------ plumbing
    def close(self) -> None:
        """Close the connection (the file stays consistent either way); later calls raise."""
        with self._lock:
            self._conn.close()
            self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _db(self) -> sqlite3.Connection:
        """The open connection; every use of the file goes through it.

        Raises:
            GalmorphError: once the store is closed, or its file was replaced or deleted.
        """
        if self._closed:
            raise GalmorphError(f"the session is closed ({self.path}): open it again")
        check_same_file(self.path, self._file)
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error)."""
        with self._lock:
            conn = self._db
            conn.execute("BEGIN IMMEDIATE")
            try:
                check_same_file(self.path, self._file)  # replaced while this waited?
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # ------------------------------------------------------------ settings
    def settings(self) -> dict[str, Any]:
        """All settings, JSON-decoded."""
        return {k: json.loads(v) for k, v in self._query("SELECT key, value FROM settings")}

    def update_settings(self, values: Mapping[str, Any]) -> None:
        """Set (or add) settings, in one transaction, and log the change."""
        with self._write() as conn:
            conn.executemany("INSERT OR REPLACE INTO settings VALUES (?, ?)",
                             [(k, json.dumps(v)) for k, v in values.items()])
            conn.execute("INSERT INTO events (created_at, kind, details) VALUES (?, ?, ?)",
                         (now(), "settings", json.dumps(dict(values))))

    # -------------------------------------------------------------- events
    def log_event(self, kind: str, details: Mapping[str, Any] | None = None) -> None:
        """Append an entry to the session's event log."""
        with self._write() as conn:
            conn.execute("INSERT INTO events (created_at, kind, details) VALUES (?, ?, ?)",
                         (now(), kind, json.dumps(dict(details or {}))))

    def events(self) -> list[tuple[str, str, dict[str, Any]]]:
        """``(time, kind, details)`` of every logged event, oldest first."""
        return [(t, k, json.loads(d))
                for t, k, d in self._query("SELECT created_at, kind, details FROM events "
                                           "ORDER BY id")]
