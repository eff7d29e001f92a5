"""The signed-in customer's own pages: home (balance, eSIMs, orders) and real-name registration."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response

from crossbay.api.deps import SessionDep
from crossbay.audit.http import origin_of
from crossbay.db import transaction
from crossbay.errors import CrossbayError, FieldProblem, ValidationFailed
from crossbay.esim import service as esims
from crossbay.esim.routes import esim_reads
from crossbay.identity.phones import mask_phone
from crossbay.kyc import service as kyc
from crossbay.kyc.documents import DocumentType
from crossbay.ledger import service as ledger
from crossbay.orders import service as orders
from crossbay.orders.routes import order_read
from crossbay.payments import service as payments
from crossbay.web.messages import CHOOSE_DOCUMENT_TYPE, ENTER_BIRTH_DATE, NOTICES
from crossbay.web.pages import CsrfChecked, CustomerDep, PageDep, PageRoute, error_title, redirect
from crossbay.web.rendering import Page
from crossbay.web.security import safe_next
from crossbay.web.usage_views import gauge_of, quick_top_ups
from crossbay.web.views import esim_view

router = APIRouter(route_class=PageRoute)

RECENT_ORDERS = 5


@router.get("/home")
def home(
    page: PageDep, customer: CustomerDep, session: SessionDep, notice: Annotated[str | None, Query()] = None
) -> Response:
    with transaction(session):
        balance = ledger.wallet_balance(session, customer.id)
        reads = esim_reads(session, esims.list_esims(session, customer_id=customer.id), page.language)
        recent = orders.list_orders(session, customer_id=customer.id, limit=RECENT_ORDERS, before=None)
        latest = payments.latest_payments(session, [o.id for o in recent])
        order_list = [order_read(o, latest.get(o.id), page.language) for o in recent]
        identity = kyc.get_identity_view(session, customer_id=customer.id, pii=page.runtime.pii)
        top_ups = quick_top_ups(session, [e for e in reads if e.status in esims.TOPUP_ALLOWED], page.language)
    now = page.runtime.clock.now()
    return page.render(
        "home.html",
        gauges={e.id: gauge_of(e, now=now) for e in reads},
        quick_top_ups=top_ups,
        balance=page.money(balance),
        identity=identity,
        orders=order_list,
        phone=mask_phone(customer.phone),
        esims=[esim_view(e, can_top_up=e.status in esims.TOPUP_ALLOWED) for e in reads],
        has_pin=customer.payment_pin_hash is not None,
        has_password=customer.password_hash is not None,
        preferred=customer.preferred_payment_method,
        notice=page._(NOTICES[notice]) if notice in NOTICES else None,
    )


def _identity_form(
    page: Page,
    session: SessionDep,
    customer_id: str,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    error: str | None,
    notice: str | None,
    next_path: str | None,
    status: int = 200,
) -> Response:
    with transaction(session):
        current = kyc.get_identity_view(session, customer_id=customer_id, pii=page.runtime.pii)
    return page.render(
        "identity.html",
        status=status,
        current=current,
        values=values,
        errors=errors,
        error=error,
        notice=notice,
        next=next_path,
        document_types=[t.value for t in DocumentType],
    )


@router.get("/identity")
def identity_form(
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    next: Annotated[str | None, Query()] = None,
    notice: Annotated[str | None, Query()] = None,
) -> Response:
    message = page._(NOTICES[notice]) if notice in NOTICES else None
    return _identity_form(
        page,
        session,
        customer.id,
        values={},
        errors={},
        error=None,
        notice=message,
        next_path=safe_next(next),
    )


def _parse_identity(
    document_type: str, date_of_birth: str
) -> tuple[DocumentType | None, date | None, list[FieldProblem]]:
    problems = []
    try:
        doc_type: DocumentType | None = DocumentType(document_type)
    except ValueError:
        doc_type = None
        problems.append(FieldProblem("document_type", "invalid_choice", CHOOSE_DOCUMENT_TYPE))
    try:
        born: date | None = date.fromisoformat(date_of_birth.strip())
    except ValueError:
        born = None
        problems.append(FieldProblem("date_of_birth", "invalid_date", ENTER_BIRTH_DATE))
    return doc_type, born, problems


@router.post("/identity", dependencies=[CsrfChecked])
def save_identity(
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    full_name: Annotated[str, Form(max_length=200)] = "",
    document_type: Annotated[str, Form(max_length=32)] = "",
    document_number: Annotated[str, Form(max_length=40)] = "",
    date_of_birth: Annotated[str, Form(max_length=20)] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    values = {
        "full_name": full_name,
        "document_type": document_type,
        "document_number": document_number,
        "date_of_birth": date_of_birth,
    }
    # Read before the use case: a failed transaction rolls back and expires the loaded customer.
    customer_id = customer.id
    next_path = safe_next(next)
    doc_type, born, problems = _parse_identity(document_type, date_of_birth)
    try:
        if problems or doc_type is None or born is None:
            raise ValidationFailed(errors=problems)
        with transaction(session):
            holds_esims = orders.holds_or_awaits_esim(session, customer_id=customer_id)
            kyc.record_identity(
                session,
                customer_id=customer_id,
                full_name=full_name,
                document_type=doc_type,
                document_number=document_number,
                date_of_birth=born,
                holds_esims=holds_esims,
                pii=page.runtime.pii,
                now=page.runtime.clock.now(),
                origin=origin_of(page.request, page.runtime.settings),
            )
    except CrossbayError as failure:
        errors = {p.field: page._(p.message) for p in failure.errors}
        return _identity_form(
            page,
            session,
            customer_id,
            values=values,
            errors=errors,
            error=None if errors else error_title(page, failure.code),
            notice=None,
            next_path=next_path,
            status=failure.status,
        )
    if next_path:
        return redirect(next_path)
    # Someone who just proved who they are and has no eSIM yet most likely came to buy one.
    return redirect("/home" if holds_esims else "/buy")
