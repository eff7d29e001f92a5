"""What the pages show, built from domain objects: plain values, already in the page's language."""

from __future__ import annotations

from dataclasses import dataclass

from crossbay.catalog import service as catalog
from crossbay.catalog.models import Package
from crossbay.esim.routes import BundleRead, EsimRead
from crossbay.i18n import localized

REGION_FILTERS = ("hk", "mo", "cn", "gba")
KIND_ORDER = ("data", "voice", "bundle")  # what most travellers look for first


def data_amount(mb: int | None) -> str | None:
    """1024 MB → "1 GB", 1536 MB → "1.5 GB", 500 MB → "500 MB": units read the same in every language."""
    if mb is None:
        return None
    if mb >= 1024:
        gb = mb / 1024
        return f"{gb:.0f} GB" if gb == int(gb) or gb >= 10 else f"{gb:.1f} GB"
    return f"{mb} MB"


@dataclass(frozen=True)
class PackageView:
    id: str
    name: str
    description: str
    kind: str
    data: str | None
    voice_minutes: int | None
    validity_days: int
    from_first_use: bool
    regions: list[str]
    networks: list[str]
    price: str


def package_view(package: Package, language: str) -> PackageView:
    return PackageView(
        id=package.id,
        name=localized(package.names, language),
        description=localized(package.descriptions, language),
        kind=package.kind,
        data=data_amount(package.data_mb),
        voice_minutes=package.voice_minutes,
        validity_days=package.validity_days,
        from_first_use=package.validity_starts == "first_use",
        regions=list(package.regions),
        networks=list(package.networks),
        price=catalog.price_of(package).format(language),
    )


def by_kind(packages: list[PackageView]) -> list[tuple[str, list[PackageView]]]:
    """Packages grouped by kind, data first, keeping catalog order within each group."""
    groups: dict[str, list[PackageView]] = {}
    for package in packages:
        groups.setdefault(package.kind, []).append(package)
    ordered = sorted(
        groups, key=lambda kind: KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
    )
    return [(kind, groups[kind]) for kind in ordered]


@dataclass(frozen=True)
class BundleView:
    name: str
    status: str
    data_left: str | None
    data_total: str | None
    data_left_mb: int
    data_total_mb: int
    minutes_left: int | None
    minutes_total: int | None
    bundle: BundleRead


def bundle_view(bundle: BundleRead) -> BundleView:
    return BundleView(
        name=bundle.name,
        status=bundle.status,
        data_left=data_amount(bundle.remaining_mb),
        data_total=data_amount(bundle.total_mb),
        data_left_mb=bundle.remaining_mb or 0,
        data_total_mb=bundle.total_mb or 0,
        minutes_left=bundle.remaining_minutes,
        minutes_total=bundle.total_minutes,
        bundle=bundle,
    )


@dataclass(frozen=True)
class EsimView:
    id: str
    label: str  # what tells two cards apart without showing the whole ICCID
    status: str
    phone_number: str | None
    can_top_up: bool
    bundles: list[BundleView]
    esim: EsimRead


def esim_view(esim: EsimRead, *, can_top_up: bool) -> EsimView:
    label = f"···· {esim.iccid[-4:]}" if esim.iccid else ""
    return EsimView(
        id=esim.id,
        label=label,
        status=esim.status,
        phone_number=esim.phone_number,
        can_top_up=can_top_up,
        bundles=[bundle_view(b) for b in esim.bundles],
        esim=esim,
    )
