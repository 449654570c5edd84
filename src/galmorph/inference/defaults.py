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
