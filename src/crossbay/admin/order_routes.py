"""Orders: the list, one order with its timeline and payment, and the refund and retry actions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Form, Query
from fastapi.responses import Response

from crossbay.admin import orders
from crossbay.admin.permissions import Action
from crossbay.admin.routing import ActorDep, AdminPageDep, get, post, redirect
from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.catalog import service as catalog
from crossbay.db import transaction
from crossbay.i18n import localized
from crossbay.orders import states

STATUSES = tuple(states.TRANSITIONS)


@get("/orders", Action.ORDERS_VIEW)
def order_list(
    page: AdminPageDep,
    session: SessionDep,
    status: Annotated[str | None, Query(max_length=24)] = None,
    q: Annotated[str | None, Query(max_length=64)] = None,
    before: Annotated[datetime | None, Query()] = None,
) -> Response:
    chosen = status if status in STATUSES else None
    with transaction(session):
        rows = orders.list_orders(session, status=chosen, query=q, before=before)
    more = len(rows) == orders.PAGE_SIZE
    return page.render(
        "orders.html",
        orders=rows,
        statuses=STATUSES,
        chosen_status=chosen,
        q=q or "",
        next_url=page.url("/admin/orders", status=chosen, q=q, before=rows[-1].created_at.isoformat())
        if more
        else None,
    )


@get("/orders/{order_id}", Action.ORDERS_VIEW)
def order_detail(
    order_id: str,
    page: AdminPageDep,
    session: SessionDep,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    with transaction(session):
        file = orders.order_file(session, order_id=order_id)
        package = catalog.get_package(session, file.order.package_id)
        package_name = localized(package.names, page.language)
    flash = {
        "refund": page._("Refund requested: the worker returns the money and the order turns refunded."),
        "retry": page._("Fulfilment queued again."),
    }.get(done or "")
    return page.render(
        "order.html",
        file=file,
        order=file.order,
        package_name=package_name,
        refundable=file.order.status in (states.FULFILLED, states.FAILED)
        and file.payment is not None
        and file.payment.status == "succeeded",
        retryable=file.order.status in orders.STUCK,
        flash=flash,
    )


@post("/orders/{order_id}/refund", Action.ORDERS_REFUND)
def refund(
    order_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: ActorDep,
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    with transaction(session):
        orders.refund(
            session,
            actor,
            order_id=order_id,
            reason=reason,
            settings=runtime.settings,
            now=runtime.clock.now(),
        )
    return redirect(f"/admin/orders/{order_id}?done=refund")


@post("/orders/{order_id}/retry-fulfilment", Action.ORDERS_RETRY)
def retry(order_id: str, session: SessionDep, runtime: RuntimeDep, actor: ActorDep) -> Response:
    with transaction(session):
        orders.retry_fulfilment(
            session, actor, order_id=order_id, settings=runtime.settings, now=runtime.clock.now()
        )
    return redirect(f"/admin/orders/{order_id}?done=retry")
