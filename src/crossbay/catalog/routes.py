"""GET /api/v1/packages, /api/v1/packages/{id}, /api/v1/devices/compatibility."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from crossbay.api.deps import SessionDep
from crossbay.api.language import Language
from crossbay.api.schemas import MoneyRead
from crossbay.catalog import service
from crossbay.catalog.devices import lookup_device
from crossbay.catalog.errors import PackageNotFound
from crossbay.catalog.models import Package
from crossbay.db import transaction
from crossbay.i18n import localized

router = APIRouter(prefix="/api/v1", tags=["catalog"])


class PackageRead(BaseModel):
    id: str
    code: str
    kind: str
    name: str
    description: str
    data_mb: int | None
    voice_minutes: int | None
    validity_days: int
    regions: list[str]
    networks: list[str]
    price: MoneyRead
    # Every currency the operator sells it in, HKD first (additive to API.md's Package).
    prices: list[MoneyRead]
    for_: list[str] = Field(serialization_alias="for")
    fair_use: str | None

    @classmethod
    def of(cls, package: Package, language: str) -> PackageRead:
        return cls(
            id=package.id,
            code=package.code,
            kind=package.kind,
            name=localized(package.names, language),
            description=localized(package.descriptions, language),
            data_mb=package.data_mb,
            voice_minutes=package.voice_minutes,
            validity_days=package.validity_days,
            regions=package.regions,
            networks=package.networks,
            price=MoneyRead.of(service.price_of(package), language),
            prices=[MoneyRead.of(price, language) for price in service.prices_of(package)],
            for_=service.purposes_of(package),
            fair_use=package.fair_use,
        )


class PackageList(BaseModel):
    items: list[PackageRead]


class DeviceCompatibility(BaseModel):
    model: str
    status: Literal["supported", "unsupported", "unknown"]
    notes: str


@router.get("/packages", response_model=PackageList, response_model_by_alias=True)
def list_packages(
    session: SessionDep,
    language: Language,
    kind: str | None = None,
    region: str | None = None,
    for_: Annotated[str | None, Query(alias="for")] = None,
    esim_id: str | None = None,
) -> PackageList:
    purpose = "topup" if esim_id and for_ is None else for_
    with transaction(session):
        packages = service.list_packages(session, kind=kind, region=region, purpose=purpose)
    return PackageList(items=[PackageRead.of(p, language) for p in packages])


@router.get("/packages/{package_id}", response_model=PackageRead, response_model_by_alias=True)
def get_package(package_id: str, session: SessionDep, language: Language) -> PackageRead:
    with transaction(session):
        package = service.get_package(session, package_id)
        if not package.on_sale:
            raise PackageNotFound()
    return PackageRead.of(package, language)


@router.get("/devices/compatibility", response_model=DeviceCompatibility)
def device_compatibility(
    model: Annotated[str, Query(min_length=1, max_length=80)], language: Language
) -> DeviceCompatibility:
    answer = lookup_device(model)
    return DeviceCompatibility(
        model=answer.model, status=answer.status, notes=localized(answer.notes, language)
    )
