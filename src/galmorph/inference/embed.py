"""Galaxy representations: a model's pooled encoder features per galaxy, optionally PCA-reduced.

:func:`embed_catalog` runs a model's encoder over a catalog (the pooled,
pre-head features, :meth:`galmorph.models.model.GalaxyModel.embedder`) and returns one row
per galaxy; :func:`embed_to_file` writes them to parquet, optionally resumable.
:func:`read_embeddings` reads such a file back and :func:`embed_images` embeds
new images into the same space, with the model the file records.

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
  ``stages``'), ``image`` (the model's :class:`~galmorph.data.images.ImageConfig`),
  ``n_features`` (feat columns);
* ``views``: how many orientations of each image the features average over
  (:func:`galmorph.data.images.average_over_views`; 1 in files from before this was recorded);
* ``stages``: earlier encoder stages whose pooled features come before the
  encoder's own (see "Finer stages" below; ``[]``: the encoder's output only);
* ``pca``: null, or the fitted projection: ``components`` (``n_features`` rows of
  ``feature_dim`` numbers), ``mean``, ``explained_variance``,
  ``explained_variance_ratio`` and ``n_samples_seen``. A new galaxy's features
  ``x`` project to ``(x - mean) @ components.T`` (no whitening).

Everything needed to embed and project a new image is therefore in the one file.

Orientation
-----------
A galaxy's orientation on the sky says nothing about its morphology, but a CNN's
features change when the image is turned. By default (``views=8``) every
galaxy's features are the mean over its image turned by 0, 90, 180 and 270
degrees, each also mirrored: exactly the same for any of those orientations, at
8 times the cost. On the GZ2 validation split this raised the tag-retrieval
precision@10 of the starter model's PCA-10 features from 0.420 to 0.427 (tags the
model never trained on: 0.207 to 0.215) and the average precision of a linear
read-out of "odd" galaxies from 0.26 to 0.31. ``views=4`` uses the rotations
only; ``views=1`` the image as it is, for the fastest pass over a huge catalog.

Finer stages
------------
The encoder's pooled output summarises what the model learnt to answer the
Galaxy Zoo questions it was trained on. ``stages=(2,)`` also keeps the pooled
output of an earlier stage (:class:`galmorph.models.model.StageFeatures`), which
responds to finer structure the vote questions did not ask about. For the
starter model (stage 2: 160 more features) this raised the average precision of
active learning for "odd" galaxies on the GZ2 training split from 0.48 to 0.50
and its precision@50 among unlabelled galaxies from 0.27 to 0.35
(``galmorph embed --stages 2``; figures in the README). It is not the default
because similarity search does worse with it: its tag-retrieval precision@10
(PCA-10, validation split) fell from 0.460 to 0.429.

Examples
--------
>>> from galmorph.inference.embed import embed_to_file, read_embeddings
>>> embed_to_file("catalog.csv", "emb.parquet", "gz2-starter", pca=10)  # doctest: +SKIP
PosixPath('emb.parquet')
>>> emb = read_embeddings("emb.parquet")  # doctest: +SKIP
>>> emb.features.shape, emb.info.pca.explained_variance_ratio.sum()  # doctest: +SKIP
((630, 10), 0.84)
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from galmorph import __version__
from galmorph.data.catalog import load_catalog
from galmorph.data.datasets import CatalogSource, GalaxyDataModule
from galmorph.data.images import ImageConfig, average_over_views, check_views
from galmorph.exceptions import GalmorphError, GalmorphWarning, ImageError, ModelError
from galmorph.inference.outputs import write_table_chunks
from galmorph.inference.predict import (
    CONVENTION_CHECKS,
    DEFAULT_BATCH_SIZE,
    check_image_conventions,
    infer,
    resolve_device,
)
from galmorph.inference.resumable import (
    DEFAULT_CHUNK_SIZE,
    PartStore,
    chunk_bounds,
    parts_dir_for,
    remove_leftovers,
)
from galmorph.models.checkpoint import LoadedModel, load_model
from galmorph.models.defaults import DEFAULT_MODEL
from galmorph.models.onnx import cached_onnx_model, resolve_backend

#: Parquet metadata key of the :class:`EmbeddingInfo` JSON.
METADATA_KEY = "galmorph_embedding"
#: Parquet metadata key of a resumable part's bookkeeping JSON.
PART_KEY = "galmorph_embedding_part"
#: Prefix of the feature columns: ``feat_0``, ``feat_1``, ...
FEATURE_PREFIX = "feat_"
FORMAT_VERSION = 1
#: Orientations averaged over by default (see the module docs).
DEFAULT_VIEWS = 8

ModelSpec = LoadedModel | str | Path | None
Forward = Callable[[torch.Tensor], torch.Tensor]


# ------------------------------------------------------------------------ PCA
@dataclass(frozen=True)
class PCAProjection:
    """A fitted PCA: ``(features - mean) @ components.T``, as sklearn's IncrementalPCA.

    Attributes:
        components: ``(n_components, feature_dim)`` unit principal axes, by
            decreasing variance.
        mean: ``(feature_dim,)`` mean of the fitted features.
        explained_variance: ``(n_components,)`` variance along each axis.
        explained_variance_ratio: ``(n_components,)`` fraction of the total variance.
        n_samples_seen: galaxies it was fitted on.
    """

    components: np.ndarray
    mean: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    n_samples_seen: int

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Project ``(n, feature_dim)`` features to ``float32 (n, n_components)``."""
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.mean.shape[0]:
            raise ValueError(
                f"expected features of shape (n, {self.mean.shape[0]}), got {features.shape}"
            )
        return ((features - self.mean) @ self.components.T).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (lists of floats; exact: float64 reprs round-trip)."""
        return {
            "n_components": self.n_components,
            "components": self.components.tolist(),
            "mean": self.mean.tolist(),
            "explained_variance": self.explained_variance.tolist(),
            "explained_variance_ratio": self.explained_variance_ratio.tolist(),
            "n_samples_seen": self.n_samples_seen,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PCAProjection:
        """Inverse of :meth:`to_dict`."""
        return cls(
            components=np.asarray(values["components"], dtype=np.float64),
            mean=np.asarray(values["mean"], dtype=np.float64),
            explained_variance=np.asarray(values["explained_variance"], dtype=np.float64),
            explained_variance_ratio=np.asarray(
                values["explained_variance_ratio"], dtype=np.float64
            ),
            n_samples_seen=int(values["n_samples_seen"]),
        )


def fit_pca(chunks: Iterable[np.ndarray], n_components: int) -> PCAProjection:
    """Fit an IncrementalPCA over chunks of ``(rows, feature_dim)`` features.

    Memory holds at most the chunk being fitted (the first chunks are merged
    until there are ``n_components`` rows, which the first fit needs).

    Raises:
        GalmorphError: when there are fewer galaxies or features than components.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> fit_pca([rng.normal(size=(50, 8)), rng.normal(size=(30, 8))], 3).n_samples_seen
        80
    """
    from sklearn.decomposition import IncrementalPCA

    ipca = IncrementalPCA(n_components=n_components)
    pending: list[np.ndarray] = []
    fitted = False
    for chunk in chunks:
        if chunk.shape[1] < n_components:
            raise GalmorphError(
                f"cannot keep {n_components} PCA components of {chunk.shape[1]} features"
            )
        pending.append(chunk)
        if fitted or sum(len(c) for c in pending) >= n_components:
            ipca.partial_fit(np.concatenate(pending).astype(np.float64, copy=False))
            pending, fitted = [], True
    if not fitted:
        rows = sum(len(c) for c in pending)
        raise GalmorphError(f"PCA with {n_components} components needs at least that many "
                            f"galaxies; there are {rows}")
    return PCAProjection(
        components=ipca.components_,
        mean=ipca.mean_,
        explained_variance=ipca.explained_variance_,
        explained_variance_ratio=ipca.explained_variance_ratio_,
        n_samples_seen=int(ipca.n_samples_seen_),
    )


# ------------------------------------------------------------ the file format
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
        return json.dumps(
            {
                "format_version": FORMAT_VERSION,
                "model": self.model,
                "encoder": self.encoder,
                "feature_dim": self.feature_dim,
                "image": self.image,
                "n_features": self.n_features,
                "pca": self.pca.to_dict() if self.pca is not None else None,
                "views": self.views,
                "stages": list(self.stages),
            }
        )

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
class Embeddings:
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

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_coordinates(self) -> bool:
        return self.ra is not None and self.dec is not None

    def row_of(self, galaxy_id: str) -> int:
        """Row of a galaxy by ``id_str``.

        Raises:
            GalmorphError: naming similar ids when it is not there.
        """
        matches = np.flatnonzero(self.ids == str(galaxy_id))
        if len(matches):
            return int(matches[0])
        where = f" in {self.path}" if self.path else ""
        hint = ""
        if len(self.ids) <= 100_000:
            import difflib

            known = self.ids.tolist()
            close = [i for i in known if i.startswith(str(galaxy_id))][:3]
            close = close or difflib.get_close_matches(str(galaxy_id), known, n=3)
            hint = f"; similar ids: {', '.join(close)}" if close else ""
        raise GalmorphError(
            f"no galaxy with id {galaxy_id!r}{where} ({len(self.ids)} galaxies){hint}"
        )

    def project(self, raw: np.ndarray) -> np.ndarray:
        """Encoder features ``(n, feature_dim)`` in this file's space (PCA if it has one)."""
        raw = np.asarray(raw, dtype=np.float32)
        return self.info.pca.transform(raw) if self.info.pca is not None else raw


