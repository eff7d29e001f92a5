"""Packages on sale: loaded from the catalog file, listed with filters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.catalog.catalog_file import PackageSpec, covers
from crossbay.catalog.errors import CurrencyNotOffered, PackageNotAvailable, PackageNotFound
from crossbay.catalog.models import Package
from crossbay.db import new_id
from crossbay.errors import FieldProblem, ValidationFailed
from crossbay.money import Money

KINDS = ("data", "voice", "bundle")
REGIONS = ("hk", "mo", "cn", "gba")
PURPOSES = ("new_esim", "topup")


def load_packages(session: Session, specs: Sequence[PackageSpec], *, now: datetime) -> int:
    """Upsert packages by code; one no longer in the file goes off sale. Returns how many are new."""
    existing = {p.code: p for p in session.scalars(select(Package))}
    listed = {spec.code for spec in specs}
    for code, gone in existing.items():
        if code not in listed and gone.on_sale:
            gone.on_sale = False
            gone.updated_at = now
    created = 0
    for spec in specs:
        found = existing.get(spec.code)
        if found is None:
            package = Package(id=new_id("pkg"), code=spec.code, created_at=now)
            session.add(package)
            created += 1
        else:
            package = found
        package.on_sale = True
        package.kind = spec.kind
        package.data_mb = spec.data_mb
        package.voice_minutes = spec.voice_minutes
        package.validity_days = spec.validity_days
        package.validity_starts = spec.validity_starts
        package.regions = list(spec.regions)
        package.networks = list(spec.networks)
        package.price_amount = spec.price_amount
        package.currency = spec.currency
        package.other_prices = dict(spec.other_prices)
        package.for_new_esim = spec.for_new_esim
        package.for_topup = spec.for_topup
        package.fair_use = spec.fair_use
        package.sort = spec.sort
        package.names = dict(spec.names)
        package.descriptions = dict(spec.descriptions)
        package.updated_at = now
    return created


def list_packages(
    session: Session, *, kind: str | None = None, region: str | None = None, purpose: str | None = None
) -> list[Package]:
    """Packages on sale now, in catalog order. The region filter is coverage: a GBA pack serves hk."""
    _check_choice("kind", kind, KINDS)
    _check_choice("region", region, REGIONS)
    _check_choice("for", purpose, PURPOSES)
    query = select(Package).where(Package.on_sale.is_(True)).order_by(Package.sort, Package.price_amount)
    if kind:
        query = query.where(Package.kind == kind)
    if purpose == "new_esim":
        query = query.where(Package.for_new_esim.is_(True))
    elif purpose == "topup":
        query = query.where(Package.for_topup.is_(True))
    packages = list(session.scalars(query))
    if region:
        # Coverage is a set relation over a handful of regions per package, not a column match.
        packages = [p for p in packages if covers(p.regions, region)]
    return packages


def _check_choice(field: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise ValidationFailed(
            errors=[FieldProblem(field, "invalid_choice", f"Use one of: {', '.join(allowed)}")]
        )


def get_package(session: Session, package_id: str) -> Package:
    package = session.get(Package, package_id)
    if package is None:
        raise PackageNotFound()
    return package


def get_package_for_sale(session: Session, package_id: str, *, purpose: str) -> Package:
    package = session.get(Package, package_id)
    if package is None or not package.on_sale:
        raise PackageNotFound()
    if not (package.for_new_esim if purpose == "new_esim" else package.for_topup):
        raise PackageNotAvailable(f"this package is not sold for {purpose}")
    return package


def get_packages(session: Session, package_ids: Iterable[str]) -> dict[str, Package]:
    """Several packages by id in one query, whether on sale or not (history names what was bought)."""
    ids = set(package_ids)
    return {p.id: p for p in session.scalars(select(Package).where(Package.id.in_(ids)))} if ids else {}


def price_of(package: Package, currency: str | None = None) -> Money:
    """The price the operator set in that currency (HKD by default); never a conversion."""
    if currency is None or currency == package.currency:
        return Money(package.price_amount, package.currency)
    amount = package.other_prices.get(currency)
    if amount is None:
        offered = ", ".join(money.currency for money in prices_of(package))
        raise CurrencyNotOffered(f"this package is sold in {offered}")
    return Money(amount, currency)


def prices_of(package: Package) -> list[Money]:
    """Every price of a package, HKD first."""
    others = sorted(package.other_prices.items())
    return [Money(package.price_amount, package.currency), *(Money(a, c) for c, a in others)]


def purposes_of(package: Package) -> list[str]:
    return [p for p, on in (("new_esim", package.for_new_esim), ("topup", package.for_topup)) if on]
