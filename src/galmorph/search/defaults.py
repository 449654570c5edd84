"""Defaults of similarity search that the command line shows.

Plain constants only (no imports), so that building ``galmorph``'s argument parser
never loads numpy, faiss or torch.
"""

#: Distances between embeddings that search supports.
METRICS = ("cosine", "euclidean", "manhattan")
#: Index kinds: ``auto`` picks exact or approximate by catalog size.
INDEX_KINDS = ("auto", "exact", "ivf", "hnsw")

#: ``auto`` searches exactly up to this many galaxies, approximately above.
EXACT_MAX_ROWS = 200_000

#: Entries closer than this on the sky (arcsec) are the same object.
DUPLICATE_RADIUS_ARCSEC = 3.0

#: A ``--ra/--dec`` query takes the nearest galaxy within this radius (arcsec).
MATCH_RADIUS_ARCSEC = 5.0

#: How several example galaxies make one ranking (:mod:`galmorph.search.examples`); the
#: first is the default: on the starter's validation split it found the most galaxies
#: sharing the examples' morphology tag (``benchmarks/bench_examples.py``).
COMBINES = ("centroid", "nearest", "rank")

#: Baselines of the tag evaluation, in table order (``random`` needs no features).
BASELINES = ("random", "pixels", "untrained", "votes")
