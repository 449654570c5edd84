"""Image cutout services: where to fetch a galaxy's image from its sky position.

A :class:`CutoutService` is a URL template per image format, filled with the position
(``{ra}``, ``{dec}``, degrees), the image's side (``{size}``, pixels) and pixel scale
(``{pixel_scale}``, arcsec per pixel); ``{id}`` is the galaxy's id, URL-quoted. The
built-in services are registered in :data:`SERVICES` by name; any other service
that takes a position in its URL is :func:`custom_service` of a template.

Examples
--------
>>> from galmorph.data.cutout_services import get_service
>>> service = get_service("sdss")
>>> service.url("jpg", ra=150.0, dec=2.2, size=128, pixel_scale=0.2)
'https://skyserver.sdss.org/dr17/SkyServerWS/ImgCutout/getjpeg?ra=150.0000000&dec=2.2000000&scale=0.2&width=128&height=128'
"""

from __future__ import annotations

import string
import urllib.parse
from dataclasses import dataclass

from galmorph.data.defaults import CUTOUT_FORMATS, CUTOUT_SERVICES
from galmorph.exceptions import GalmorphError

#: Names a URL template may use, and what each is.
PLACEHOLDERS: dict[str, str] = {
    "ra": "right ascension, degrees",
    "dec": "declination, degrees",
    "size": "side of the image, pixels",
    "pixel_scale": "arcsec per pixel",
    "id": "the galaxy's id",
}

#: File endings of the image formats services return.
FORMAT_ENDINGS = CUTOUT_FORMATS


@dataclass(frozen=True)
class CutoutService:
    """A cutout service: its URL template per format and the image it gives by default.

    Attributes:
        name: what ``--service`` calls it.
        title: the survey and data release, for messages.
        urls: URL template per format (``jpg``, ``png`` or ``fits``).
        pixel_scale: default arcsec per pixel.
        size: default side of the image, pixels.
    """

    name: str
    title: str
    urls: dict[str, str]
    pixel_scale: float | None
    size: int | None

    def template(self, fmt: str) -> str:
        """The URL template of ``fmt`` images.

        Raises:
            GalmorphError: when the service gives no image in ``fmt``.
        """
        if fmt not in self.urls:
            raise GalmorphError(f"the {self.name} service gives {' or '.join(self.urls)} "
                                f"images, not {fmt}")
        return self.urls[fmt]

    def url(self, fmt: str, *, ra: float, dec: float, size: int | None,
            pixel_scale: float | None, galaxy_id: str = "") -> str:
        """The URL of one cutout, positions written to 1e-7 degree (0.4 mas); ``size``
        and ``pixel_scale`` may be None for a template that does not take them.

        Raises:
            GalmorphError: when the service gives no image in ``fmt``.
        """
        return self.template(fmt).format(
            ra=f"{ra:.7f}", dec=f"{dec:.7f}", size=size,
            pixel_scale=None if pixel_scale is None else f"{pixel_scale:g}",
            id=urllib.parse.quote(galaxy_id, safe=""))


_LEGACY = "https://www.legacysurvey.org/viewer/cutout.{ending}?ra={{ra}}&dec={{dec}}" \
          "&layer=ls-dr10&pixscale={{pixel_scale}}&size={{size}}"
_SDSS = "https://skyserver.sdss.org/dr17/SkyServerWS/ImgCutout/getjpeg?ra={ra}&dec={dec}" \
        "&scale={pixel_scale}&width={size}&height={size}"

#: The built-in services by name. ``sdss``'s defaults are the shipped model's images
#: (SDSS gri colour, 0.2 arcsec/px, 128 px: 25.6 arcsec); ``legacy``'s the native scale
#: of the DESI Legacy Imaging Surveys' DR10 (grz colour; FITS: g, r, i, z bands).
SERVICES: dict[str, CutoutService] = {
    "sdss": CutoutService("sdss", "SDSS DR17 (SkyServer)", {"jpg": _SDSS},
                          pixel_scale=0.2, size=128),
    "legacy": CutoutService(
        "legacy", "DESI Legacy Imaging Surveys DR10",
        {"jpg": _LEGACY.format(ending="jpg"), "fits": _LEGACY.format(ending="fits")
         + "&bands=griz"}, pixel_scale=0.262, size=256),
}
assert tuple(SERVICES) == CUTOUT_SERVICES  # the command line's choices, without imports


def get_service(name: str) -> CutoutService:
    """A built-in service by name.

    Raises:
        GalmorphError: for an unknown name, listing the known ones.
    """
    try:
        return SERVICES[name]
    except KeyError:
        raise GalmorphError(f"unknown cutout service {name!r}; known: "
                            f"{', '.join(SERVICES)}, or give a URL template") from None


def custom_service(template: str, fmt: str) -> CutoutService:
    """A service of one URL template giving images in ``fmt``, e.g.
    ``https://example.org/cut?ra={ra}&dec={dec}&size={size}`` (no default size or scale).

    Raises:
        GalmorphError: when the template is not an http(s) URL, lacks ``{ra}`` or
            ``{dec}``, or names a placeholder that does not exist.
    """
    if fmt not in FORMAT_ENDINGS:
        raise GalmorphError(f"unknown image format {fmt!r}; known: {', '.join(FORMAT_ENDINGS)}")
    if urllib.parse.urlsplit(template).scheme not in ("http", "https"):
        raise GalmorphError(f"the URL template must start with http:// or https://, got "
                            f"{template!r}")
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion
                  in string.Formatter().parse(template) if name is not None]
    except ValueError as err:
        raise GalmorphError(f"cannot read the URL template {template!r}: {err} (write a "
                            "literal brace as {{ or }})") from None
    names = {name for name, _, _ in fields}
    styled = [f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}"
              for name, spec, conversion in fields if spec or conversion or not name]
    if styled:
        raise GalmorphError(f"the URL template has {', '.join(styled)}: give each value as "
                            "{name} alone (galmorph writes the numbers itself, e.g. {ra} "
                            "to 1e-7 degree)")
    unknown = sorted(names - set(PLACEHOLDERS))
    if unknown:
        known = "; ".join(f"{{{name}}}: {what}" for name, what in PLACEHOLDERS.items())
        raise GalmorphError(f"the URL template names {', '.join(unknown)}, which galmorph "
                            f"does not fill; it fills {known}")
    missing = [f"{{{name}}}" for name in ("ra", "dec") if name not in names]
    if missing:
        raise GalmorphError(f"the URL template has no {' or '.join(missing)}: every "
                            "galaxy would get the same image")
    service = CutoutService("url", urllib.parse.urlsplit(template).netloc, {fmt: template},
                            pixel_scale=None, size=None)
    example = service.url(fmt, ra=1.0, dec=-1.0, size=64, pixel_scale=0.25, galaxy_id="g")
    if any(c.isspace() for c in example):
        raise GalmorphError(f"the URL template has spaces ({template!r}): write them as %20")
    return service
