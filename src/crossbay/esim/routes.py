"""GET /api/v1/esims, /api/v1/esims/{id}, and its activation QR."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from crossbay.api.auth import CurrentCustomer
from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.api.language import Language
from crossbay.audit.http import origin_of
from crossbay.catalog import service as catalog
from crossbay.catalog.models import Package
from crossbay.db import transaction
from crossbay.errors import NotFound
from crossbay.esim import service
from crossbay.esim.activation import install_links, qr_png, qr_svg
from crossbay.esim.models import Esim
from crossbay.i18n import localized
from crossbay.notify import auto_renew
from crossbay.usage import service as usage
from crossbay.usage.models import Bundle

router = APIRouter(prefix="/api/v1", tags=["esims"])


class BundleRead(BaseModel):
    id: str
    package_id: str
    name: str
    kind: str
    status: str
    total_mb: int | None
    remaining_mb: int | None
    total_minutes: int | None
    remaining_minutes: int | None
    starts_at: datetime | None
    expires_at: datetime | None


class InstallLinks(BaseModel):
    ios: str
    android: str


class EsimEvent(BaseModel):
    status: str
    at: datetime


class EsimRead(BaseModel):
    id: str
    iccid: str | None
    status: str
    activation_code: str | None
    qr_url: str | None
    install_links: InstallLinks | None
    phone_number: str | None
    bundles: list[BundleRead]
    auto_renew_package_id: str | None
    # Additive to API.md's Esim: every status change, oldest first.
    timeline: list[EsimEvent]


class EsimList(BaseModel):
    items: list[EsimRead]


def _bundle_read(bundle: Bundle, package: Package, language: str) -> BundleRead:
    def mb(value: int | None) -> int | None:
        return None if value is None else value // usage.MB

    def minutes(value: int | None) -> int | None:
        return None if value is None else value // 60

    return BundleRead(
        id=bundle.id,
        package_id=bundle.package_id,
        name=localized(package.names, language),
        kind=package.kind,
        status=bundle.status,
        total_mb=mb(bundle.data_total_bytes),
        remaining_mb=mb(bundle.data_remaining_bytes),
        total_minutes=minutes(bundle.voice_total_seconds),
        remaining_minutes=minutes(bundle.voice_remaining_seconds),
        starts_at=bundle.starts_at,
        expires_at=bundle.expires_at,
    )


def esim_reads(session: Session, esims: list[Esim], language: str) -> list[EsimRead]:
    """Several eSIMs with bundles, package names and timelines in four queries, whatever their number."""
    bundles = usage.bundles_for(session, [e.id for e in esims])
    timelines = service.timelines_for(session, (e.id for e in esims))
    packages = catalog.get_packages(session, (b.package_id for group in bundles.values() for b in group))
    reads = []
    for esim in esims:
        code = service.activation_code_of(esim)
        links = install_links(code) if code else None
        reads.append(
            EsimRead(
                id=esim.id,
                iccid=esim.iccid,
                status=esim.status,
                activation_code=code,
                qr_url=f"/api/v1/esims/{esim.id}/qr.png" if code else None,
                install_links=InstallLinks(**links) if links else None,
                phone_number=esim.phone_number,
                bundles=[_bundle_read(b, packages[b.package_id], language) for b in bundles[esim.id]],
                auto_renew_package_id=esim.auto_renew_package_id,
                timeline=[EsimEvent(status=t.status, at=t.at) for t in timelines[esim.id]],
            )
        )
    return reads


@router.get("/esims", response_model=EsimList)
def list_esims(customer: CurrentCustomer, session: SessionDep, language: Language) -> EsimList:
    with transaction(session):
        return EsimList(
            items=esim_reads(session, service.list_esims(session, customer_id=customer.id), language)
        )


@router.get("/esims/{esim_id}", response_model=EsimRead)
def get_esim(esim_id: str, customer: CurrentCustomer, session: SessionDep, language: Language) -> EsimRead:
    with transaction(session):
        esim = service.get_owned_esim(session, customer_id=customer.id, esim_id=esim_id)
        return esim_reads(session, [esim], language)[0]


def owned_activation_code(session: Session, *, customer_id: str, esim_id: str) -> str:
    with transaction(session):
        esim = service.get_owned_esim(session, customer_id=customer_id, esim_id=esim_id)
    code = service.activation_code_of(esim)
    if code is None:
        raise NotFound("the profile is not ready yet")
    return code


_NO_STORE = {"Cache-Control": "private, no-store"}  # the code installs the profile: never cache it


@router.get(
    "/esims/{esim_id}/qr.png", response_class=Response, responses={200: {"content": {"image/png": {}}}}
)
def qr_png_route(esim_id: str, customer: CurrentCustomer, session: SessionDep) -> Response:
    code = owned_activation_code(session, customer_id=customer.id, esim_id=esim_id)
    return Response(qr_png(code), media_type="image/png", headers=_NO_STORE)


@router.get(
    "/esims/{esim_id}/qr.svg", response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}}
)
def qr_svg_route(esim_id: str, customer: CurrentCustomer, session: SessionDep) -> Response:
    code = owned_activation_code(session, customer_id=customer.id, esim_id=esim_id)
    return Response(qr_svg(code), media_type="image/svg+xml", headers=_NO_STORE)


class AutoRenewUpdate(BaseModel):
    package_id: str | None = Field(
        max_length=40, description="A top-up package on sale; null turns auto-renew off"
    )
    # Additive to API.md: turning auto-renew on is a standing payment instruction, authorised once.
    pin: str | None = Field(default=None, max_length=16, description="The payment PIN (or give password)")
    password: str | None = Field(default=None, max_length=256, description="The login password")


@router.put("/esims/{esim_id}/auto-renew", response_model=EsimRead)
def set_auto_renew(
    esim_id: str,
    body: AutoRenewUpdate,
    request: Request,
    customer: CurrentCustomer,
    session: SessionDep,
    runtime: RuntimeDep,
    language: Language,
) -> EsimRead:
    """When the eSIM's last pack of this package's kind runs out or expires, buy it from the wallet.

    Turning it on needs the payment PIN (or login password): later renewals are paid without one.
    """
    with transaction(session):
        session.add(customer)
        esim = auto_renew.set_auto_renew(
            session,
            customer=customer,
            esim_id=esim_id,
            package_id=body.package_id,
            pin=body.pin,
            password=body.password,
            settings=runtime.settings,
            now=runtime.clock.now(),
            origin=origin_of(request, runtime.settings),
        )
        return esim_reads(session, [esim], language)[0]
