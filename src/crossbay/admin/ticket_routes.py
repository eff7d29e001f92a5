"""Tickets through the support context: the queue, one thread, answer, assign, change status."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Query
from fastapi.responses import Response

from crossbay.admin.permissions import Action
from crossbay.admin.routing import AdminPageDep, StaffDep, get, post, redirect
from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.db import transaction
from crossbay.support import service as support

PAGE_SIZE = 50


@get("/tickets", Action.TICKETS_VIEW)
def queue(
    page: AdminPageDep,
    session: SessionDep,
    status: Annotated[str | None, Query(max_length=32)] = None,
    origin: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    chosen = status if status in support.STATUSES else None
    chosen_origin = origin if origin in (support.FROM_CUSTOMER, support.LATE_ORDER) else None
    with transaction(session):
        tickets = support.list_tickets(session, limit=PAGE_SIZE, status=chosen, origin=chosen_origin)
    return page.render(
        "tickets.html",
        tickets=tickets,
        statuses=support.STATUSES,
        chosen_status=chosen,
        chosen_origin=chosen_origin,
    )


@get("/tickets/{ticket_id}", Action.TICKETS_VIEW)
def ticket(ticket_id: str, page: AdminPageDep, session: SessionDep) -> Response:
    with transaction(session):
        found = support.get_ticket(session, ticket_id)
        messages = support.thread(session, found.id)
    return page.render("ticket.html", ticket=found, messages=messages, statuses=support.STATUSES)


@post("/tickets/{ticket_id}/reply", Action.TICKETS_ANSWER)
def reply(
    ticket_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    staff: StaffDep,
    body: Annotated[str, Form(max_length=4000)] = "",
    resolve: Annotated[str | None, Form()] = None,
) -> Response:
    with transaction(session):
        support.reply_as_staff(
            session,
            ticket_id=ticket_id,
            staff_id=staff.id,
            body=body,
            now=runtime.clock.now(),
            resolve=resolve is not None,
        )
    return redirect(f"/admin/tickets/{ticket_id}")


@post("/tickets/{ticket_id}/assign", Action.TICKETS_ANSWER)
def assign(
    ticket_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    staff: StaffDep,
    to: Annotated[str, Form(pattern="^(me|nobody)$")] = "me",
) -> Response:
    with transaction(session):
        support.assign_ticket(
            session,
            ticket_id=ticket_id,
            staff_id=staff.id,
            assignee=staff.id if to == "me" else None,
            now=runtime.clock.now(),
        )
    return redirect(f"/admin/tickets/{ticket_id}")


@post("/tickets/{ticket_id}/status", Action.TICKETS_ANSWER)
def change_status(
    ticket_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    staff: StaffDep,
    status: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    with transaction(session):
        support.set_ticket_status(
            session, ticket_id=ticket_id, staff_id=staff.id, status=status, now=runtime.clock.now()
        )
    return redirect(f"/admin/tickets/{ticket_id}")