def feature_columns(n: int) -> list[str]:
    """``['feat_0', ..., 'feat_{n-1}']``."""
    return [f"{FEATURE_PREFIX}{i}" for i in range(n)]


def read_embeddings(path: str | Path) -> Embeddings:
    """Read an embeddings parquet file written by :func:`embed_to_file`.

    Raises:
        GalmorphError: when the file is missing or is not a galmorph embeddings file.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    info, _ = read_embedding_info(path)
    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise GalmorphError(f"cannot read {path} as parquet: {err}") from None
    columns = feature_columns(info.n_features)
    missing = [c for c in columns if c not in table.column_names]
    if missing or "id_str" not in table.column_names:
        raise GalmorphError(f"{path} lacks columns {', '.join((missing or ['id_str'])[:5])}")
    features = np.empty((table.num_rows, len(columns)), dtype=np.float32)
    for j, name in enumerate(columns):
        features[:, j] = table.column(name).to_numpy()

    def optional(name: str) -> np.ndarray | None:
        return table.column(name).to_numpy() if name in table.column_names else None

    ra, dec = optional("ra"), optional("dec")
    return Embeddings(
        ids=np.asarray(table.column("id_str").to_pylist(), dtype=object),
        features=features,
        info=info,
        ra=None if ra is None else ra.astype(np.float64),
        dec=None if dec is None else dec.astype(np.float64),
        file_loc=optional("file_loc"),
        path=path,
    )


# ------------------------------------------------------------------- running
def run_over_images(
    frame: pd.DataFrame,
    forward: Forward,
    image_config: ImageConfig,
    *,
    device: torch.device,
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_workers: int | None = None,
    progress: bool = True,
    description: str = "Embedding",
) -> np.ndarray:
    """``forward`` over the evaluation-transformed images of a catalog, rows in order.

    Builds the predict loader of :class:`~galmorph.data.datasets.GalaxyDataModule` and runs
    :func:`galmorph.inference.predict.infer` (no gradients). ``forward`` maps image batches
    ``(b, channels, size, size)`` on ``device`` to ``(b, ...)``.

    Returns:
        ``float32`` array ``(len(frame), ...)``.
    """
    datamodule = GalaxyDataModule(
        predict_catalog=frame,
        image_config=image_config,
        batch_size=batch_size,
        num_workers=num_workers,
    )
    return infer(
        datamodule.predict_dataloader(), forward, device, progress=progress,
        description=description,
    )


def _load(model: ModelSpec, device: torch.device) -> LoadedModel:
    if isinstance(model, LoadedModel):
        model.model.to(device).eval()
        return model
    return load_model(model, device)


class _EmbeddingJob:
    """A catalog and a model, embedded chunk by chunk (shared by embed_catalog/embed_to_file).

    :meth:`compute` makes the raw features of every chunk: in memory, or as parts
    in a :class:`~galmorph.inference.resumable.PartStore` (reusing those already there);
    :meth:`tables` then gives the output table chunk by chunk, PCA-projected
    when asked, holding one chunk's features at a time when they are parts.
    """

    def __init__(
        self,
        catalog: CatalogSource,
        model: ModelSpec,
        *,
        pca: int | None,
        chunk_size: int,
        device: str | torch.device,
        drop_missing_images: bool,
        backend: str = "torch",
        views: int = DEFAULT_VIEWS,
        stages: Sequence[int] = (),
    ) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        self.views = check_views(views)
        self.device = resolve_device(device)
        self.backend = resolve_backend(backend, self.device)
        self.spec = (
            str(model.path) if isinstance(model, LoadedModel) else str(model or DEFAULT_MODEL)
        )
        self.loaded = _load(model, self.device)
        self.frame = load_catalog(catalog, None, drop_missing_images=drop_missing_images)
        self.config = self.loaded.image_config
        self.embedder = self.loaded.model.embedder(stages)
        self.stages = tuple(sorted(int(s) for s in stages))
        self.feature_dim = int(self.embedder.num_features)
        n = len(self.frame)
        if pca is not None and not 1 <= pca <= min(self.feature_dim, n):
            raise GalmorphError(
                f"--pca must be between 1 and {min(self.feature_dim, n)} (the smaller of the "
                f"encoder's {self.feature_dim} features and the {n} galaxies), got {pca}"
            )
        self.pca = pca
        for message in check_image_conventions(
            self.frame["file_loc"].head(CONVENTION_CHECKS).tolist(), self.config, self.loaded.name
        ):
            warnings.warn(message, GalmorphWarning, stacklevel=3)
        self.bounds = chunk_bounds(n, chunk_size)
        self.store: PartStore | None = None
        self._in_memory: dict[int, np.ndarray] = {}
        self.projection: PCAProjection | None = None

    def ids(self, start: int, stop: int) -> pd.Series:
        return self.frame["id_str"].iloc[start:stop]

    def compute(
        self,
        store: PartStore | None,
        *,
        batch_size: int,
        num_workers: int | None,
        progress: bool,
    ) -> None:
        """Embed every chunk not already in ``store``; then fit the PCA, if asked."""
        self.store = store
        self.loaded.model.eval()
        forward = average_over_views(
            cached_onnx_model(self.loaded, "encoder", self.stages) if self.backend == "onnx"
            else self.embedder,
            self.views,
        )
        for number, (start, stop) in enumerate(self.bounds):
            ids = self.ids(start, stop)
            if store is not None and store.has(start, stop, ids):
                continue
            many = len(self.bounds) > 1
            features = run_over_images(
                self.frame.iloc[start:stop], forward, self.config,
                device=self.device, batch_size=batch_size, num_workers=num_workers,
                progress=progress,
                description=f"Embedding {number + 1}/{len(self.bounds)}" if many else "Embedding",
            )
            if store is None:
                self._in_memory[start] = features
            else:
                chunk = pd.DataFrame(features, columns=feature_columns(self.feature_dim))
                chunk.insert(0, "id_str", ids.to_numpy())
                store.write(chunk, start, stop, ids)
        if self.pca is not None:
            self.projection = fit_pca(self._raw_chunks(), self.pca)

    def _raw_chunks(self) -> Iterator[np.ndarray]:
        for start, stop in self.bounds:
            if self.store is None:
                yield self._in_memory[start]
            else:
                yield self.store.read(start, stop, feature_columns(self.feature_dim)).to_numpy(
                    dtype=np.float32
                )

    def tables(self) -> Iterator[pd.DataFrame]:
        """The output table, chunk by chunk: ids, [ra, dec], file_loc and feat_* columns."""
        for (start, stop), raw in zip(self.bounds, self._raw_chunks(), strict=True):
            rows = self.frame.iloc[start:stop]
            features = raw if self.projection is None else self.projection.transform(raw)
            columns: dict[str, Any] = {"id_str": rows["id_str"].to_numpy()}
            for name in ("ra", "dec"):
                if name in rows:
                    columns[name] = rows[name].to_numpy(dtype=np.float64)
            columns["file_loc"] = rows["file_loc"].to_numpy()
            yield pd.concat(
                [pd.DataFrame(columns),
                 pd.DataFrame(features.astype(np.float32, copy=False),
                              columns=feature_columns(features.shape[1]))],
                axis=1,
            )

    def metadata(self) -> dict[str, str]:
        """Provenance and the :class:`EmbeddingInfo` JSON, for the file's metadata."""
        loaded = self.loaded
        info = EmbeddingInfo(
            model={"spec": self.spec, "path": str(loaded.path.resolve()), "name": loaded.name,
                   "sha256": loaded.checksum},
            encoder=str(loaded.metadata.get("encoder", "")),
            feature_dim=self.feature_dim,
            image=self.config.to_dict(),
            n_features=self.projection.n_components if self.projection else self.feature_dim,
            pca=self.projection,
            views=self.views,
            stages=self.stages,
        )
        return {**loaded.provenance(), "galmorph_version": __version__,
                METADATA_KEY: info.to_json()}

    def part_store(self, folder: Path) -> PartStore:
        return PartStore(folder, {"model_sha256": self.loaded.checksum, "views": self.views,
                                  "stages": list(self.stages)},
                         PART_KEY)


