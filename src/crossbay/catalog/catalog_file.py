"""Load and validate the package catalog file (``data/catalog.toml``).

Pure: no database and no clock. The catalog service seeds or syncs its tables
from what this returns, so every mistake in the file must stop loading here,
with a message that names the package and the field, rather than surface later
as a wrong price or a package sold where it does not work.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, TypeVar, cast

PackageKind = Literal["data", "voice", "bundle"]
ValidityStart = Literal["purchase", "first_use"]
_Choice = TypeVar("_Choice", bound=str)

LANGUAGES: Final[tuple[str, ...]] = ("zh-Hant", "zh-Hans", "en")
KINDS: Final[tuple[PackageKind, ...]] = ("data", "voice", "bundle")
VALIDITY_STARTS: Final[tuple[ValidityStart, ...]] = ("purchase", "first_use")
REGIONS: Final[tuple[str, ...]] = ("hk", "mo", "gba", "cn")
AUDIENCES: Final[tuple[str, ...]] = ("new_esim", "topup")
# Every package has an HKD price (stored value and reports are in HKD); CNY and MOP prices
# exist only where the operator sets them: we never convert on the fly.
BASE_CURRENCY: Final = "HKD"
OTHER_CURRENCIES: Final[frozenset[str]] = frozenset({"CNY", "MOP"})
CURRENCIES: Final[frozenset[str]] = OTHER_CURRENCIES | {BASE_CURRENCY}
# A closed list so that a typo ("China Mobil") fails loading instead of showing
# customers a network that does not exist; extend it when a partner is added.
NETWORKS: Final[frozenset[str]] = frozenset(
    {
        "China Mobile",
        "China Unicom",
        "China Telecom",
        "CMHK",
        "China Unicom (Hong Kong)",
        "csl",
        "SmarTone",
        "3HK",
        "CTM",
        "China Telecom (Macau)",
        "3 Macau",
    }
)

# Regions overlap ("gba" includes Hong Kong, Macau and Guangdong; "cn" includes
# Guangdong), so coverage is decided on disjoint areas, never on region names.
REGION_AREAS: Final[Mapping[str, frozenset[str]]] = {
    "hk": frozenset({"hk"}),
    "mo": frozenset({"mo"}),
    "gba": frozenset({"hk", "mo", "gd"}),
    "cn": frozenset({"gd", "cn_rest"}),
}

DEFAULT_CATALOG_PATH: Final[Path] = Path(__file__).parent / "data" / "catalog.toml"

# Codes end up in URLs, logs and support conversations: keep them boring.
_CODE_RE: Final = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)*")

_REQUIRED_KEYS: Final[frozenset[str]] = frozenset(
    {
        "code",
        "kind",
        "validity_days",
        "validity_starts",
        "regions",
        "networks",
        "price",
        "currency",
        "for",
        "sort",
        "name",
        "description",
    }
)
_OPTIONAL_KEYS: Final[frozenset[str]] = frozenset({"data_mb", "voice_minutes", "fair_use", "prices"})


class CatalogFileError(ValueError):
    """The catalog file is malformed; the message names the package code and the field."""


@dataclass(frozen=True)
class PackageSpec:
    code: str
    kind: PackageKind
    data_mb: int | None
    voice_minutes: int | None
    validity_days: int
    validity_starts: ValidityStart
    regions: tuple[str, ...]
    networks: tuple[str, ...]
    price_amount: int
    currency: str
    for_new_esim: bool
    for_topup: bool
    fair_use: str | None
    sort: int
    # Dicts are unhashable; leaving them out of the hash keeps specs usable in sets.
    names: dict[str, str] = field(hash=False)
    descriptions: dict[str, str] = field(hash=False)
    # Prices in currencies other than HKD, in their minor units: {"CNY": 4400}.
    other_prices: dict[str, int] = field(default_factory=dict, hash=False)


def load_catalog(path: Path | None = None) -> list[PackageSpec]:
    """Read and validate a catalog file (the bundled one by default), ordered by ``sort`` then ``code``.

    A missing file raises the usual ``OSError``; anything wrong inside it raises
    ``CatalogFileError``.
    """
    source = path if path is not None else DEFAULT_CATALOG_PATH
    try:
        document = tomllib.loads(source.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogFileError(f"{source}: not valid TOML: {exc}") from exc
    return parse_catalog(document)


def parse_catalog(document: Mapping[str, Any]) -> list[PackageSpec]:
    """Validate an already-parsed catalog document (``{"package": [...]}``)."""
    unknown = sorted(set(document) - {"package"})
    if unknown:
        raise CatalogFileError(f"catalog: unknown top-level key {unknown[0]!r}")
    tables = document.get("package")
    if not isinstance(tables, list) or not tables:
        raise CatalogFileError("catalog: needs at least one [[package]] table")
    specs: list[PackageSpec] = []
    seen: set[str] = set()
    for index, table in enumerate(tables, start=1):
        spec = _parse_package(index, table)
        if spec.code in seen:
            raise _error(spec.code, "code", "duplicate package code")
        seen.add(spec.code)
        specs.append(spec)
    return sorted(specs, key=lambda spec: (spec.sort, spec.code))


def region_areas(regions: Iterable[str]) -> frozenset[str]:
    """The disjoint areas (hk, mo, gd, cn_rest) that a set of region codes spans."""
    if isinstance(regions, str):
        # A bare string would iterate as letters and fail confusingly.
        raise TypeError("regions must be an iterable of region codes, not a string")
    areas: set[str] = set()
    for region in regions:
        areas |= _areas_of(region)
    return frozenset(areas)


def covers(package_regions: Iterable[str], wanted: str) -> bool:
    """Whether a package working in ``package_regions`` works everywhere in ``wanted``.

    ``region=hk`` matches a ``gba`` package; ``region=gba`` matches ``["hk", "mo", "cn"]``;
    ``region=cn`` does not match a ``gba``-only package (it misses the rest of the mainland).
    """
    return _areas_of(wanted) <= region_areas(package_regions)


def _areas_of(region: str) -> frozenset[str]:
    try:
        return REGION_AREAS[region]
    except KeyError:
        raise ValueError(f"unknown region {region!r}; expected one of {', '.join(REGIONS)}") from None


def _error(code: str, field_name: str, message: str) -> CatalogFileError:
    return CatalogFileError(f"package {code!r}: field {field_name!r}: {message}")


def _is_int(value: object) -> bool:
    # bool is a subclass of int; `price = true` must not load as 1 cent.
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_package(index: int, table: object) -> PackageSpec:
    if not isinstance(table, dict):
        raise CatalogFileError(f"package #{index}: must be a table")
    code = table.get("code")
    if not isinstance(code, str) or not _CODE_RE.fullmatch(code):
        raise CatalogFileError(
            f"package #{index}: field 'code': must be upper-case letters, digits and hyphens, got {code!r}"
        )

    unknown = sorted(set(table) - _REQUIRED_KEYS - _OPTIONAL_KEYS)
    if unknown:
        raise _error(code, unknown[0], "unknown key")
    missing = sorted(_REQUIRED_KEYS - set(table))
    if missing:
        raise _error(code, missing[0], "missing")

    kind = _choice(code, "kind", table["kind"], KINDS)
    data_mb = _optional_positive_int(code, "data_mb", table.get("data_mb"))
    voice_minutes = _optional_positive_int(code, "voice_minutes", table.get("voice_minutes"))
    # The kind decides which quotas must be present, and a quota the kind does
    # not sell would be shown to customers but never credited.
    needs_data = kind in ("data", "bundle")
    needs_voice = kind in ("voice", "bundle")
    if needs_data and data_mb is None:
        raise _error(code, "data_mb", f"a {kind} package needs data_mb")
    if needs_voice and voice_minutes is None:
        raise _error(code, "voice_minutes", f"a {kind} package needs voice_minutes")
    if not needs_data and data_mb is not None:
        raise _error(code, "data_mb", f"a {kind} package must not have data_mb")
    if not needs_voice and voice_minutes is not None:
        raise _error(code, "voice_minutes", f"a {kind} package must not have voice_minutes")

    validity_days = table["validity_days"]
    if not _is_int(validity_days) or validity_days <= 0:
        raise _error(code, "validity_days", f"must be a positive integer, got {validity_days!r}")

    price = table["price"]
    if not _is_int(price) or price <= 0:
        raise _error(code, "price", f"must be a positive integer of minor units, got {price!r}")
    currency = table["currency"]
    if currency != BASE_CURRENCY:
        raise _error(
            code, "currency", f"must be {BASE_CURRENCY} (other currencies go in prices), got {currency!r}"
        )
    other_prices = _other_prices(code, table.get("prices", {}))

    sort = table["sort"]
    if not _is_int(sort):
        raise _error(code, "sort", f"must be an integer, got {sort!r}")

    fair_use = table.get("fair_use")
    if fair_use is not None and (not isinstance(fair_use, str) or not fair_use.strip()):
        raise _error(code, "fair_use", "must be a non-empty string when present")

    audiences = _string_list(code, "for", table["for"], allowed=AUDIENCES)
    return PackageSpec(
        code=code,
        kind=kind,
        data_mb=data_mb,
        voice_minutes=voice_minutes,
        validity_days=validity_days,
        validity_starts=_choice(code, "validity_starts", table["validity_starts"], VALIDITY_STARTS),
        regions=_string_list(code, "regions", table["regions"], allowed=REGIONS),
        networks=_string_list(code, "networks", table["networks"], allowed=NETWORKS),
        price_amount=price,
        currency=currency,
        for_new_esim="new_esim" in audiences,
        for_topup="topup" in audiences,
        fair_use=fair_use,
        sort=sort,
        names=_texts(code, "name", table["name"]),
        descriptions=_texts(code, "description", table["description"]),
        other_prices=other_prices,
    )


def _other_prices(code: str, value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        raise _error(code, "prices", "must be a table of currency = minor units, e.g. { CNY = 4400 }")
    prices: dict[str, int] = {}
    for currency, amount in value.items():
        if currency not in OTHER_CURRENCIES:
            raise _error(
                code, "prices", f"unknown currency {currency!r}; expected one of {sorted(OTHER_CURRENCIES)}"
            )
        if not _is_int(amount) or amount <= 0:
            raise _error(
                code, "prices", f"{currency} must be a positive integer of minor units, got {amount!r}"
            )
        prices[currency] = amount
    return prices


def _choice(code: str, field_name: str, value: object, allowed: tuple[_Choice, ...]) -> _Choice:
    if value not in allowed:
        raise _error(code, field_name, f"must be one of {', '.join(allowed)}, got {value!r}")
    return cast(_Choice, value)


def _optional_positive_int(code: str, field_name: str, value: object) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or cast(int, value) <= 0:
        raise _error(code, field_name, f"must be a positive integer, got {value!r}")
    return cast(int, value)


def _string_list(code: str, field_name: str, value: object, *, allowed: Iterable[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _error(code, field_name, "must be a non-empty list")
    allowed_set = set(allowed)
    for item in value:
        if item not in allowed_set:
            raise _error(code, field_name, f"unknown value {item!r}; expected one of {sorted(allowed_set)}")
    if len(set(value)) != len(value):
        raise _error(code, field_name, "lists a value twice")
    return tuple(value)


def _texts(code: str, field_name: str, value: object) -> dict[str, str]:
    # Every customer-facing text must exist in all three languages: a missing
    # translation would otherwise fall back silently to the wrong script.
    if not isinstance(value, dict):
        raise _error(code, field_name, "must be a table of zh-Hant, zh-Hans and en texts")
    unknown = sorted(set(value) - set(LANGUAGES))
    if unknown:
        raise _error(code, field_name, f"unknown language {unknown[0]!r}")
    missing = [language for language in LANGUAGES if language not in value]
    if missing:
        raise _error(code, field_name, f"missing language(s) {', '.join(missing)}")
    texts: dict[str, str] = {}
    for language in LANGUAGES:
        text = value[language]
        if not isinstance(text, str) or not text.strip():
            raise _error(code, field_name, f"{language} text must be a non-empty string")
        texts[language] = text.strip()
    return texts
