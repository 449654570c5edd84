"""Defaults of the data layer that the command line shows.

Plain constants only (no imports), so that building ``galmorph``'s argument parser
never loads pandas or torch.
"""

#: Table formats by file-name ending (lower case).
FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".tsv": "csv",
    ".tsv.gz": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".fits": "fits",
    ".fit": "fits",
    ".fits.gz": "fits",
    ".xml": "votable",
    ".vot": "votable",
    ".votable": "votable",
    ".ecsv": "ascii.ecsv",
}

#: Most loader workers by default (one fewer than the usable cores, at least 1): on the
#: CPU the model needs the cores too; with a CUDA GPU the workers' JPEG decoding is what
#: limits the rate.
MAX_DEFAULT_WORKERS: dict[str, int] = {"cpu": 4, "cuda": 16}
