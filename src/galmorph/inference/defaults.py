"""Defaults of the inference layer that the command line shows.

Plain constants only (no imports), so that building ``galmorph``'s argument parser
never loads torch or pandas.
"""

#: Galaxies per chunk: one part file, and the most results held in memory at once.
DEFAULT_CHUNK_SIZE = 50_000

#: Orientations averaged over by default (see :mod:`galmorph.inference.embed`).
DEFAULT_VIEWS = 8

#: Galaxies per batch when predicting.
DEFAULT_BATCH_SIZE = 128

#: How ``galmorph embed --map`` lays out the map: ``auto`` (UMAP up to
#: ``DEFAULT_UMAP_MAX`` galaxies, PCA above), ``umap`` or ``pca``.
MAP_METHODS = ("auto", "umap", "pca")

#: ``auto`` maps at most this many galaxies with UMAP (see :mod:`galmorph.inference.maps`).
DEFAULT_UMAP_MAX = 100_000
