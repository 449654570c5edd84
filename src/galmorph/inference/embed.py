"""Galaxy representations: a model's pooled encoder features per galaxy, optionally PCA-reduced.

:func:`embed_catalog` runs a model's encoder over a catalog (the pooled,
pre-head features, :meth:`galmorph.models.model.GalaxyModel.embedder`) and returns one row
per galaxy; :func:`embed_to_file` writes them to parquet, optionally resumable.
The file's contents are described in :mod:`galmorph.inference.embeddings`;
:func:`galmorph.inference.new_images.embed_images` embeds new images into the same
space, with the model the file records.

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
>>> from galmorph.inference.embed import embed_to_file
>>> embed_to_file("catalog.csv", "emb.parquet", "gz2-starter", pca=10)  # doctest: +SKIP
PosixPath('emb.parquet')
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from galmorph import __version__
from galmorph.data.caller_rows import caller_index, load_catalog_with_rows
from galmorph.data.catalog import CatalogSource
from galmorph.data.views import average_over_views, check_views
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.files import user_path
from galmorph.inference.defaults import DEFAULT_BATCH_SIZE, DEFAULT_CHUNK_SIZE, DEFAULT_VIEWS
from galmorph.inference.embeddings import METADATA_KEY, EmbeddingInfo, feature_columns
from galmorph.inference.loading import ModelSpec, as_loaded
from galmorph.inference.loop import (
    check_image_conventions,
    check_some_read,
    read_rows,
    run_over_images,
    unreadable_message,
)
from galmorph.inference.outputs import check_not_folder, write_table_chunks
from galmorph.inference.pca import PCAProjection, fit_pca
from galmorph.inference.resumable import PartStore, chunk_bounds, parts_dir_for, remove_leftovers
from galmorph.models.checkpoint import LoadedModel
from galmorph.models.defaults import DEFAULT_MODEL
from galmorph.models.device import resolve_device
from galmorph.models.onnx_backend import cached_onnx_model, resolve_model_backend

#: Parquet metadata key of a resumable part's bookkeeping JSON.
PART_KEY = "galmorph_embedding_part"


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
        skip_unreadable_images: bool = False,
        backend: str = "auto",
        views: int = DEFAULT_VIEWS,
        stages: Sequence[int] = (),
    ) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        self.views = check_views(views)
        self.device = resolve_device(device)
        self.spec = (
            str(model.path) if isinstance(model, LoadedModel) else str(model or DEFAULT_MODEL)
        )
        self.loaded = as_loaded(model, self.device)
        self.backend = resolve_model_backend(backend, self.loaded, self.device)
        self.frame, rows = load_catalog_with_rows(catalog,
                                                  drop_missing_images=drop_missing_images)
        self.caller_rows = caller_index(catalog, rows)
        self.config = self.loaded.image_config
        self.embedder = self.loaded.model.embedder(stages)
        self.stages = tuple(sorted(int(s) for s in stages))
        self.feature_dim = int(self.embedder.num_features)
        n = len(self.frame)
        if pca is not None and not 1 <= pca <= min(self.feature_dim, n):
            raise GalmorphError(
                f"pca (--pca) must be between 1 and {min(self.feature_dim, n)} (the smaller of the "
                f"encoder's {self.feature_dim} features and the {n} galaxies), got {pca}"
            )
        self.pca = pca
        self.skip_unreadable = skip_unreadable_images
        for message in check_image_conventions(self.frame, self.config, self.loaded.name,
                                               skip_unreadable_images):
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
        unreadable: list[str] = []
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
                skip_unreadable=self.skip_unreadable, unreadable=unreadable,
            )
            if store is None:
                self._in_memory[start] = features
            else:
                chunk = pd.DataFrame(features, columns=feature_columns(self.feature_dim))
                chunk.insert(0, "id_str", ids.to_numpy())
                store.write(chunk, start, stop, ids)
        if unreadable:
            warnings.warn(unreadable_message(unreadable, len(self.frame)), GalmorphWarning,
                          stacklevel=3)
        if self.pca is not None:
            self.projection = fit_pca((raw for _, raw in self._raw_chunks()), self.pca)

    def _raw_chunks(self) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        """Each chunk's catalog rows and raw features, without the galaxies left out as
        unreadable; raises when that leaves none at all."""
        kept = 0
        for start, stop in self.bounds:
            if self.store is None:
                raw = self._in_memory[start]
            else:
                raw = self.store.read(start, stop, feature_columns(self.feature_dim)).to_numpy(
                    dtype=np.float32
                )
            read = read_rows(raw)
            kept += int(read.sum())
            yield self.frame.iloc[start:stop][read], raw[read]
        check_some_read(kept, len(self.frame))

    def tables(self) -> Iterator[pd.DataFrame]:
        """The output table, chunk by chunk: ids, [ra, dec], file_loc and feat_* columns."""
        for rows, raw in self._raw_chunks():
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
    device: str | torch.device = "auto",
    progress: bool = True,
    drop_missing_images: bool = False,
    skip_unreadable_images: bool = False,
    backend: str = "auto",
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
        batch_size, num_workers, device, progress, drop_missing_images,
        skip_unreadable_images, backend: as
            :func:`galmorph.inference.predict.predict_catalog` (``backend="onnx"``, and
            ``"auto"`` on the CPU, runs the encoder exported to ONNX with ONNX Runtime).
        views: orientations averaged over (1, 4 or 8; see the module docs).
        stages: earlier encoder stages whose pooled features come first (see the
            module docs; ``()``: the encoder's output only).

    Returns:
        ``id_str``, [``ra``, ``dec``], ``file_loc`` and ``feat_*`` (``float32``)
        per galaxy, in catalog order (for a DataFrame ``catalog``, with its index:
        ``catalog["x"] = table["feat_0"]`` lines up); ``attrs["galmorph"]`` holds the file
        metadata (provenance and the :class:`EmbeddingInfo` JSON) for
        :func:`galmorph.inference.outputs.write_table`.

    Example:
        >>> table = embed_catalog("catalog.csv", "gz2-starter", pca=40)  # doctest: +SKIP
        >>> table.filter(like="feat_").shape  # doctest: +SKIP
        (630, 40)
    """
    job = _EmbeddingJob(catalog, model, pca=pca, chunk_size=chunk_size, device=device,
                        drop_missing_images=drop_missing_images,
                        skip_unreadable_images=skip_unreadable_images, backend=backend,
                        views=views, stages=stages)
    store = job.part_store(Path(parts_dir)) if parts_dir is not None else None
    job.compute(store, batch_size=batch_size, num_workers=num_workers, progress=progress)
    table = pd.concat(list(job.tables()), ignore_index=True)
    if job.caller_rows is not None:
        table.index = job.caller_rows[job.frame["id_str"].isin(table["id_str"]).to_numpy()]
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
    device: str | torch.device = "auto",
    progress: bool = True,
    drop_missing_images: bool = False,
    skip_unreadable_images: bool = False,
    backend: str = "auto",
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
        GalmorphError: when ``output`` does not end in ``.parquet`` or is a folder.

    Example:
        >>> embed_to_file("big.csv", "big.parquet", pca=40, resume=True)  # doctest: +SKIP
        PosixPath('big.parquet')
    """
    output = user_path(output)
    check_not_folder(output, "embeddings.parquet")
    if output.suffix.lower() != ".parquet":
        raise GalmorphError(f"embeddings are written as parquet: name the output .parquet, "
                            f"not {output.name}")
    job = _EmbeddingJob(catalog, model, pca=pca, chunk_size=chunk_size, device=device,
                        drop_missing_images=drop_missing_images,
                        skip_unreadable_images=skip_unreadable_images, backend=backend,
                        views=views, stages=stages)
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
