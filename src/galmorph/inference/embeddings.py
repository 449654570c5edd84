"""The embeddings file: a model's pooled encoder features per galaxy, optionally PCA-reduced.

:func:`galmorph.inference.embed.embed_to_file` writes such a file;
:func:`read_embeddings` reads it back (:func:`read_embedding_info`: only what it
records, without the rows) and :func:`galmorph.inference.new_images.embed_images`
embeds new images into the same space, with the model the file records.
:func:`galmorph.inference.pca.fit_pca` fits the
:class:`~galmorph.inference.pca.PCAProjection` a file may hold;
:class:`~galmorph.inference.galaxy_rows.GalaxyRows` is what :class:`Embeddings` holds
besides the features.

The embeddings file (parquet) has one row per galaxy, in catalog order:

* ``id_str``; ``ra``, ``dec`` (degrees) when the catalog has them;
  ``file_loc`` (the absolute image path);
* ``feat_0`` ... ``feat_{D-1}``: ``float32`` features; the encoder's pooled output
  (``D`` = the encoder's feature size), or its first ``D`` PCA components.

Its parquet key/value metadata holds the model's provenance (``galmorph_model``,
``galmorph_model_version``, ``galmorph_model_sha256``), ``galmorph_version`` and
``galmorph_embedding``: a JSON object (:class:`EmbeddingInfo`) with

* ``model``: ``spec`` (the name, path or ``hf_hub:`` id it was given), ``path``
  (the resolved file), ``name`` and ``sha256``;
* ``encoder``, ``feature_dim`` (raw feature length: the encoder's output and any
  ``stages``'), ``image`` (the model's :class:`~galmorph.data.image_config.ImageConfig`),
  ``n_features`` (feat columns);
* ``views``: how many orientations of each image the features average over
  (:func:`galmorph.data.views.average_over_views`; 1 in files from before this was recorded);
* ``stages``: earlier encoder stages whose pooled features come before the
  encoder's own (see "Finer stages" in :mod:`galmorph.inference.embed`; ``[]``: the
  encoder's output only);
* ``pca``: null, or the fitted projection: ``components`` (``n_features`` rows of
  ``feature_dim`` numbers), ``mean``, ``explained_variance``,
  ``explained_variance_ratio`` and ``n_samples_seen``. A new galaxy's features
  ``x`` project to ``(x - mean) @ components.T`` (no whitening).

Everything needed to embed and project a new image is therefore in the one file.

Examples
--------
>>> from galmorph.inference.embeddings import read_embeddings
>>> emb = read_embeddings("emb.parquet")  # doctest: +SKIP
>>> emb.features.shape, emb.info.pca.explained_variance_ratio.sum()  # doctest: +SKIP
((630, 10), 0.84)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from galmorph.data.defaults import FORMATS
from galmorph.data.image_config import ImageConfig
from galmorph.exceptions import GalmorphError
from galmorph.files import user_path
from galmorph.inference.galaxy_rows import GalaxyRows
from galmorph.inference.pca import PCAProjection
from galmorph.numbers import nonfinite_rows

#: Parquet metadata key of the :class:`EmbeddingInfo` JSON.
METADATA_KEY = "galmorph_embedding"
#: Prefix of the feature columns: ``feat_0``, ``feat_1``, ...
FEATURE_PREFIX = "feat_"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class EmbeddingInfo:
    """What an embeddings file records about how it was made (see the module docs)."""

    model: dict[str, str]
    encoder: str
    feature_dim: int
    image: dict[str, Any]
    n_features: int
    pca: PCAProjection | None = None
    views: int = 1
    stages: tuple[int, ...] = ()

    @property
    def image_config(self) -> ImageConfig:
        return ImageConfig.from_dict(self.image)

    def to_json(self) -> str:
        return json.dumps({
            "format_version": FORMAT_VERSION, "model": self.model, "encoder": self.encoder,
            "feature_dim": self.feature_dim, "image": self.image, "n_features": self.n_features,
            "pca": self.pca.to_dict() if self.pca is not None else None, "views": self.views,
            "stages": list(self.stages),
        })

    @classmethod
    def from_json(cls, text: str) -> EmbeddingInfo:
        values = json.loads(text)
        pca = values.get("pca")
        return cls(
            model=values["model"],
            encoder=values["encoder"],
            feature_dim=int(values["feature_dim"]),
            image=values["image"],
            n_features=int(values["n_features"]),
            pca=PCAProjection.from_dict(pca) if pca else None,
            views=int(values.get("views", 1)),
            stages=tuple(int(s) for s in values.get("stages", ())),
        )


@dataclass
class Embeddings(GalaxyRows):
    """An embeddings file in memory: ids, positions, image paths and features.

    Attributes:
        ids: ``(n,)`` galaxy ids (``id_str``).
        features: ``float32 (n, n_features)``, row ``i`` for ``ids[i]``.
        info: how the features were made.
        ra, dec: ``(n,)`` degrees, or None when the catalog had no coordinates.
        file_loc: ``(n,)`` image paths, or None.
        path: the file it was read from (None when made in memory).
    """

    ids: np.ndarray
    features: np.ndarray
    info: EmbeddingInfo
    ra: np.ndarray | None = None
    dec: np.ndarray | None = None
    file_loc: np.ndarray | None = None
    path: Path | None = None

    def __repr__(self) -> str:
        """One line (not every feature): galaxies, features, model and file."""
        pca = f", PCA of {self.info.feature_dim}" if self.info.pca is not None else ""
        return (f"Embeddings({len(self.ids)} galaxies x {self.features.shape[1]} features"
                f"{pca}, model={self.info.model.get('name')!r}, "
                f"path={None if self.path is None else str(self.path)!r})")


def feature_columns(n: int) -> list[str]:
    """``['feat_0', ..., 'feat_{n-1}']``."""
    return [f"{FEATURE_PREFIX}{i}" for i in range(n)]


def feature_matrix(table: Any, n_features: int, path: str | Path) -> np.ndarray:
    """The ``feat_*`` columns of a pyarrow table as ``float32 (rows, n_features)``.

    Raises:
        GalmorphError: naming ``path`` and the columns or rows: a feature column missing
            or not numeric, or a NaN, infinite or empty feature.
    """
    import pyarrow as pa

    columns = feature_columns(n_features)
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise GalmorphError(f"{path} lacks columns {', '.join(missing[:5])}")
    odd = [f"{c} ({t})" for c, t in zip(columns, table.select(columns).schema.types, strict=True)
           if not (pa.types.is_integer(t) or pa.types.is_floating(t))]
    if odd:
        raise GalmorphError(f"{path}: feature columns must hold numbers; not numeric: "
                            + ", ".join(odd[:5]) + (" ..." if len(odd) > 5 else ""))
    features = np.empty((table.num_rows, len(columns)), dtype=np.float32)
    with np.errstate(over="ignore"):  # a float64 beyond float32 becomes inf: refused below
        for j, name in enumerate(columns):
            features[:, j] = table.column(name).to_numpy()
    bad = nonfinite_rows(features)
    if bad.any():
        from galmorph.data.table_checks import describe_rows, plural

        frame = _rows(table, bad)
        shown = frame.index[:5].to_series().map(lambda r: " and ".join(
            f"{columns[j]} = {features[r, j]}" for j in np.flatnonzero(~np.isfinite(features[r]))))
        raise GalmorphError(
            f"{path}: features must be finite numbers (within float32's range), but are NaN, "
            f"infinite or empty in {plural(len(frame), 'row')}: "
            + describe_rows(frame, frame.index.to_series().notna(), shown))
    return features


def _rows(table: Any, mask: np.ndarray | None = None) -> Any:
    """A pandas frame of the table's ``id_str`` (if it has one), indexed by row number."""
    import pandas as pd

    rows = np.arange(table.num_rows) if mask is None else np.flatnonzero(mask)
    ids = table.column("id_str").take(rows).to_pylist() if "id_str" in table.column_names else None
    return pd.DataFrame(None if ids is None else {"id_str": ids}, index=rows)


