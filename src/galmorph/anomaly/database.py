"""The SQLite side of a session file: its schema, connections and column values.

The tables are described in :mod:`galmorph.anomaly.labels`. :func:`connect` opens a
file in autocommit mode (explicit transactions), WAL, ``synchronous=FULL``.
"""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from galmorph.exceptions import GalmorphError

#: Seconds a writer waits for another process's transaction before giving up.
DEFAULT_BUSY_TIMEOUT = 30.0
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


def remove_database(path: Path) -> None:
    """Delete a database file and its WAL and shared-memory files, where present."""
    remove_sidecars(path)
    path.unlink(missing_ok=True)


def remove_sidecars(path: Path) -> None:
    """Delete a database's WAL and shared-memory files, where present (not the database)."""
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
