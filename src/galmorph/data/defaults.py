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

#: Built-in image cutout services (``galmorph cutouts --service``), the first the default:
#: SDSS, whose images the shipped model learnt.
CUTOUT_SERVICES: tuple[str, ...] = ("sdss", "legacy")
#: Image formats cutout services give, by the file ending they are written with.
CUTOUT_FORMATS: dict[str, str] = {"jpg": ".jpg", "png": ".png", "fits": ".fits"}
#: Downloads running at once by default: polite to a public service, and a few times
#: faster than one at a time.
CUTOUT_WORKERS = 4
#: Tries per image after the first, for answers that may succeed later (timeouts, HTTP
#: 429 and 5xx), and the seconds to wait before the first retry (doubling each time).
CUTOUT_RETRIES = 3
CUTOUT_RETRY_WAIT = 2.0
#: Seconds to wait for a service's answer.
CUTOUT_TIMEOUT = 60.0

#: How messages number a catalog's rows, for those who open the file in a spreadsheet or
#: an editor (said under messages that name rows).
ROWS_NOTE = ("Rows are numbered from 0, the first after the header: row 0 is row 2 of a "
             "spreadsheet, row 1 in TOPCAT and line 2 of a CSV file without comment lines.")

#: Northern edge of the Legacy Surveys' DR10 (DECam) images, degrees of declination;
#: north of it DR9 holds the northern surveys' images (BASS and MzLS).
DR10_NORTH_LIMIT = 32.375
