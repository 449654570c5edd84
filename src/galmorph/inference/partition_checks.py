"""Checks of a whole partitioned catalog before a long run: ``galmorph validate FOLDER``.

:func:`check_partitions` reads one partition at a time and runs on each the checks a
single catalog gets (:func:`galmorph.data.validation.inspect_catalog`: columns, ids,
image files, and with a schema the vote columns), then those only the whole catalog
can fail: an id in more than one partition (which ``predict`` and ``embed`` would give
two rows, and ``similar`` and ``serve`` refuse). What it found comes back as one
:class:`~galmorph.data.validation.CatalogSummary`, each problem named by its partition
file. Memory holds one partition and 16 bytes per galaxy (a hash of its id and its
partition's number), about 40 while the hashes are sorted at the end: 4 GB for 10^8
galaxies.

Example:
    >>> from galmorph.inference.partitions import find_partitions
    >>> summary, files = check_partitions(find_partitions("hats_cat"))  # doctest: +SKIP
    >>> summary.usable, summary.n_rows  # doctest: +SKIP
    (True, 1204332)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from galmorph.data.catalog import rename_columns
from galmorph.data.table_checks import SHOWN, plural
from galmorph.data.table_files import read_table
from galmorph.data.tree import Schema
from galmorph.data.validation import CatalogSummary, inspect_catalog
from galmorph.data.vote_checks import vote_totals
from galmorph.exceptions import GalmorphError
from galmorph.inference.partitions import Partition, read_ids
from galmorph.inference.progress import progress_bar

#: Image paths kept per partition for the notes on the images (FITS mixed with JPEGs).
FILES_KEPT = 200


def check_partitions(
    partitions: Sequence[Partition],
    schema: Schema | str | None = None,
    *,
    id_column: str | None = None,
    file_column: str | None = None,
    drop: bool = False,
    decode_images: bool = True,
    progress: bool = True,
) -> tuple[CatalogSummary, pd.Series]:
    """Check every partition, and ids across partitions.

    Args:
        partitions: the catalog's partitions (:func:`~galmorph.inference.partitions.
            find_partitions`).
        schema: also check the vote columns of this decision tree.
        id_column, file_column: the columns of ids and image paths, when not ``id_str``
            and ``file_loc``.
        drop: rows whose image file is missing are rows to skip, not errors.
        decode_images: read every image too (else only check that its file exists).
        progress: show a bar of the partitions done.

    Returns:
        The summary (rows, images and votes over all partitions; errors and warnings
        named by partition file) and up to :data:`FILES_KEPT` image paths per partition.
    """
    root = str(partitions[0].root) if partitions else ""
    total = CatalogSummary(source=root, schema=None, n_rows=0, n_images_found=0,
                           n_images_missing=0)
    shapes: Counter[tuple[int, ...]] = Counter()
    hashes, owners, votes, files = [], [], [], []
    errors: dict[str, list[str]] = {}  # message: the partitions that have it
    notes: dict[str, list[str]] = {}
    with progress_bar("partitions", progress) as bar:
        task = bar.add_task("Checking", total=len(partitions))
        for number, partition in enumerate(partitions):
            source = str(partition.path)
            try:
                frame = rename_columns(read_table(partition.path), source, id_column,
                                       file_column)
            except GalmorphError as err:
                errors.setdefault(str(err), []).append(partition.relative)
                bar.advance(task)
                continue
            kept, found = inspect_catalog(frame, schema, source, partition.root,
                                          check_images=True, drop=drop,
                                          decode_images=decode_images)
            _add(total, found)
            for message in found.errors:
                errors.setdefault(message, []).append(partition.relative)
            for message in found.warnings:
                notes.setdefault(message, []).append(partition.relative)
            shapes.update(found.image_shapes)
            if "id_str" in kept:
                ids = kept["id_str"].astype(str).to_numpy(dtype=object)
                hashes.append(pd.util.hash_array(ids))
                owners.append(np.full(len(ids), number, dtype=np.int64))
            if found.votes_question is not None and total.schema is not None:
                question = total.schema.question(found.votes_question)
                votes.append(vote_totals(kept, question).to_numpy())
            if "file_loc" in kept:
                files.append(kept["file_loc"].head(FILES_KEPT))
            bar.advance(task)
    total.image_shapes = dict(shapes.most_common())
    if votes:
        every = np.concatenate(votes)
        total.votes_median, total.votes_min, total.votes_max = (
            float(np.median(every)), int(every.min()), int(every.max()))
    total.errors = [_where(m, names) for m, names in errors.items()]
    total.warnings = [_where(m, names) for m, names in notes.items()]
    total.errors += _repeated_ids(partitions, hashes, owners, id_column)
    return total, (pd.concat(files, ignore_index=True) if files else pd.Series([], dtype=str))


def _where(message: str, names: list[str]) -> str:
    """A message with the partition that gave it, or (the same in several) how many."""
    if len(names) == 1:
        return f"{names[0]}: {message}"
    listed = ", ".join(names[:SHOWN]) + (", ..." if len(names) > SHOWN else "")
    return f"{message} (in {len(names)} partitions: {listed})"


def _add(total: CatalogSummary, found: CatalogSummary) -> None:
    """Add one partition's counts to ``total``."""
    total.schema = total.schema or found.schema
    total.n_rows += found.n_rows
    total.n_rows_kept += found.n_rows_kept
    total.n_images_found = (total.n_images_found or 0) + (found.n_images_found or 0)
    total.n_images_missing = (total.n_images_missing or 0) + (found.n_images_missing or 0)
    total.n_images_elsewhere += found.n_images_elsewhere
    total.id_column, total.file_column = found.id_column, found.file_column
    total.first_missing += found.first_missing[:SHOWN - len(total.first_missing)]
    total.questions_present = total.questions_present or found.questions_present
    total.questions_absent = total.questions_absent or found.questions_absent
    total.votes_question = total.votes_question or found.votes_question


def _repeated_ids(partitions: Sequence[Partition], hashes: list[np.ndarray],
                  owners: list[np.ndarray], id_column: str | None) -> list[str]:
    """An error naming ids that stand in more than one partition, and where."""
    if not hashes:
        return []
    every, owner = np.concatenate(hashes), np.concatenate(owners)
    order = np.argsort(every, kind="stable")
    every, owner = every[order], owner[order]
    same = every[1:] == every[:-1]
    across = same & (owner[1:] != owner[:-1])
    if not across.any():
        return []
    repeated = np.unique(every[1:][across])
    shown = set(repeated[:SHOWN].tolist())
    where: dict[int, set[int]] = {h: set() for h in shown}
    for position in np.flatnonzero(np.isin(every, repeated[:SHOWN])):
        where[int(every[position])].add(int(owner[position]))
    names = {}
    for number in sorted(set().union(*where.values())):
        ids = read_ids(partitions[number], id_column).astype(str).to_numpy(dtype=object)
        for value, hashed in zip(ids, pd.util.hash_array(ids), strict=True):
            if int(hashed) in shown:
                names[int(hashed)] = value
    listed = "; ".join(
        f"{names[h]} in {', '.join(partitions[n].relative for n in sorted(where[h]))}"
        for h in sorted(shown, key=lambda h: names[h]))
    more = f"; and {len(repeated) - SHOWN} more" if len(repeated) > SHOWN else ""
    return [f"{plural(len(repeated), 'galaxy id')} {'is' if len(repeated) == 1 else 'are'} in "
            f"more than one partition ({listed}{more}): predict and embed would give each "
            "copy a row, and similar and serve refuse such results; keep each galaxy in one "
            "partition (a HATS collection's margin catalog repeats its neighbours')"]
