"""Packages and prices: what is on sale, at what price in each currency, and price changes to come."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Form, Query
from fastapi.responses import Response
from sqlalchemy import select

from crossbay.admin import audit
from crossbay.admin.permissions import Action
from crossbay.admin.routing import ActorDep, AdminPageDep, get, post, redirect
from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.catalog import price_changes
from crossbay.catalog import service as catalog
from crossbay.catalog.models import Package
from crossbay.clock import HONG_KONG
from crossbay.db import transaction
from crossbay.errors import FieldProblem, ValidationFailed
from crossbay.i18n import localized
from crossbay.money import money_from_decimal_string


@get("/packages", Action.PACKAGES_VIEW)
def packages(
    page: AdminPageDep, session: SessionDep, done: Annotated[str | None, Query(max_length=32)] = None
) -> Response:
    with transaction(session):
        rows = list(
            session.scalars(select(Package).order_by(Package.on_sale.desc(), Package.sort, Package.code))
        )
        pending = price_changes.pending_price_changes(session, [p.id for p in rows])
    flash = {
        "scheduled": page._("Price change scheduled."),
        "sale": page._("Sale status changed."),
        "cancelled": page._("Price change cancelled."),
    }.get(done or "")
    return page.render(
        "packages.html",
        packages=rows,
        pending=pending,
        name=lambda p: localized(p.names, page.language),
        prices=catalog.prices_of,
        flash=flash,
    )


@post("/packages/{package_id}/sale", Action.PACKAGES_SALE)
def change_sale(
    package_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: ActorDep,
    on_sale: Annotated[str, Form(pattern="^(on|off)$")],
) -> Response:
    now = runtime.clock.now()
    with transaction(session):
        package = catalog.get_package(session, package_id)
        before = package.on_sale
        price_changes.set_on_sale(session, package_id=package_id, on_sale=on_sale == "on", now=now)
        audit.record(
            session,
            actor,
            action=audit.PACKAGE_SALE_CHANGED,
            target=("package", package_id),
            now=now,
            changes=[audit.Change("on_sale", str(before).lower(), str(package.on_sale).lower())],
        )
    return redirect("/admin/packages?done=sale")


def _effective_at(text: str) -> datetime:
    """A Hong Kong wall-clock time from the form (``2026-12-01T09:00``)."""
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            errors=[FieldProblem("effective_at", "invalid_time", "Give a date and time")]
        ) from None
    return (local if local.tzinfo else local.replace(tzinfo=HONG_KONG)).astimezone(HONG_KONG)


@post("/packages/{package_id}/prices", Action.PRICES_SCHEDULE)
def schedule_price(
    package_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: ActorDep,
    currency: Annotated[str, Form(pattern="^[A-Z]{3}$")],
    amount: Annotated[str, Form(max_length=16)],
    effective_at: Annotated[str, Form(max_length=32)],
) -> Response:
    now = runtime.clock.now()
    try:
        price = money_from_decimal_string(amount.strip(), currency)
    except ValueError:
        raise ValidationFailed(
            errors=[FieldProblem("amount", "invalid_amount", "Give the price like 88.00")]
        ) from None
    with transaction(session):
        change = price_changes.schedule_price_change(
            session,
            package_id=package_id,
            price=price,
            effective_at=_effective_at(effective_at),
            staff_id=actor.staff.id,
            now=now,
        )
        package = catalog.get_package(session, package_id)
        audit.record(
            session,
            actor,
            action=audit.PRICE_SCHEDULED,
            target=("package", package_id),
            now=now,
            changes=[
                audit.Change(
                    f"price_{currency}", str(catalog.price_of(package, currency).amount), str(price.amount)
                )
            ],
            context={"effective_at": change.effective_at.isoformat(), "price_change_id": change.id},
        )
    return redirect("/admin/packages?done=scheduled")


@post("/price-changes/{change_id}/cancel", Action.PRICES_SCHEDULE)
def cancel_price(change_id: str, session: SessionDep, runtime: RuntimeDep, actor: ActorDep) -> Response:
    now = runtime.clock.now()
    with transaction(session):
        change = price_changes.cancel_price_change(session, change_id=change_id, now=now)
        audit.record(
            session,
            actor,
            action=audit.PRICE_CHANGE_CANCELLED,
            target=("package", change.package_id),
            now=now,
            context={"price_change_id": change.id, "amount": change.amount, "currency": change.currency},
        )
    return redirect("/admin/packages?done=cancelled")
