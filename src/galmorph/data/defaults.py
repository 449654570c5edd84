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
