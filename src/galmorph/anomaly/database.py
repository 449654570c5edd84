"""The SQLite side of a session file: its schema, connections and column values.

The tables are described in :mod:`galmorph.anomaly.labels`. :func:`connect` opens a
file in autocommit mode (explicit transactions), WAL, ``synchronous=FULL``.

A session file replaced while a program has it open (``galmorph anomaly start --force``
while ``galmorph serve`` runs) would take that program's later labels into the deleted
file, silently. So :func:`held_alone` refuses to replace a file that any connection has
open (SQLite's own locks, which a crashed program does not leave behind) and keeps
others out until it is replaced; and :func:`check_same_file` lets a connection notice
that its path now names another file (device and inode), however it was replaced.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from galmorph.exceptions import GalmorphError

#: Seconds a writer waits for another process's transaction before giving up.
DEFAULT_BUSY_TIMEOUT = 30.0
#: Seconds :func:`held_alone` waits for other connections to close a file before refusing.
IN_USE_TIMEOUT = 1.0
SCHEMA_VERSION = 1
APPLICATION = "galmorph-anomaly-session"

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE galaxies (
    row INTEGER PRIMARY KEY,
    id_str TEXT NOT NULL UNIQUE,
    artefact INTEGER NOT NULL DEFAULT 0,
    artefact_value REAL,
    isolation_forest REAL,
    lof REAL
);
CREATE TABLE labels (
    id_str TEXT PRIMARY KEY,
    score REAL NOT NULL,
    updated_at TEXT NOT NULL,
    history_id INTEGER NOT NULL
);
CREATE TABLE label_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    id_str TEXT NOT NULL,
    score REAL NOT NULL,
    previous REAL,
    labelled_at TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX label_history_id ON label_history (id_str);
CREATE TABLE batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    method TEXT NOT NULL,
    n_labels INTEGER NOT NULL,
    details TEXT NOT NULL
);
CREATE TABLE batch_items (
    batch_id INTEGER NOT NULL REFERENCES batches (id),
    position INTEGER NOT NULL,
    id_str TEXT NOT NULL,
    acquisition REAL,
    predicted REAL,
    std REAL,
    PRIMARY KEY (batch_id, position)
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    details TEXT NOT NULL
);
"""

#: Per-galaxy score columns that
#: :meth:`~galmorph.anomaly.labels.LabelStore.set_galaxy_values` may fill.
GALAXY_VALUES = ("artefact", "artefact_value", "isolation_forest", "lof")


def now() -> str:
    """The current UTC time, ISO 8601 to the microsecond."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def column_values(name: str, column: np.ndarray, n: int) -> list[Any]:
    """A :data:`GALAXY_VALUES` column as SQLite values (NaN → NULL), checked.

    Raises:
        GalmorphError: for an unknown column or a wrong number of values.
    """
    if name not in GALAXY_VALUES:
        raise GalmorphError(f"unknown galaxy column {name!r}; use {GALAXY_VALUES}")
    if len(column) != n:
        raise GalmorphError(f"{name}: {len(column)} values for {n} galaxies")
    if name == "artefact":
        return [int(bool(v)) for v in np.asarray(column).tolist()]
    return [None if v is None or math.isnan(v) else float(v)
            for v in np.asarray(column, dtype=np.float64).tolist()]


def nullable(value: float) -> float | None:
    """NaN (or None) as None (SQLite NULL), else a float."""
    return None if value is None or np.isnan(value) else float(value)


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """A connection in autocommit mode (explicit transactions), WAL, ``synchronous=FULL``."""
    try:
        conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.DatabaseError as err:
        raise GalmorphError(f"cannot open {path} as a session file: {err}") from None
    return conn


#: Which file a path names: its device and inode (None: no file).
FileId = tuple[int, int] | None


def file_id(path: Path) -> FileId:
    """Device and inode of the file ``path`` names now; None when there is none."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


def connect_file(path: Path, busy_timeout: float) -> tuple[sqlite3.Connection, FileId]:
    """:func:`connect`, and the file it opened (for :func:`check_same_file`).

    The path is looked at before and after connecting, until both agree, so that a file
    replaced meanwhile is not taken for the one opened.

    Raises:
        GalmorphError: when it is not an SQLite file, or keeps being replaced.
    """
    for _ in range(3):
        before = file_id(path)
        conn = connect(path, busy_timeout)
        if file_id(path) == before:
            return conn, before
        conn.close()
    raise GalmorphError(f"session file {path} was replaced again and again while being "
                        "opened: try again")


def check_same_file(path: Path, opened: FileId) -> None:
    """Raise when ``path`` no longer names the file a connection opened (``opened``).

    Raises:
        GalmorphError: saying the session file was replaced or deleted, and what to do.
    """
    if file_id(path) != opened:
        raise GalmorphError(
            f"session file {path} was replaced or deleted after this program opened it (e.g. "
            "by `galmorph anomaly start --force`), so what it stored now would be lost: "
            "nothing was stored or read. Open the session again (for `galmorph serve`: stop "
            f"it and start it again) to go on with the file now at {path}")


@contextmanager
def held_alone(path: Path, timeout: float = IN_USE_TIMEOUT) -> Iterator[None]:
    """Hold the SQLite file ``path`` (if there is one) so that no other connection uses it.

    Raises:
        GalmorphError: when another connection, of this program or another, has it
            open after ``timeout`` seconds.
    """
    if not path.is_file():
        yield
        return
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        _lock_exclusively(conn, path)
        yield
    finally:
        conn.close()


def _lock_exclusively(conn: sqlite3.Connection, path: Path) -> None:
    """Take an exclusive lock until ``conn`` closes (none on a file that is not SQLite's)."""
    try:
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
    except sqlite3.DatabaseError as err:  # not an SQLite file: no program uses it as one
        if (getattr(err, "sqlite_errorcode", None) or 0) & 0xFF == sqlite3.SQLITE_BUSY:
            raise GalmorphError(
                f"session file {path} is open in another program (e.g. `galmorph serve "
                f"--session {path}`): stop it first, then start again (nothing was "
                "changed). In Python (e.g. an earlier notebook cell), call .close() on the "
                "session object that has it open") from None


def remove_database(path: Path) -> None:
    """Delete a database file and its WAL and shared-memory files, where present."""
    remove_sidecars(path)
    path.unlink(missing_ok=True)


def remove_sidecars(path: Path) -> None:
    """Delete a database's WAL and shared-memory files, where present (not the database)."""
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
