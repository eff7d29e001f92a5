"""Customers: search by phone, one customer's file, and revealing their identity with a reason."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Query
from fastapi.responses import Response

from crossbay.admin import customers
from crossbay.admin.permissions import Action
from crossbay.admin.routing import ActorDep, AdminPageDep, get, post, redirect
from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.db import transaction


@get("/customers", Action.CUSTOMERS_VIEW)
def search(
    page: AdminPageDep, session: SessionDep, phone: Annotated[str | None, Query(max_length=32)] = None
) -> Response:
    found = None
    if phone:
        with transaction(session):
            found = customers.find_by_phone(session, phone=phone)
        if found is not None:
            return redirect(f"/admin/customers/{found.id}")
    # The phone typed is not echoed back into the page: it is personal data.
    return page.render("customers.html", searched=bool(phone))


@get("/customers/{customer_id}", Action.CUSTOMERS_VIEW)
def customer(customer_id: str, page: AdminPageDep, session: SessionDep, runtime: RuntimeDep) -> Response:
    with transaction(session):
        file = customers.customer_file(session, customer_id=customer_id, pii=runtime.pii)
    return page.render("customer.html", file=file, revealed=None, reveal_error=None)


@post("/customers/{customer_id}/identity/reveal", Action.IDENTITY_REVEAL)
def reveal(
    customer_id: str,
    page: AdminPageDep,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: ActorDep,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    now = runtime.clock.now()
    with transaction(session):
        revealed = customers.reveal(
            session, actor, customer_id=customer_id, reason=reason, pii=runtime.pii, now=now
        )
    with transaction(session):
        file = customers.customer_file(session, customer_id=customer_id, pii=runtime.pii)
    # Shown in this answer only (no-store): never put in a URL, a cookie or a log.
    return page.render("customer.html", file=file, revealed=revealed, reveal_error=None)