def embed_catalog(
    catalog: CatalogSource,
    model: ModelSpec = None,
    *,
    pca: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    parts_dir: str | Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_workers: int | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    drop_missing_images: bool = False,
    backend: str = "torch",
    views: int = DEFAULT_VIEWS,
    stages: Sequence[int] = (),
) -> pd.DataFrame:
    """Pooled encoder features of every galaxy of a catalog, optionally PCA-reduced.

    The catalog is embedded ``chunk_size`` galaxies at a time. With ``parts_dir``
    every chunk's raw features are written there as a parquet part (atomically)
    as soon as it is done, and a part made earlier by the same model from the same
    rows is read instead of recomputed, so an interrupted run resumes where it
    stopped (see :mod:`galmorph.inference.resumable`). With ``pca`` an IncrementalPCA is
    then fitted chunk by chunk. The whole table is returned in memory;
    :func:`embed_to_file` streams it to a file instead.

    Args:
        catalog: table file or DataFrame with ``id_str`` and ``file_loc`` (and
            optionally ``ra``, ``dec``).
        model: a :class:`LoadedModel`, a name, path or ``hf_hub:ORG/NAME``; None:
            the shipped default.
        pca: keep this many PCA components (None: the raw features).
        chunk_size: galaxies per chunk (and per part file).
        parts_dir: folder for resumable parts (None: keep chunks in memory).
        batch_size, num_workers, device, progress, drop_missing_images, backend: as
            :func:`galmorph.inference.predict.predict_catalog` (``backend="onnx"`` runs the
            encoder exported to ONNX with ONNX Runtime).
        views: orientations averaged over (1, 4 or 8; see the module docs).
        stages: earlier encoder stages whose pooled features come first (see the
            module docs; ``()``: the encoder's output only).

    Returns:
        ``id_str``, [``ra``, ``dec``], ``file_loc`` and ``feat_*`` (``float32``)
        per galaxy, in catalog order; ``attrs["galmorph"]`` holds the file
        metadata (provenance and the :class:`EmbeddingInfo` JSON) for
        :func:`galmorph.inference.outputs.write_table`.

    Example:
        >>> table = embed_catalog("catalog.csv", "gz2-starter", pca=40)  # doctest: +SKIP
        >>> table.filter(like="feat_").shape  # doctest: +SKIP
        (630, 40)
    """
    job = _EmbeddingJob(catalog, model, pca=pca, chunk_size=chunk_size, device=device,
                        drop_missing_images=drop_missing_images, backend=backend, views=views,
                        stages=stages)
    store = job.part_store(Path(parts_dir)) if parts_dir is not None else None
    job.compute(store, batch_size=batch_size, num_workers=num_workers, progress=progress)
    table = pd.concat(list(job.tables()), ignore_index=True)
    table.attrs["galmorph"] = job.metadata()
    return table


