"""Links from a galaxy's page to the same position in the sky viewers and archives
astronomers use (opened in a new tab; nothing is fetched until they are followed).

Example:
    >>> [link["name"] for link in sky_links(150.0, 2.2)]
    ['Legacy Surveys', 'SDSS', 'SIMBAD', 'NED']
    >>> sky_links(150.0, 2.2)[2]["url"]
    'https://simbad.cds.unistra.fr/simbad/sim-coo?Coord=150.000000+2.200000&CooFrame=ICRS&Radius=10&Radius.unit=arcsec'
"""

from __future__ import annotations

import math
from urllib.parse import urlencode

from galmorph.data.defaults import DR10_NORTH_LIMIT

#: Radius of the catalogue searches, arcsec: a galaxy's own entries, not its neighbours'.
SEARCH_RADIUS = 10.0


def sky_links(ra: float | None, dec: float | None) -> list[dict[str, str]]:
    """Viewers and archives at a position (degrees): ``[{"name", "title", "url"}]``;
    none for an unknown or impossible one."""
    if ra is None or dec is None or not (math.isfinite(ra) and math.isfinite(dec)
                                         and 0 <= ra <= 360 and -90 <= dec <= 90):
        return []
    at = {"ra": f"{ra:.6f}", "dec": f"{dec:.6f}"}
    radius = f"{SEARCH_RADIUS:g}"
    release = "dr10" if dec <= DR10_NORTH_LIMIT else "dr9"
    return [
        {"name": "Legacy Surveys",
         "title": f"the DESI Legacy Imaging Surveys' sky viewer ({release.upper()})",
         "url": "https://www.legacysurvey.org/viewer?" + urlencode(
             {**at, "layer": f"ls-{release}", "zoom": 16, "mark": f"{at['ra']},{at['dec']}"},
             safe=",")},
        {"name": "SDSS", "title": "the SDSS SkyServer's Navigate tool (DR17)",
         "url": "https://skyserver.sdss.org/dr17/VisualTools/navi?" + urlencode(
             {**at, "scale": 0.2})},
        {"name": "SIMBAD", "title": f"SIMBAD's objects within {radius} arcsec",
         "url": "https://simbad.cds.unistra.fr/simbad/sim-coo?" + urlencode(
             {"Coord": f"{at['ra']} {at['dec']}", "CooFrame": "ICRS", "Radius": radius,
              "Radius.unit": "arcsec"})},
        {"name": "NED", "title": f"NED's objects within {radius} arcsec",
         "url": "https://ned.ipac.caltech.edu/conesearch?" + urlencode(
             {"search_type": "Near Position Search", "in_csys": "Equatorial",
              "in_equinox": "J2000", "coordinates": f"{at['ra']}d {at['dec']}d",
              "radius": f"{SEARCH_RADIUS / 60:.4f}"})},
    ]
