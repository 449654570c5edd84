"""The galaxies of an embeddings source, besides its features.

:class:`GalaxyRows` holds the ids, sky positions and image paths of
:class:`~galmorph.inference.embeddings.Embeddings` (one file) and of
:class:`~galmorph.inference.embedding_folder.PartitionedEmbeddings` (a folder of them),
finds a galaxy's row by id and projects new features into the source's space.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from galmorph.exceptions import GalmorphError

if TYPE_CHECKING:
    from galmorph.inference.embeddings import EmbeddingInfo


class GalaxyRows:
    """What every embeddings source has besides features: the galaxies' ids, sky positions
    and image paths, and how the features were made.

    :class:`Embeddings` (one file, features in memory) and
    :class:`galmorph.inference.embedding_folder.PartitionedEmbeddings` (a folder of files,
    features read a partition at a time) share these methods.
    """

    ids: np.ndarray
    info: EmbeddingInfo
    ra: np.ndarray | None
    dec: np.ndarray | None
    path: Path | None

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
        raise GalmorphError(f"no galaxy with id {galaxy_id!r}{where} ({len(self.ids)} "
                            f"galaxies){hint}")

    def project(self, raw: np.ndarray) -> np.ndarray:
        """Encoder features ``(n, feature_dim)`` in this file's space (PCA if it has one)."""
        raw = np.asarray(raw, dtype=np.float32)
        return self.info.pca.transform(raw) if self.info.pca is not None else raw
