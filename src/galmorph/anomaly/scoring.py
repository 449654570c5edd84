"""A hunt's taste applied to a whole survey: ``galmorph anomaly score``.

An anomaly session holds every galaxy's features in memory, so a hunt runs on a
sample (a million galaxies with ``reduce --pca 40`` take 160 MB). :func:`score_embeddings`
takes what the researcher taught it there (the Gaussian process fitted to their scores,
in the session's interest-feature space: :class:`~galmorph.anomaly.features.InterestTransform`)
to every galaxy of other embeddings of the same model and features, a file or a
partitioned folder of any size, one partition in memory at a time. It writes each
galaxy's predicted interest and its uncertainty, and returns the most interesting.

Example:
    >>> with AnomalySession.open("hunt.db") as session:  # doctest: +SKIP
    ...     top = score_embeddings(session, "survey-emb40/", "survey-interest/").top
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from galmorph.anomaly.checks import check_same_model
from galmorph.anomaly.features import InterestTransform
from galmorph.anomaly.fingerprint import differences, feature_settings
from galmorph.anomaly.interest import InterestModel
from galmorph.anomaly.session import AnomalySession
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.files import atomic_target, user_path
from galmorph.inference.embedding_folder import (
    PartitionedEmbeddings,
    check_new_folder,
    open_embeddings,
)
from galmorph.inference.embeddings import (
    EmbeddingInfo,
    Embeddings,
    feature_columns,
    feature_matrix,
)
from galmorph.inference.outputs import OUTPUT_FORMATS, output_format, write_table

if TYPE_CHECKING:
    from distributed import Client

#: Galaxies the summary keeps, most interesting first.
DEFAULT_TOP = 20


@dataclass(frozen=True)
class ScoreSummary:
    """What :func:`score_embeddings` wrote.

    Attributes:
        output: the file, or the folder of one file per partition.
        n_galaxies: galaxies scored.
        n_labelled: of those, galaxies the researcher scored in the session.
        top: the ``top`` unlabelled galaxies of highest predicted interest, most
            interesting first (the columns of the written tables).
    """

    output: Path
    n_galaxies: int
    n_labelled: int
    top: pd.DataFrame


def score_embeddings(session: AnomalySession, embeddings: str | Path, output: str | Path, *,
                     top: int = DEFAULT_TOP, client: Client | None = None,
                     resume: bool = False) -> ScoreSummary:
    """Every galaxy of ``embeddings`` scored by the session's interest model.

    Columns written: ``id_str``, ``predicted`` (the Gaussian process's mean on the 0–5
    scale; it may pass 5), ``std`` (its standard deviation), ``labelled`` and ``score``
    (the score given in the session, NaN if none), then ``ra``, ``dec`` and ``file_loc``
    where the embeddings have them. A file gives a file (rows most interesting first);
    a folder gives a folder of the same partitions, one partition in memory at a time:
    on ``client``'s Dask cluster one task per partition (the workers read the files),
    else one after another in this process. The folder appears once every partition is
    scored; until then they gather in :func:`partial_folder`, where an interrupted run
    leaves them: ``resume`` scores only the rest, when the labels and embeddings are
    the same (else it warns and scores every partition).

    Raises:
        GalmorphError: without labels, or for embeddings made another way than the
            session's (model, encoder, views, PCA...), or a bad ``output``.
    """
    rows, scores = session.labelled()
    if not len(rows):
        raise GalmorphError(f"session {session.store.path} has no scores yet: label galaxies "
                            "first (galmorph anomaly next, then label)")
    source = user_path(embeddings)
    emb = open_embeddings(source)
    _check_same_space(session, emb, source)
    output = _new_output(user_path(output), emb)
    given = session.store.labels()
    scorer = Scorer(InterestModel(seed=session.settings.seed).fit(session.features[rows], scores),
                    session.transform, given, _metadata(session, len(given)),
                    emb.info.n_features, top)
    if isinstance(emb, PartitionedEmbeddings):
        tops = _score_folder(emb, scorer, output, client, resume)
    else:
        piece = Piece(Path(str(emb.path)), emb.ids, emb.ra, emb.dec, emb.file_loc)
        table = scores_table(emb.features, piece, scorer)
        write_table(table.sort_values("predicted", ascending=False, kind="stable"), output,
                    scorer.metadata)
        tops = [table]
    ranked = pd.concat(tops, ignore_index=True)
    ranked = ranked[~ranked["labelled"]].sort_values("predicted", ascending=False,
                                                     kind="stable").head(top)
    labelled = int(pd.Index(emb.ids).isin(list(given)).sum())
    return ScoreSummary(output, len(emb), labelled, ranked.reset_index(drop=True))


def _check_same_space(session: AnomalySession, emb: Embeddings | PartitionedEmbeddings,
                      path: Path) -> None:
    """Refuse features the session's interest model cannot read: another model, another
    way of making them, or another PCA inside the file."""
    started = session.embeddings.info
    check_same_model(session.settings.model, emb.info.model, path)
    changed = differences(feature_settings(started), feature_settings(emb.info))
    if not changed and not _same_pca(started, emb.info):
        changed = ["the PCA inside them (fitted on other galaxies: galmorph reduce gives "
                   "every file one PCA)"]
    if changed:
        raise GalmorphError(
            f"{path} holds features made another way than those of session "
            f"{session.store.path} ({'; '.join(changed)}): its interest model cannot score "
            "them. Start the hunt on part of these embeddings, e.g. one partition file "
            "(galmorph anomaly start FOLDER/PART.parquet --session NEW.db), and carry your "
            f"scores over (galmorph anomaly label --from {session.store.path} --session "
            "NEW.db)")


def _new_output(output: Path, emb: Embeddings | PartitionedEmbeddings) -> Path:
    """``output`` checked: a table file for a file (any format ``predict`` writes), a new
    folder outside the source for a folder."""
    if isinstance(emb, Embeddings):
        output_format(output, "interest.parquet")
        return output
    if output.suffix.lower() in OUTPUT_FORMATS:
        raise GalmorphError(f"{emb.path} is a folder of partitions: its scores are a folder "
                            f"too, one file per partition; name it without {output.suffix}")
    check_new_folder(output, emb)
    return output


def _same_pca(a: EmbeddingInfo, b: EmbeddingInfo) -> bool:
    if a.pca is None or b.pca is None:
        return a.pca is None and b.pca is None
    return (np.array_equal(a.pca.components, b.pca.components)
            and np.array_equal(a.pca.mean, b.pca.mean))


@dataclass(frozen=True)
class Scorer:
    """What scores one partition, wherever it runs (sent once to each Dask worker).

    Attributes:
        model: the session's fitted interest model.
        transform: the session's interest-feature transform.
        given: the scores given in the session, by galaxy id.
        metadata: what each written table records.
        n_features: features per galaxy in the embeddings.
        top: rows of each partition's most interesting unlabelled galaxies returned.
    """

    model: InterestModel
    transform: InterestTransform
    given: dict[str, float]
    metadata: dict[str, str]
    n_features: int
    top: int


@dataclass(frozen=True)
class Piece:
    """One partition of an embeddings folder: its file, and its galaxies' ids, positions
    and image paths (None where the embeddings have none)."""

    path: Path
    ids: np.ndarray
    ra: np.ndarray | None
    dec: np.ndarray | None
    file_loc: np.ndarray | None


def scores_table(features: np.ndarray, piece: Piece, scorer: Scorer) -> pd.DataFrame:
    """The scores of ``features`` ``(n, D)``, the galaxies of ``piece``."""
    mean, std = scorer.model.predict(scorer.transform.transform(features), return_std=True)
    table = pd.DataFrame({"id_str": piece.ids, "predicted": mean, "std": std})
    table["score"] = pd.Series(piece.ids).map(scorer.given).astype(float).to_numpy()
    table.insert(3, "labelled", table["score"].notna().to_numpy())
    for name in ("ra", "dec", "file_loc"):
        if (column := getattr(piece, name)) is not None:
            table[name] = column
    return table


def score_partition(piece: Piece, scorer: Scorer, target: Path) -> pd.DataFrame:
    """Score one partition file into ``target``; its ``top`` most interesting unlabelled
    galaxies (run on a Dask worker, or here).

    Raises:
        GalmorphError: naming the file when its features cannot be read or its rows
            changed since the folder was opened.
    """
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(piece.path, columns=feature_columns(scorer.n_features))
    except Exception as err:  # pyarrow raises several types for a bad file or column
        raise GalmorphError(f"cannot read the features of {piece.path}: {err}") from None
    if table.num_rows != len(piece.ids):
        raise GalmorphError(f"{piece.path} has {table.num_rows} rows, not {len(piece.ids)} as "
                            "when its folder was opened: run the command again")
    scores = scores_table(feature_matrix(table, scorer.n_features, piece.path), piece, scorer)
    write_table(scores, target, scorer.metadata)
    return scores[~scores["labelled"]].nlargest(scorer.top, "predicted")


def _pieces(emb: PartitionedEmbeddings) -> list[Piece]:
    pieces = []
    for i, partition in enumerate(emb.partitions):
        rows = slice(int(emb.offsets[i]), int(emb.offsets[i + 1]))
        pieces.append(Piece(partition.path, np.asarray(emb.ids[rows]), *(
            None if column is None else np.asarray(column)[rows]
            for column in (emb.ra, emb.dec, emb.file_loc))))
    return pieces


def partial_folder(output: Path) -> Path:
    """Where a folder's scores gather (``.NAME.partial`` beside ``output``) until every
    partition is scored; an interrupted run leaves them there for ``resume``."""
    return output.parent / f".{output.name}.partial"


def _job(emb: PartitionedEmbeddings, scorer: Scorer) -> str:
    """What the scores of a folder depend on, as JSON: a resumed run must match it."""
    sizes = np.diff(emb.offsets).tolist()
    return json.dumps({"metadata": scorer.metadata, "given": sorted(scorer.given.items()),
                       "n_features": scorer.n_features,
                       "partitions": [[str(p.relative), n]
                                      for p, n in zip(emb.partitions, sizes, strict=True)]})


def _start_partial(output: Path, job: str, resume: bool) -> Path:
    """The partial folder of ``output`` for ``job``: kept with ``resume`` when it holds the
    same job (its finished partitions are not scored again), else made anew."""
    partial = partial_folder(output)
    stamp = partial / "_job.json"
    same = stamp.is_file() and stamp.read_text(encoding="utf-8") == job
    if resume and partial.exists() and not same:
        warnings.warn(f"{partial} holds scores of another run (other labels, or other "
                      "embeddings): scoring every partition again", GalmorphWarning,
                      stacklevel=4)
    if partial.exists() and not (resume and same):
        shutil.rmtree(partial)
    partial.mkdir(parents=True, exist_ok=True)
    with atomic_target(stamp) as temporary:
        temporary.write_text(job, encoding="utf-8")
    return partial


def _top_of(target: Path, top: int) -> pd.DataFrame:
    """The ``top`` unlabelled rows of an already scored partition file."""
    scores = pd.read_parquet(target)
    return scores[~scores["labelled"]].nlargest(top, "predicted")


def _score_folder(emb: PartitionedEmbeddings, scorer: Scorer, output: Path,
                  client: Client | None, resume: bool) -> list[pd.DataFrame]:
    """Each partition's scores to the same place in ``output``, which appears once all are
    scored; each partition's most interesting. On ``client``'s Dask cluster, one task per
    partition; else one after another here. With ``resume``, the partitions an
    interrupted run of the same job finished are read back, not scored again."""
    partial = _start_partial(output, _job(emb, scorer), resume)
    targets = [partial / partition.relative for partition in emb.partitions]
    pieces = _pieces(emb)
    todo = [i for i, target in enumerate(targets) if not target.is_file()]
    try:
        if client is None:
            found = [score_partition(pieces[i], scorer, targets[i]) for i in todo]
        else:
            shared = client.scatter(scorer, broadcast=True)
            found = client.gather(client.map(
                score_partition, [pieces[i] for i in todo], [shared] * len(todo),
                [targets[i] for i in todo], pure=False))
    except GalmorphError as err:
        done = sum(target.is_file() for target in targets)
        raise GalmorphError(f"{err}. {done} of {len(targets)} partitions are scored in "
                            f"{partial}: run the command again with --resume to score the "
                            "rest") from None
    tops = dict(zip(todo, found, strict=True))
    tops = [tops[i] if i in tops else _top_of(targets[i], scorer.top)
            for i in range(len(targets))]
    (partial / "_job.json").unlink()
    os.replace(partial, output)
    return tops


def _metadata(session: AnomalySession, n_labels: int) -> dict[str, str]:
    model = session.settings.model
    return {"galmorph_anomaly_session": str(session.store.path),
            "galmorph_anomaly_labels": str(n_labels),
            "galmorph_model": str(model.get("name", "")),
            "galmorph_model_sha256": str(model.get("sha256", ""))}
