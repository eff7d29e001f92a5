"""/api/v1/tickets: the customer's support requests and their threads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from crossbay.api.auth import CurrentCustomer
from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.api.idempotency import check_key, idempotent_json_post
from crossbay.api.language import Language
from crossbay.db import transaction
from crossbay.paging import decode_cursor, split_page
from crossbay.support import service
from crossbay.support.schemas import MessageCreate, TicketCreate, TicketPage, TicketRead
from crossbay.support.views import ticket_read, ticket_summary

router = APIRouter(prefix="/api/v1", tags=["support"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


def _read(runtime: RuntimeDep, *, customer_id: str, ticket_id: str, language: str) -> TicketRead:
    with runtime.sessions() as session, transaction(session):
        ticket = service.get_owned_ticket(session, customer_id=customer_id, ticket_id=ticket_id)
        return ticket_read(ticket, service.thread(session, ticket.id), language)


@router.post("/tickets", status_code=201, response_model=TicketRead)
def open_ticket(
    body: TicketCreate,
    request: Request,
    customer: CurrentCustomer,
    runtime: RuntimeDep,
    language: Language,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Ask support something, optionally about one of your orders. Idempotency-Key is optional here."""
    customer_id = customer.id

    def work() -> tuple[int, dict[str, object]]:
        with runtime.sessions() as session, transaction(session):
            ticket = service.open_ticket(
                session,
                customer_id=customer_id,
                subject=body.subject,
                body=body.body,
                order_id=body.order_id,
                now=runtime.clock.now(),
            )
        read = _read(runtime, customer_id=customer_id, ticket_id=ticket.id, language=language)
        return 201, read.model_dump(mode="json")

    key = check_key(idempotency_key, required=False)
    return idempotent_json_post(runtime, request, body, scope=customer_id, key=key, work=work)


@router.get("/tickets", response_model=TicketPage)
def list_tickets(
    customer: CurrentCustomer,
    session: SessionDep,
    language: Language,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> TicketPage:
    before = decode_cursor(cursor)
    with transaction(session):
        found = service.list_customer_tickets(
            session, customer_id=customer.id, limit=limit + 1, before=before
        )
        page, next_cursor = split_page(found, limit, lambda t: (t.created_at, t.id))
        items = [ticket_summary(t, language) for t in page]
    return TicketPage(items=items, next_cursor=next_cursor)


@router.get("/tickets/{ticket_id}", response_model=TicketRead)
def get_ticket(
    ticket_id: str, customer: CurrentCustomer, runtime: RuntimeDep, language: Language
) -> TicketRead:
    return _read(runtime, customer_id=customer.id, ticket_id=ticket_id, language=language)


@router.post("/tickets/{ticket_id}/messages", status_code=201, response_model=TicketRead)
def reply(
    ticket_id: str, body: MessageCreate, customer: CurrentCustomer, runtime: RuntimeDep, language: Language
) -> TicketRead:
    """Add to the thread; a resolved ticket opens again. Answers the whole ticket."""
    with runtime.sessions() as session, transaction(session):
        service.reply_as_customer(
            session, customer_id=customer.id, ticket_id=ticket_id, body=body.body, now=runtime.clock.now()
        )
    return _read(runtime, customer_id=customer.id, ticket_id=ticket_id, language=language)
