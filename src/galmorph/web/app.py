"""The FastAPI application behind ``galmorph serve``.

Routes (JSON unless said otherwise):

* ``GET /``: the page; ``/static/…``: its script and style (no external assets).
* ``GET /api/info``: what is loaded (and ``max_upload``, the largest upload in bytes).
* ``GET /favicon.ico``: the page's icon (SVG).
* ``GET /api/galaxies?page=&per_page=&q=&where=&sort=``: a page of galaxies (``q``: id
  contains; ``where``: a filter such as ``bar > 0.6 and spiral > 0.8``; ``sort``: ``NAME``,
  ``-NAME`` or ``NAME.uncertainty``; see :mod:`galmorph.web.table`). Bad filters get 400.
  ``GET /export/galaxies.csv`` with the same ``q``, ``where`` and ``sort``: all of them
  (ids, positions and predicted answers), as CSV.
* ``GET /api/map``: the 2-D map's coordinates (little-endian float32 ``x, y`` per
  gallery row, NaN off the map); ``/api/map/info``: its counts, method, bounds and
  colour choices; ``/api/map/colour?by=NAME``: a float32 per row to colour by (a
  predicted answer, ``score`` or ``interest``; NaN: none); ``/api/map/rows/{row}``: one
  point's galaxy. 409 without a map.
* ``GET /api/map/selection?polygon=x1,y1,...&show=``: how many galaxies lie inside a
  polygon in map coordinates, and ``show`` of them (12 unless told) drawn at random, as
  cards; ``GET /export/selection.csv?polygon=``: all their ids (CSV).
* ``GET /galaxy/{id}``: a galaxy's page (static; 404 for unknown ids), filled from
  ``GET /api/galaxy/{id}?k=``: its predicted answers, neighbours and label history.
* ``GET /images/{id}``: a galaxy's image, by id only (unknown ids: 404).
* ``GET /api/similar/{id}?k=``: its nearest neighbours; ``id`` may also be an id in
  another case or a position ``RA Dec`` in degrees (see :mod:`galmorph.web.lookup`).
* ``POST /api/similar-image`` (multipart ``file``, ``k``): neighbours of an uploaded image
  (``file`` once, or once per band: one FITS file per band, see :mod:`galmorph.web.pictures`).
* ``GET /api/anomaly/batch``, ``POST /api/anomaly/retrain``: the batch to label;
  retrain refits the model to every label and proposes a new batch (before any label
  it keeps the batch: ``"retrained": false``).
* ``POST /api/anomaly/label`` (``{"id", "score"}``, score 0–5).
* ``GET /api/anomaly/ranking?limit=``; ``GET /export/labels.csv``, ``/export/ranking.csv``
  (409 before the first label when the session's method learns from labels).

Bad requests get a 4xx answer ``{"detail": message}``; an unexpected failure a
500 with a one-line message, never a stack trace.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from galmorph import __version__
from galmorph.exceptions import GalmorphError
from galmorph.web import DEFAULT_MAX_UPLOAD
from galmorph.web.detail import DETAIL_NEIGHBOURS, galaxy_detail
from galmorph.web.gallery import (
    MAX_PAGE_SIZE,
    MAX_RESULTS,
    Gallery,
    NoLabels,
    NoSession,
    UnknownGalaxy,
    csv_bytes,
)
from galmorph.web.lookup import similar_to_text
from galmorph.web.map_view import SELECTION_SHOWN, MapView, float32_bytes, parse_polygon
from galmorph.web.query import MAX_LENGTH

#: Bytes of multipart framing allowed on top of the largest upload.
FORM_OVERHEAD = 64 * 1024
STATIC = Path(__file__).parent / "static"
#: Sent with every answer: only this server's own scripts, styles and images run.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

log = logging.getLogger(__name__)


class LabelRequest(BaseModel):
    """A score for one galaxy."""

    id: str = Field(min_length=1, max_length=500)
    score: float = Field(ge=0, le=5, allow_inf_nan=False)


def _csv(data: bytes, name: str) -> Response:
    return Response(data, media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def host_name(header: str) -> str | None:
    """The host of a ``Host`` header, without its port or IPv6 brackets (None if malformed).

    Example:
        >>> host_name("127.0.0.1:8000"), host_name("[::1]:80"), host_name("Evil.example")
        ('127.0.0.1', '::1', 'evil.example')
    """
    try:
        return urllib.parse.urlsplit(f"//{header}").hostname
    except ValueError:
        return None


def create_app(gallery: Gallery, *, max_upload: int = DEFAULT_MAX_UPLOAD,
               allowed_hosts: Collection[str] | None = None) -> FastAPI:
    """The web app serving ``gallery``; uploads larger than ``max_upload`` bytes get 413.

    ``allowed_hosts``: the only host names requests may be addressed to (their ``Host``
    header), else 400; for a server on this computer only, its loopback names, so that
    another web site cannot reach it through a name it controls (DNS rebinding). None
    takes any.
    """
    app = FastAPI(title="galmorph", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        """Refuse requests to other host names and oversized bodies before reading them;
        add the security headers."""
        length = request.headers.get("content-length", "0")
        host = host_name(request.headers.get("host", ""))
        if allowed_hosts is not None and host not in allowed_hosts:
            response: Response = JSONResponse(
                {"detail": f"this server answers to {', '.join(allowed_hosts)} only, not "
                 f"{host or 'an unnamed host'}"}, status_code=400)
        elif not length.isdigit() or int(length) > max_upload + FORM_OVERHEAD:
            response = JSONResponse(
                {"detail": f"the request is larger than {max_upload / 1024**2:g} MB"
                 if length.isdigit() else "bad Content-Length header"},
                status_code=413 if length.isdigit() else 400)
        else:
            response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(UnknownGalaxy)
    async def unknown(_: Request, err: UnknownGalaxy) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=404)

    @app.exception_handler(NoSession)
    @app.exception_handler(NoLabels)
    async def no_session(_: Request, err: GalmorphError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=409)

    @app.exception_handler(GalmorphError)
    async def bad_input(_: Request, err: GalmorphError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}"
                             for e in err.errors())
        return JSONResponse({"detail": problems}, status_code=422)

    @app.exception_handler(Exception)
    async def failure(_: Request, err: Exception) -> JSONResponse:
        log.exception("internal error")
        return JSONResponse({"detail": f"internal error ({type(err).__name__})"},
                            status_code=500)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml",
                            headers={"Cache-Control": "max-age=86400"})

    @app.get("/api/info")
    def info() -> dict[str, Any]:
        return {**gallery.info(), "max_upload": max_upload}

    @app.get("/api/galaxies")
    def galaxies(page: Annotated[int, Query(ge=1)] = 1,
                 per_page: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 48,
                 q: Annotated[str, Query(max_length=200)] = "",
                 where: Annotated[str, Query(max_length=MAX_LENGTH)] = "",
                 sort: Annotated[str, Query(max_length=200)] = "") -> dict[str, Any]:
        return gallery.page(page, per_page, q.strip(), where.strip(), sort.strip())

    def map_view() -> MapView:
        if gallery.map_view is None:
            raise HTTPException(409, "no map: galmorph serve computes it before it listens "
                                     "unless given --no-map")
        return gallery.map_view

    def floats(values: bytes) -> Response:
        return Response(values, media_type="application/octet-stream")

    @app.get("/api/map")
    def galaxy_map() -> Response:
        return floats(float32_bytes(map_view().xy))

    @app.get("/api/map/info")
    def map_info() -> dict[str, Any]:
        return map_view().meta()

    @app.get("/api/map/colour")
    def map_colour(by: Annotated[str, Query(min_length=1, max_length=200)]) -> Response:
        return floats(float32_bytes(map_view().colour(by)))

    @app.get("/api/map/rows/{row}")
    def map_row(row: int) -> dict[str, Any]:
        if not 0 <= row < len(gallery.ids):
            raise HTTPException(404, f"no row {row}: the map has {len(gallery.ids)} rows")
        return gallery.describe(row)

    @app.get("/api/map/selection")
    def map_selection(polygon: str = "",
                      show: Annotated[int, Query(ge=0, le=MAX_PAGE_SIZE)] = SELECTION_SHOWN
                      ) -> dict[str, Any]:
        count, rows = map_view().sample(parse_polygon(polygon), show)
        labels = gallery.labels()
        return {"count": count, "galaxies": [gallery.describe(int(row), labels) for row in rows]}

    @app.get("/export/selection.csv")
    def export_selection(polygon: str = "") -> Response:
        return _csv(csv_bytes(map_view().select(parse_polygon(polygon))), "selection.csv")

    @app.get("/galaxy/{galaxy_id:path}", include_in_schema=False)
    def galaxy_page(galaxy_id: str) -> FileResponse:
        known = gallery.rows.get_indexer([galaxy_id])[0] >= 0
        return FileResponse(STATIC / "galaxy.html", media_type="text/html",
                            status_code=200 if known else 404)

    @app.get("/api/galaxy/{galaxy_id:path}")
    def galaxy(galaxy_id: str, k: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = DETAIL_NEIGHBOURS
               ) -> dict[str, Any]:
        return galaxy_detail(gallery, galaxy_id, k)

    @app.get("/images/{galaxy_id:path}")
    def image(galaxy_id: str) -> Response:
        try:
            content, media = gallery.image(galaxy_id)
        except UnknownGalaxy:
            raise
        except GalmorphError as err:  # unreadable file: as if it were not there
            log.warning("cannot read the image of galaxy %r: %s", galaxy_id, err)
            raise HTTPException(404, f"the image file of galaxy {galaxy_id!r} cannot be read "
                                     "(the galmorph serve terminal says why)") from None
        headers = {"Cache-Control": "max-age=3600"}
        if isinstance(content, Path):
            return FileResponse(content, media_type=media, headers=headers)
        return Response(content, media_type=media, headers=headers)

    @app.get("/api/similar/{galaxy_id:path}")
    def similar(galaxy_id: str,
                k: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = 12) -> dict[str, Any]:
        return similar_to_text(gallery, galaxy_id, k)

    @app.post("/api/similar-image")
    def similar_image(file: Annotated[list[UploadFile], File()],
                      k: Annotated[int, Form(ge=1, le=MAX_RESULTS)] = 12) -> dict[str, Any]:
        uploaded, left = [], max_upload
        for part in file:
            data = part.file.read(left + 1)
            if len(data) > left:
                raise HTTPException(413, f"the image{'s are' if len(file) > 1 else ' is'} "
                                    f"larger than {max_upload / 1024**2:g} MB")
            if not data:
                raise HTTPException(400, f"the uploaded file {part.filename!r} is empty"
                                    if part.filename else "the uploaded file is empty")
            uploaded.append((part.filename or "upload", data))
            left -= len(data)
        return gallery.similar_to_upload(uploaded, k)

    @app.get("/api/anomaly/batch")
    def batch() -> dict[str, Any]:
        return gallery.batch()

    @app.post("/api/anomaly/retrain")
    def retrain() -> dict[str, Any]:
        return gallery.batch(new=True)

    @app.post("/api/anomaly/label")
    def label(request: LabelRequest) -> dict[str, Any]:
        return gallery.label(request.id, request.score)

    @app.get("/api/anomaly/ranking")
    def ranking(limit: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = 50) -> dict[str, Any]:
        return gallery.ranking(limit)

    @app.get("/export/galaxies.csv")
    def export_galaxies(q: Annotated[str, Query(max_length=200)] = "",
                        where: Annotated[str, Query(max_length=MAX_LENGTH)] = "",
                        sort: Annotated[str, Query(max_length=200)] = "") -> Response:
        rows = gallery.table.select(where, sort, q)
        return _csv(csv_bytes(gallery.table.frame(rows)), "galaxies.csv")

    @app.get("/export/labels.csv")
    def export_labels() -> Response:
        return _csv(csv_bytes(gallery.labels_table()), "labels.csv")

    @app.get("/export/ranking.csv")
    def export_ranking() -> Response:
        return _csv(csv_bytes(gallery.ranking_table()), "ranking.csv")

    return app