def embed_to_file(
    catalog: CatalogSource,
    output: str | Path,
    model: ModelSpec = None,
    *,
    resume: bool = False,
    pca: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_workers: int | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    drop_missing_images: bool = False,
    backend: str = "torch",
    views: int = DEFAULT_VIEWS,
    stages: Sequence[int] = (),
) -> Path:
    """Embed a catalog (as :func:`embed_catalog`) into a parquet file, in bounded memory.

    Each chunk's raw features go to a parquet part on disk (in a hidden
    temporary folder beside the output, removed at the end); the PCA is fitted
    over the parts and the output is then streamed from them, one chunk at a
    time, and written atomically. Memory therefore holds the catalog and one
    chunk, whatever the catalog's length. With ``resume`` the parts go to
    ``OUT.parquet.parts/`` (see :func:`parts_dir_for`) and a re-run after an
    interruption skips the chunks already there; the folder is removed once the
    output is written. Anything an earlier killed run left beside the output
    (temporary files and folders, :func:`galmorph.inference.resumable.remove_leftovers`)
    is removed first.

    Raises:
        GalmorphError: when ``output`` does not end in ``.parquet``.

    Example:
        >>> embed_to_file("big.csv", "big.parquet", pca=40, resume=True)  # doctest: +SKIP
        PosixPath('big.parquet')
    """
    output = Path(output)
    if output.suffix.lower() != ".parquet":
        raise GalmorphError(f"embeddings are written as parquet: name the output .parquet, "
                            f"not {output.name}")
    job = _EmbeddingJob(catalog, model, pca=pca, chunk_size=chunk_size, device=device,
                        drop_missing_images=drop_missing_images, backend=backend, views=views,
                        stages=stages)
    remove_leftovers(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if resume:
        folder = parts_dir_for(output)
    else:
        folder = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.",
                                       suffix=".parts"))
    store = job.part_store(folder)
    try:
        job.compute(store, batch_size=batch_size, num_workers=num_workers, progress=progress)
        path, _ = write_table_chunks(job.tables(), output, job.metadata())
    except BaseException:
        if not resume:
            store.remove()
        raise
    store.remove()
    return path


