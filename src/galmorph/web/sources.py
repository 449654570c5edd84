"""What ``galmorph serve`` reads besides the embeddings, checked against them at start-up.

:func:`read_predictions` and :func:`image_files` read the ``--predictions`` table (or
partitioned output folder) and the images' paths (from ``--catalog`` or the embeddings)
and refuse a file that shares no galaxy with the embeddings, naming both, since every
summary, filter and image would then be silently empty; a file that covers only some galaxies gets a
:class:`~galmorph.exceptions.GalmorphWarning` with the counts. :func:`check_images` warns
when the image files of a sample of galaxies are not there (the folder moved, or the
embeddings were made on another computer), instead of a page of broken images.

Example:
    >>> import numpy as np
    >>> covered(np.array(["a", "b", "c"]), np.array(["c", "x"])).tolist()
    [False, False, True]
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from galmorph.data.fits_images import image_exists
from galmorph.exceptions import GalmorphError, GalmorphWarning

#: Image files checked at start-up (spread over the catalog).
IMAGES_CHECKED = 50


def covered(ids: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``(n,)`` bool: which of ``ids`` are in ``other`` (compared as text)."""
    return pd.Index(pd.unique(np.asarray(other).astype(str))).get_indexer(ids) >= 0


def _check_coverage(ids: np.ndarray, other: np.ndarray, what: str, embeddings: str | Path,
                    lacking: str) -> None:
    """Refuse ``what`` when it shares no galaxy with the embeddings; warn when it lacks some."""
    found = covered(ids, other)
    if not found.any():
        sample = ", ".join(repr(str(i)) for i in pd.unique(np.asarray(other).astype(str))[:3])
        raise GalmorphError(
            f"{what} shares no id_str with {embeddings} (its ids are e.g. {sample or 'none'}; "
            f"the embeddings' e.g. {', '.join(repr(str(i)) for i in ids[:3])}): give the "
            "files made from the same catalog")
    if not found.all():
        warnings.warn(f"{what} lacks {int((~found).sum()):,} of the {len(ids):,} galaxies of "
                      f"{embeddings} (e.g. {str(ids[np.argmin(found)])!r}): they are shown "
                      f"{lacking}", GalmorphWarning, stacklevel=3)


def read_predictions(path: str | Path, ids: np.ndarray, embeddings: str | Path
                     ) -> pd.DataFrame:
    """The ``galmorph predict`` table at ``path``, or the complete partitions of its
    partitioned output folder, checked to share galaxies with ``ids``.

    Raises:
        GalmorphError: naming the file: missing, unreadable, without ``id_str``, or sharing
            no galaxy with the embeddings; a folder that is not a partitioned predict output.
    """
    from galmorph.inference.manifest import read_output

    path = Path(path)
    if not path.exists():
        raise GalmorphError(f"predictions {path} does not exist")
    try:
        table = read_output(path, "predict")
    except GalmorphError as err:
        if not path.is_dir():
            raise
        raise GalmorphError(f"predictions {err}") from None
    if "id_str" not in table.columns:
        raise GalmorphError(f"predictions {path} have no id_str column: make them with "
                            "`galmorph predict`")
    _check_coverage(ids, table["id_str"].astype(str).to_numpy(), f"predictions file {path}",
                    embeddings, "without predicted morphology")
    return table


def artefact_source(path: str | Path, table: pd.DataFrame) -> str | Path | None:
    """``path`` when its ``table`` has a star-or-artefact fraction to flag artefacts with in a
    new labelling session; else None, with a warning (a fine-tuned classifier's or a
    regressor's predictions have none: no galaxy is flagged)."""
    from galmorph.anomaly.baselines import ARTEFACT_COLUMNS

    if any(column in table.columns for column in ARTEFACT_COLUMNS):
        return path
    warnings.warn(f"predictions {path} have no star-or-artefact fraction (such as "
                  f"{ARTEFACT_COLUMNS[0]}): the new labelling session flags no galaxy as an "
                  "artefact", GalmorphWarning, stacklevel=3)
    return None


def image_files(ids: np.ndarray, catalog: pd.DataFrame | None, catalog_path: str | Path | None,
                file_loc: np.ndarray | None, embeddings: str | Path) -> np.ndarray:
    """Each galaxy's image path (text; None when unknown): the catalog's ``file_loc`` when
    given, else the embeddings'.

    Raises:
        GalmorphError: for a catalog that shares no galaxy with the embeddings.
    """
    if catalog is not None:
        _check_coverage(ids, catalog["id_str"].astype(str).to_numpy(), f"catalog {catalog_path}",
                        embeddings, "without images")
        known = catalog.drop_duplicates("id_str").set_index("id_str")["file_loc"]
        files = known.reindex(ids).to_numpy()
    elif file_loc is not None:
        files = file_loc
    else:
        files = np.full(len(ids), None)
    return np.array([None if pd.isna(f) or not str(f) else str(f) for f in files], dtype=object)


def check_images(files: np.ndarray, embeddings: str | Path, catalog: str | Path | None = None,
                 checked: int = IMAGES_CHECKED) -> None:
    """Warn when the image files of up to ``checked`` galaxies, spread over ``files`` (from
    ``catalog``, else the embeddings), are missing, naming one and saying how to point to
    them."""
    known = np.flatnonzero(pd.notna(files))
    if not len(known):
        return
    sample = known[np.unique(np.linspace(0, len(known) - 1, min(checked, len(known))).astype(int))]
    missing = [str(files[row]) for row in sample if not image_exists(files[row])]
    if not missing:
        return
    share = (f"none of the {len(sample)} image files checked exists" if len(missing) == len(sample)
             else f"{len(missing)} of the {len(sample)} image files checked are missing")
    fix = (f"check the file_loc column of catalog {catalog} (a relative path is read from "
           "the catalog's folder)" if catalog is not None else
           "if the images moved, give a catalog whose file_loc says where they are now "
           f"(galmorph serve {embeddings} --catalog CATALOG)")
    warnings.warn(f"{share} (e.g. {missing[0]}): the pages show no image for such galaxies; "
                  f"{fix}", GalmorphWarning, stacklevel=3)
