"""Support pages: the customer's requests, a new one (optionally about an order), a thread with replies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from crossbay.api.deps import SessionDep
from crossbay.db import transaction
from crossbay.errors import CrossbayError
from crossbay.orders import service as orders
from crossbay.orders.errors import OrderNotFound
from crossbay.support import service as support
from crossbay.support.views import ticket_read, ticket_summary
from crossbay.support.wording import BODY_MAX, SUBJECT_MAX
from crossbay.web.pages import CsrfChecked, CustomerDep, PageDep, PageRoute, problem_text, redirect
from crossbay.web.rendering import Page

router = APIRouter(route_class=PageRoute)

LIST_LIMIT = 50
# Forms may be a little over the limits so the page can say so instead of the browser cutting text.
SubjectForm = Annotated[str, Form(max_length=SUBJECT_MAX * 2)]
BodyForm = Annotated[str, Form(max_length=BODY_MAX * 2)]
OrderField = Annotated[str, Form(max_length=64)]


@router.get("/support")
def tickets_page(page: PageDep, customer: CustomerDep, session: SessionDep) -> Response:
    with transaction(session):
        found = support.list_customer_tickets(session, customer_id=customer.id, limit=LIST_LIMIT, before=None)
        tickets = [ticket_summary(t, page.language) for t in found]
    return page.render("support_list.html", tickets=tickets)


def _owned_order_id(session: Session, customer_id: str, order_id: str | None) -> str | None:
    if not order_id:
        return None
    try:
        with transaction(session):
            return orders.get_owned_order(session, customer_id=customer_id, order_id=order_id).id
    except OrderNotFound:
        return None  # a stale or foreign link opens a plain request


def _new_form(
    page: Page,
    *,
    order_id: str | None,
    subject: str = "",
    body: str = "",
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return page.render(
        "support_new.html",
        status=status,
        order_id=order_id,
        subject=subject,
        body=body,
        errors=errors or {},
        subject_max=SUBJECT_MAX,
        body_max=BODY_MAX,
    )


@router.get("/support/new")
def new_ticket_form(
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    order: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    return _new_form(page, order_id=_owned_order_id(session, customer.id, order))


@router.post("/support/new", dependencies=[CsrfChecked])
def open_ticket(
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    subject: SubjectForm = "",
    body: BodyForm = "",
    order_id: OrderField = "",
) -> Response:
    customer_id = customer.id
    try:
        with transaction(session):
            ticket = support.open_ticket(
                session,
                customer_id=customer_id,
                subject=subject,
                body=body,
                order_id=order_id or None,
                now=page.runtime.clock.now(),
            )
            ticket_id = ticket.id
    except CrossbayError as failure:
        errors = {p.field: page._(p.message) for p in failure.errors} or {"form": problem_text(page, failure)}
        return _new_form(
            page,
            order_id=_owned_order_id(session, customer_id, order_id),
            subject=subject,
            body=body,
            errors=errors,
            status=failure.status,
        )
    return redirect(f"/support/{ticket_id}")


def _thread_page(
    page: Page,
    session: Session,
    customer_id: str,
    ticket_id: str,
    *,
    body: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response:
    with transaction(session):
        ticket = support.get_owned_ticket(session, customer_id=customer_id, ticket_id=ticket_id)
        read = ticket_read(ticket, support.thread(session, ticket.id), page.language)
    return page.render(
        "support_ticket.html", status=status, ticket=read, body=body, error=error, body_max=BODY_MAX
    )


@router.get("/support/{ticket_id}")
def ticket_page(ticket_id: str, page: PageDep, customer: CustomerDep, session: SessionDep) -> Response:
    return _thread_page(page, session, customer.id, ticket_id)


@router.post("/support/{ticket_id}/reply", dependencies=[CsrfChecked])
def reply(
    ticket_id: str, page: PageDep, customer: CustomerDep, session: SessionDep, body: BodyForm = ""
) -> Response:
    customer_id = customer.id
    try:
        with transaction(session):
            support.reply_as_customer(
                session, customer_id=customer_id, ticket_id=ticket_id, body=body, now=page.runtime.clock.now()
            )
    except CrossbayError as failure:
        if not failure.errors:
            raise  # not found: the error page
        return _thread_page(
            page,
            session,
            customer_id,
            ticket_id,
            body=body,
            error=problem_text(page, failure),
            status=failure.status,
        )
    return redirect(f"/support/{ticket_id}#latest")
