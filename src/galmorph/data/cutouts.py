"""Images for a catalog of sky positions, fetched from a cutout service.

:func:`download_cutouts` reads a catalog with an id and ``ra``/``dec`` (degrees) per
galaxy and fetches each galaxy's image (:mod:`galmorph.data.cutout_services`) into a
folder that every other command takes as it is::

    OUT/images/ID.jpg    one image per galaxy (characters other than letters, digits
                         and ._+- in ids become _)
    OUT/catalog.csv      the catalog's rows that have an image, with file_loc added
                         (replacing one the catalog had)
    OUT/failed.csv       the galaxies without one: id_str, ra, dec, url, the reason and
                         whether it may pass later (only while some are missing)
    OUT/cutouts.json     the service, format, size and pixel scale of the images
    OUT/sources.csv      the URL each image came from

Each image is written whole or not at all, so a run stopped part-way, or with
failures, is completed by running it again: images already there from the URL this
run would fetch are kept (:mod:`galmorph.data.cutout_log`), and only the others are
fetched (with the same settings; others are refused).

Example:
    >>> summary = download_cutouts("targets.csv", "targets", service="legacy")  # doctest: +SKIP
    >>> summary.catalog  # doctest: +SKIP
    PosixPath('targets/catalog.csv')
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from galmorph.data.catalog import catalog_name
from galmorph.data.cutout_fetch import CutoutFailure, fetch_cutout, image_problem
from galmorph.data.cutout_log import SourceLog
from galmorph.data.cutout_services import FORMAT_ENDINGS, CutoutService, get_service
from galmorph.data.cutout_targets import file_names, read_targets, row_scales
from galmorph.data.defaults import (
    CUTOUT_RETRIES,
    CUTOUT_RETRY_WAIT,
    CUTOUT_TIMEOUT,
    CUTOUT_WORKERS,
)
from galmorph.exceptions import GalmorphError
from galmorph.files import atomic_target, user_path, write_json
from galmorph.numbers import positive_number, real_number, whole_number

#: What the output folder holds (see the module docs).
IMAGES, CATALOG, FAILED, SETTINGS, SOURCES = (
    "images", "catalog.csv", "failed.csv", "cutouts.json", "sources.csv")
#: Ending of the reason of a lasting failure an earlier run found, kept without a request.
CARRIED = " (an earlier run; --retry-failed tries again)"


@dataclass(frozen=True)
class CutoutSummary:
    """What :func:`download_cutouts` did.

    Attributes:
        catalog: the catalog of the galaxies with an image (None when none has one).
        n_galaxies: galaxies in the input catalog.
        downloaded: images fetched by this run.
        kept: images already in the folder from an earlier run.
        failed: one row per galaxy without an image: ``id_str``, ``ra``, ``dec``,
            ``url``, ``reason`` and ``temporary`` (trying again later may succeed: the
            service did not answer or was busy).
        failed_path: the file holding ``failed`` (None when none failed).
        settings: what the images were made with: ``service``, ``url`` (template),
            ``format``, ``size`` (px) and ``pixel_scale`` (arcsec/px, or the column
            giving each galaxy's; these two None when the service's URL takes neither
            and none was given).
    """

    catalog: Path | None
    n_galaxies: int
    downloaded: int
    kept: int
    failed: pd.DataFrame
    failed_path: Path | None
    settings: dict[str, Any]


def _check_settings(out: Path, settings: dict[str, Any]) -> None:
    """Refuse an output folder holding other files, or cutouts of other settings.

    Raises:
        GalmorphError: naming what differs, or the folder's first file.
    """
    path = out / SETTINGS
    if path.is_file():
        try:
            earlier = json.loads(path.read_text())
        except ValueError as err:
            raise GalmorphError(f"cannot read {path} ({err}): give a new folder") from None
        if not isinstance(earlier, dict):
            raise GalmorphError(f"{path} holds no settings of galmorph cutouts: give a new "
                                "folder")
        differ = [f"{key} {earlier.get(key)!r}, not {value!r}"
                  for key, value in settings.items() if earlier.get(key) != value]
        if differ:
            raise GalmorphError(f"{out} holds cutouts made with other settings "
                                f"({'; '.join(differ)}): give a new folder, or the "
                                "same settings to complete it")
    elif out.is_dir() and any(out.iterdir()):
        first = sorted(out.iterdir())[0]
        raise GalmorphError(f"{out} is not empty (it holds {first.name}) and holds no "
                            f"{SETTINGS}: give a new or empty folder for the cutouts")


def _fetch_one(url: str, file: str, out: Path, fmt: str, log: SourceLog,
               options: dict[str, Any]) -> CutoutFailure | None:
    """Fetch, check and write one image (and log where it came from); why it failed, or
    None.

    Raises:
        GalmorphError: when the image cannot be written (a full disk): every other
            image would fail too.
    """
    try:
        data = fetch_cutout(url, **options)
    except CutoutFailure as err:
        return err
    problem = image_problem(data, fmt)
    if problem is not None:
        return problem
    try:
        with atomic_target(out / file) as tmp:
            tmp.write_bytes(data)
        log.record(file, url)
    except OSError as err:
        raise GalmorphError(f"cannot write {out / file}: {err.strerror or err}") from None
    return None


def download_cutouts(
    catalog: str | Path | pd.DataFrame,
    out_dir: str | Path,
    *,
    service: str | CutoutService = "sdss",
    fmt: str = "jpg",
    size: int | None = None,
    pixel_scale: float | str | None = None,
    id_column: str | None = None,
    workers: int = CUTOUT_WORKERS,
    retries: int = CUTOUT_RETRIES,
    timeout: float = CUTOUT_TIMEOUT,
    retry_wait: float = CUTOUT_RETRY_WAIT,
    retry_failed: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> CutoutSummary:
    """Fetch an image per galaxy of ``catalog`` into ``out_dir`` (see the module docs).

    Args:
        catalog: a table file (or DataFrame) with ids and ``ra``/``dec`` in degrees.
        out_dir: folder for the images and the catalog (new, empty, or of an earlier
            run with the same settings, which is completed).
        service: a built-in service's name or a :class:`CutoutService`.
        fmt: ``jpg``, ``png`` or ``fits``, as the service gives.
        size: side of the images in pixels (default: the service's).
        pixel_scale: arcsec per pixel (default: the service's), or the name of a column
            giving each galaxy's (e.g. to fit each galaxy's size, as Galaxy Zoo DECaLS
            cut its images).
        id_column: the id column, when it is not ``id_str``.
        workers: downloads at once; retries, timeout (s), retry_wait (s): see
            :func:`~galmorph.data.cutout_fetch.fetch_cutout`.
        retry_failed: also fetch again the galaxies an earlier run found without an image
            for a lasting reason (HTTP 404, a blank image: outside the survey), from the
            same URL; by default they keep their failure (those that may pass later, a
            service that did not answer, are always tried again).
        progress: called with (images done, images to fetch) after each one.

    Raises:
        CatalogError: for a catalog without usable ids or positions.
        GalmorphError: for bad settings, or an output folder that is not this job's.
    """
    service = get_service(service) if isinstance(service, str) else service
    settings = _settings(service, fmt, size, pixel_scale)
    whole_number(workers, "workers", low=1)
    whole_number(retries, "retries", low=0)
    positive_number(timeout, "timeout")
    real_number(retry_wait, "retry_wait", low=0)
    frame = read_targets(catalog, id_column)
    files = IMAGES + "/" + file_names(frame["id_str"]) + FORMAT_ENDINGS[fmt]
    scales, settings["pixel_scale"] = row_scales(frame, settings["pixel_scale"],
                                                 catalog_name(catalog))
    urls = pd.Series([service.url(fmt, ra=ra, dec=dec, size=settings["size"],
                                  pixel_scale=scale, galaxy_id=galaxy)
                      for ra, dec, galaxy, scale in zip(frame["ra"], frame["dec"],
                                                        frame["id_str"], scales, strict=True)])
    out = Path(os.path.abspath(user_path(out_dir)))
    if out.exists() and not out.is_dir():
        raise GalmorphError(f"{out_dir} is a file: give a folder for the cutouts")
    _check_settings(out, settings)
    write_json(settings, out / SETTINGS)  # first: a folder with it is this job's
    (out / IMAGES).mkdir(exist_ok=True)
    log = SourceLog(out / SOURCES)
    present = pd.Series([(out / file).is_file() and log.matches(file, url)
                         for file, url in zip(files, urls, strict=True)])
    known = {} if retry_failed else _lasting_failures(out / FAILED)
    carried = {row: CutoutFailure(known[url] + CARRIED, temporary=False)
               for row, url in urls[~present].items() if url in known}
    wanted = ~present & ~urls.index.isin(list(carried))
    options = {"timeout": timeout, "retries": retries, "retry_wait": retry_wait}
    try:
        fetched = _fetch_all(urls[wanted], files[wanted], out, fmt, log, workers, options,
                             progress)
    finally:
        log.compact(f"{IMAGES}/{path.name}" for path in sorted((out / IMAGES).iterdir()))
    reasons = {**carried, **fetched}
    failed = frame.loc[list(reasons), ["id_str", "ra", "dec"]].assign(
        url=urls[list(reasons)], reason=[str(err) for err in reasons.values()],
        temporary=[err.temporary for err in reasons.values()]).sort_index()
    done = frame.assign(file_loc=files)[~frame.index.isin(failed.index)]
    return CutoutSummary(
        catalog=_write_tables(out, done, failed), n_galaxies=len(frame),
        downloaded=int(wanted.sum()) - len(fetched),
        kept=int(present.sum()),
        failed=failed.reset_index(drop=True),
        failed_path=None if failed.empty else out / FAILED, settings=settings)


def _lasting_failures(path: Path) -> dict[str, str]:
    """The reason of each URL an earlier run's ``failed.csv`` lists as a lasting failure
    (not ``temporary``); none without a readable one."""
    try:
        table = pd.read_csv(path, usecols=["url", "reason", "temporary"], dtype=str,
                            keep_default_na=False)
    except (OSError, ValueError):  # no table yet, or not one this command wrote
        return {}
    lasting = table[table["temporary"].str.lower() == "false"]
    return {url: reason.removesuffix(CARRIED)
            for url, reason in zip(lasting["url"], lasting["reason"], strict=True)}


def _settings(service: CutoutService, fmt: str, size: int | None,
              pixel_scale: float | str | None) -> dict[str, Any]:
    """The settings the images are made with (``cutouts.json``), defaults filled in.

    Raises:
        GalmorphError: for a format the service does not give, or a size or pixel scale
            the service's URL needs and has no default for.
    """
    template = service.template(fmt)
    for name, value, option in (("size", size, "size"), ("pixel_scale", pixel_scale,
                                                        "pixel scale")):
        if value is not None and f"{{{name}}}" not in template:
            raise GalmorphError(f"the URL template has no {{{name}}}: the {option} given "
                                f"would not reach the service; add {{{name}}} to it, or "
                                "leave the option out")
    size = service.size if size is None else whole_number(size, "size", low=1)
    if pixel_scale is None:
        pixel_scale = service.pixel_scale
    elif not isinstance(pixel_scale, str):  # a column's name is checked with the catalog
        pixel_scale = positive_number(pixel_scale, "pixel_scale")
    for name, value, option in (("size", size, "--size"),
                                ("pixel_scale", pixel_scale, "--pixel-scale")):
        if value is None and f"{{{name}}}" in template:
            raise GalmorphError(f"the URL template takes {{{name}}}: give {option}")
    return {"service": service.name, "url": template, "format": fmt, "size": size,
            "pixel_scale": pixel_scale}


def _fetch_all(urls: pd.Series, files: pd.Series, out: Path, fmt: str, log: SourceLog,
               workers: int, options: dict[str, float],
               progress: Callable[[int, int], None] | None) -> dict[int, CutoutFailure]:
    """Fetch the images at ``urls`` into ``out/files``, ``workers`` at once; the
    failures by row. On Ctrl-C no new download or retry begins, and those under way
    stop at their next block of data."""
    reasons: dict[int, CutoutFailure] = {}
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = {pool.submit(_fetch_one, url, file, out, fmt, log, {**options, "stop": stop}):
                row for row, url, file in zip(urls.index, urls, files, strict=True)}
        try:
            if progress is not None:
                progress(0, len(jobs))
            for done, job in enumerate(as_completed(jobs), start=1):
                reason = job.result()
                if reason is not None:
                    reasons[jobs[job]] = reason
                if progress is not None:
                    progress(done, len(jobs))
        except BaseException:  # Ctrl-C, a full disk: images written so far stay, logged
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return reasons


def _write_tables(out: Path, done: pd.DataFrame, failed: pd.DataFrame) -> Path | None:
    """Write (or remove) the catalog of the images there and the table of failures; the
    catalog's path, None without a galaxy with an image."""
    for name, table in ((CATALOG, done), (FAILED, failed)):
        if table.empty:
            (out / name).unlink(missing_ok=True)
            continue
        with atomic_target(out / name) as tmp:
            table.to_csv(tmp, index=False)
    return None if done.empty else out / CATALOG
