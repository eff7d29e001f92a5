"""Where usage happened, and which bundles cover it.

Package regions overlap (``gba`` is Hong Kong + Macau + Guangdong; ``cn`` is all
of the mainland, Guangdong included), so coverage is decided on disjoint areas,
as the catalog does (``catalog_file.REGION_AREAS``), each one bit of a mask.

A usage record names one area, never an overlapping region:

- ``hk`` Hong Kong, ``mo`` Macau;
- ``cn-gd`` Guangdong (ISO 3166-2 ``CN-GD``), covered by ``gba`` and by ``cn`` bundles;
- ``cn`` the rest of the mainland, or a mainland cell whose province the network did not
  say; any other ``cn-xx`` subdivision means the same. Only ``cn`` bundles cover it: a
  ``gba`` bundle never pays for usage that cannot be placed in the Greater Bay Area.

Anything else (``jp``, a typo) covers no bundle: the record is kept as ``no_bundle``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from crossbay.catalog.catalog_file import REGION_AREAS

AREA_BITS: Final[dict[str, int]] = {"hk": 1, "mo": 2, "gd": 4, "cn_rest": 8}
_USAGE_AREAS: Final[dict[str, int]] = {
    "hk": AREA_BITS["hk"],
    "mo": AREA_BITS["mo"],
    "cn-gd": AREA_BITS["gd"],
    "cn": AREA_BITS["cn_rest"],
}


def area_mask(regions: Iterable[str]) -> int:
    """The areas a package's regions cover, as a bit mask."""
    mask = 0
    for region in regions:
        for area in REGION_AREAS.get(region, ()):
            mask |= AREA_BITS[area]
    return mask


def usage_area(region: str) -> int:
    """The single area bit a usage record's region names; 0 when it names none we sell."""
    key = region.strip().lower()
    if key in _USAGE_AREAS:
        return _USAGE_AREAS[key]
    if key.startswith("cn-") and len(key) == 5:
        return AREA_BITS["cn_rest"]
    return 0
