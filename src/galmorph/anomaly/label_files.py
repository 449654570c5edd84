"""Scores from a file: a table of ``id_str`` and ``score``, or another session file.

:func:`read_label_file` reads the labels a researcher keeps outside a session: the
``labels.csv`` that ``galmorph serve`` exports, a table written or edited by hand
(``.csv``, ``.parquet``, ``.fits``, ...), or a session file whose current scores are
carried over (e.g. to a session on a re-made embeddings file). Every row is checked
before any is used, and an error names the file, the row and the column.

Example
-------
>>> pairs = read_label_file("labels.csv")  # doctest: +SKIP
>>> pairs[0]  # doctest: +SKIP
('J090203.35+590529.9', 4.0)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from galmorph.anomaly.records import MAX_SCORE, MIN_SCORE
from galmorph.exceptions import GalmorphError

#: The first bytes of every SQLite database file.
SQLITE_HEADER = b"SQLite format 3\x00"


def read_label_file(path: str | Path) -> list[tuple[str, float]]:
    """``(galaxy_id, score)`` pairs from a table with ``id_str`` and ``score``, or a session.

    Raises:
        GalmorphError: naming the file, and its rows and column where they are at
            fault: a missing column, an empty or repeated id, a score that is not a
            number from 0 to 5; or holding no scores at all.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise GalmorphError(f"labels file {path} {what}")
    if is_session_file(path):
        from galmorph.anomaly.labels import LabelStore

        with LabelStore.open(path) as store:
            pairs = list(store.labels().items())
    else:
        from galmorph.data.table_files import read_table

        pairs = label_pairs(read_table(path), f"labels file {path}")
    if not pairs:
        raise GalmorphError(f"labels file {path} holds no scores (no rows): is it the right "
                            "file? Nothing was stored")
    return pairs


def is_session_file(path: str | Path) -> bool:
    """Whether ``path`` is a file that starts as an SQLite database (a session file) does."""
    path = Path(path)
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER


def label_pairs(table: pd.DataFrame, source: str) -> list[tuple[str, float]]:
    """The ``id_str`` and ``score`` columns of ``table`` as checked pairs (see the module).

    Raises:
        GalmorphError: naming ``source`` and the rows at fault.
    """
    from galmorph.data import table_checks as checks

    missing = [c for c in ("id_str", "score") if c not in table]
    if missing:
        raise GalmorphError(f"{source} has no column {', '.join(map(repr, missing))}: it needs "
                            "id_str (the galaxy) and score (0-5); its columns: "
                            + checks.abbreviate(table.columns))
    table = table.reset_index(drop=True)  # rows numbered from 0 in file order
    unscored = [f"{e} (a blank score is not a 0: leave out the galaxies you have not scored, "
                "e.g. the unlabelled rows of a ranking file)"
                for e in checks.blank_values(table, "score")]
    errors = checks.blank_values(table, "id_str") + unscored
    table = table.assign(id_str=checks.as_text(table["id_str"]).str.strip())
    errors += checks.duplicate_ids(table)
    raw = table["score"]
    scores = pd.to_numeric(raw, errors="coerce").astype("float64")
    bad = ~scores.between(MIN_SCORE, MAX_SCORE) & ~checks.is_blank(raw)
    if bad.any():
        errors.append(f"column 'score' must hold numbers from {MIN_SCORE:g} to {MAX_SCORE:g} "
                      f"but has {checks.plural(int(bad.sum()), 'bad value')}: "
                      + checks.describe_rows(table, bad, raw))
    if errors:
        raise GalmorphError(f"{source}: {errors[0]}; nothing was stored")
    return list(zip(table["id_str"].tolist(), scores.tolist(), strict=True))

