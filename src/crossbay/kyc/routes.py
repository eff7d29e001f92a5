"""PUT /api/v1/me/identity: real-name registration."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from crossbay.api.auth import CurrentCustomer
from crossbay.api.deps import ClockDep, RuntimeDep, SessionDep
from crossbay.audit.http import origin_of
from crossbay.db import transaction
from crossbay.identity.routes import identity_read
from crossbay.identity.schemas import IdentityRead
from crossbay.kyc import service
from crossbay.kyc.documents import DocumentType
from crossbay.orders import service as orders

router = APIRouter(prefix="/api/v1", tags=["sign-in and account"])


class IdentityUpdate(BaseModel):
    full_name: str = Field(max_length=200)
    document_type: DocumentType
    document_number: str = Field(max_length=40)
    date_of_birth: date


@router.put("/me/identity", response_model=IdentityRead)
def put_identity(
    body: IdentityUpdate,
    request: Request,
    customer: CurrentCustomer,
    session: SessionDep,
    runtime: RuntimeDep,
    clock: ClockDep,
) -> IdentityRead:
    with transaction(session):
        holds = orders.holds_or_awaits_esim(session, customer_id=customer.id)
        view = service.record_identity(
            session,
            customer_id=customer.id,
            full_name=body.full_name,
            document_type=body.document_type,
            document_number=body.document_number,
            date_of_birth=body.date_of_birth,
            holds_esims=holds,
            pii=runtime.pii,
            now=clock.now(),
            origin=origin_of(request, runtime.settings),
        )
    return identity_read(view)