def read_embedding_info(path: str | Path) -> tuple[EmbeddingInfo, int]:
    """What an embeddings file records, and its number of rows, without reading the rows.

    Raises:
        GalmorphError: when the file is missing or is not a galmorph embeddings file.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise GalmorphError(f"embeddings file {path} does not exist")
    try:
        meta = pq.read_metadata(path)
    except Exception as err:  # pyarrow raises several types for a non-parquet file
        raise GalmorphError(f"cannot read {path} as parquet: {err}") from None
    raw_info = (meta.metadata or {}).get(METADATA_KEY.encode())
    if raw_info is None:
        raise GalmorphError(
            f"{path} is not a galmorph embeddings file (no {METADATA_KEY} metadata); "
            "make one with `galmorph embed`"
        )
    return EmbeddingInfo.from_json(raw_info.decode()), int(meta.num_rows)


# ------------------------------------------------------------ new images
def load_embedding_model(
    info: EmbeddingInfo, model: ModelSpec = None, device: str | torch.device = "cpu"
) -> LoadedModel:
    """The model an embeddings file was made with (or ``model``), checked by checksum.

    Without ``model``, the recorded file path is tried first, then the recorded spec
    (a shipped name or ``hf_hub:`` id).

    Raises:
        ModelError: when the model cannot be found or is not the one recorded.
    """
    torch_device = resolve_device(device)
    if isinstance(model, LoadedModel):
        loaded = _load(model, torch_device)
    elif model is not None:  # an external encoder gets the recorded image settings
        loaded = load_model(model, torch_device, image=info.image)
    else:
        recorded = Path(info.model["path"])
        loaded = load_model(recorded if recorded.is_file() else info.model["spec"], torch_device,
                            image=info.image)
    if loaded.checksum != info.model["sha256"]:
        raise ModelError(
            f"{loaded.path} (sha256 {loaded.checksum[:12]}) is not the model these embeddings "
            f"were made with ({info.model['name']}, sha256 {info.model['sha256'][:12]}); "
            "pass that model with --model"
        )
    return loaded


def embed_images(
    paths: Sequence[str | Path],
    embeddings: Embeddings,
    model: ModelSpec = None,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> np.ndarray:
    """Embed new images into an embeddings file's space (its model, then its PCA).

    Images go through the same loader, evaluation transform and orientations
    (``views``) as :func:`embed_catalog`, so an image already in the file gets its
    stored row back.

    Args:
        paths: image files (jpg, png or FITS).
        embeddings: the file whose model (see :func:`load_embedding_model`) and PCA to use.
        model: override the recorded model location (it must have the same checksum).

    Returns:
        ``float32 (len(paths), n_features)``.

    Raises:
        ImageError: when an image is missing or unreadable.
    """
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        raise ImageError(f"image file not found: {', '.join(missing)}")
    torch_device = resolve_device(device)
    loaded = load_embedding_model(embeddings.info, model, torch_device)
    frame = pd.DataFrame({
        "id_str": [f"image_{i}" for i in range(len(paths))],
        "file_loc": [str(Path(p).resolve()) for p in paths],
    })
    for message in check_image_conventions(frame["file_loc"].tolist(), loaded.image_config,
                                           loaded.name):
        warnings.warn(message, GalmorphWarning, stacklevel=2)
    loaded.model.eval()
    raw = run_over_images(
        frame,
        average_over_views(loaded.model.embedder(embeddings.info.stages), embeddings.info.views),
        loaded.image_config, device=torch_device, batch_size=batch_size, num_workers=0,
        progress=False,
    )
    return embeddings.project(raw)
