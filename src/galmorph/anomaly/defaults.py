"""Defaults of the anomaly layer that the command line shows, and its shared sizes.

Plain constants only (no imports), so that building ``galmorph``'s argument parser
never loads numpy or scikit-learn.
"""

#: Ranking and proposal methods: active learning and the baselines.
METHODS = ("active", "isolation-forest", "lof", "reweighted-forest")
DEFAULT_PCA = 40
DEFAULT_XI = 0.5
DEFAULT_BATCH_SIZE = 10
#: Largest seed: scikit-learn's random states are below 2**32.
MAX_SEED = 2**32 - 1
#: Predicted star/artefact fraction at or above which a galaxy is flagged.
DEFAULT_ARTEFACT_THRESHOLD = 0.5
#: Score at or above which the benchmark calls a galaxy interesting by default.
DEFAULT_INTERESTING_SCORE = 4
#: Precision@N cut-offs the benchmark reports.
PRECISION_AT = (50, 100, 200)
#: Rows sampled to fit the PCA of raw features, and rows per block of the passes
#: over every galaxy (PCA projection, LOF, the re-weighting random forest).
SAMPLE_ROWS = 100_000