#: Per-galaxy columns of an embeddings file besides the features (``id_str`` is required).
GALAXY_COLUMNS = ("id_str", "ra", "dec", "file_loc")


def galaxy_columns(table: Any, path: str | Path) -> dict[str, np.ndarray | None]:
    """``ids``, ``ra``, ``dec`` (float64 degrees) and ``file_loc`` of a pyarrow table; None
    for an optional column it lacks.

    Raises:
        GalmorphError: naming ``path``: no ``id_str`` column, or rows with blank or repeated ids.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if "id_str" not in table.column_names:
        raise GalmorphError(f"{path} lacks columns id_str")
    ids = table.column("id_str").cast(pa.large_string())  # numbers are read as their text
    blank = ids.null_count or pc.any(pc.equal(pc.utf8_trim_whitespace(ids), "")).as_py()
    if blank or len(pc.unique(ids)) < len(ids):
        from galmorph.data.table_checks import blank_values, duplicate_ids

        frame = _rows(table)
        raise GalmorphError(f"{path}: "
                            + "; ".join(blank_values(frame, "id_str") + duplicate_ids(frame)))

    def optional(name: str) -> np.ndarray | None:
        return table.column(name).to_numpy() if name in table.column_names else None

    ra, dec = optional("ra"), optional("dec")
    return {"ids": np.asarray(ids.to_pylist(), dtype=object),
            "ra": None if ra is None else ra.astype(np.float64),
            "dec": None if dec is None else dec.astype(np.float64),
            "file_loc": optional("file_loc")}


def read_embeddings(path: str | Path) -> Embeddings:
    """Read an embeddings parquet file (:func:`galmorph.inference.embed.embed_to_file`); a
    folder of them is read by :func:`galmorph.inference.embedding_folder.open_embeddings`.

    Raises:
        GalmorphError: when the file is missing or is not a galmorph embeddings file, or
            naming the rows or columns: a blank or repeated id, a feature column that is
            not numeric, a NaN, infinite or empty feature.
    """
    import pyarrow.parquet as pq

    path = user_path(path)
    info, _ = read_embedding_info(path)
    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise GalmorphError(f"cannot read {path} as parquet: {err}") from None
    rows = galaxy_columns(table, path)
    return Embeddings(features=feature_matrix(table, info.n_features, path), info=info,
                      path=path, **rows)


def read_embedding_info(path: str | Path) -> tuple[EmbeddingInfo, int]:
    """What an embeddings file records, and its number of rows, without reading the rows.

    Raises:
        GalmorphError: when the file is missing or is not a galmorph embeddings file.
    """
    import pyarrow.parquet as pq

    path = user_path(path)
    if path.is_dir():
        raise GalmorphError(f"{path} is a folder; this needs one embeddings file (galmorph "
                            "similar and serve also take a partitioned catalog's folder)")
    if not path.is_file():
        raise GalmorphError(f"embeddings file {path} does not exist")
    try:
        meta = pq.read_metadata(path)
    except Exception as err:  # pyarrow raises several types for a non-parquet file
        name = path.name.lower()
        table = name.endswith(tuple(FORMATS))  # a catalog, given where embeddings belong
        raise GalmorphError(
            f"cannot read {path} as parquet: {err}" if name.endswith((".parquet", ".pq"))
            else f"{path} is not an embeddings file (parquet, from galmorph embed)"
            + (f"; for a catalog, make one first: galmorph embed {path} -o EMB.parquet"
               if table else "")) from None
    raw_info = (meta.metadata or {}).get(METADATA_KEY.encode())
    if raw_info is None:
        raise GalmorphError(
            f"{path} is not a galmorph embeddings file (no {METADATA_KEY} metadata); "
            "make one with `galmorph embed`"
        )
    return EmbeddingInfo.from_json(raw_info.decode()), int(meta.num_rows)

