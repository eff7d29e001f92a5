"""What staff change in the catalog: a package on or off sale, and prices scheduled for a future time.

A scheduled price is a row with its effective time; a sweep applies it to the package when that
time comes (within the sweep's period), so quoting stays one read of the package.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from crossbay.catalog.models import Package
from crossbay.catalog.service import get_package
from crossbay.db import Base, new_id, transaction
from crossbay.errors import Conflict, FieldProblem, ValidationFailed
from crossbay.money import Money

if TYPE_CHECKING:
    from crossbay.runtime import Runtime

APPLY_JOB = "catalog.apply_price_changes"
log = logging.getLogger("crossbay.catalog")


class PriceChange(Base):
    __tablename__ = "price_changes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    package_id: Mapped[str] = mapped_column(ForeignKey("packages.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    effective_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(40))  # a staff account id
    created_at: Mapped[datetime]
    applied_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_price_changes_applied_at_effective_at", "applied_at", "effective_at"),)


class PriceChangeNotPending(Conflict):
    code = "price_change_not_pending"


def set_on_sale(session: Session, *, package_id: str, on_sale: bool, now: datetime) -> Package:
    """Off sale: no longer listed or sold; orders already placed are unaffected."""
    package = get_package(session, package_id)
    session.refresh(package, with_for_update=True)
    if package.on_sale != on_sale:
        package.on_sale = on_sale
        package.updated_at = now
    return package


def schedule_price_change(
    session: Session, *, package_id: str, price: Money, effective_at: datetime, staff_id: str, now: datetime
) -> PriceChange:
    """A new price from a future time, in a currency the package is already sold in (never a conversion)."""
    package = get_package(session, package_id)
    offered = {package.currency, *package.other_prices}
    problems = []
    if price.currency not in offered:
        problems.append(
            FieldProblem("currency", "invalid_choice", "The package is not sold in this currency")
        )
    if price.amount <= 0:
        problems.append(FieldProblem("amount", "out_of_range", "The price must be more than zero"))
    if effective_at <= now:
        problems.append(FieldProblem("effective_at", "not_in_future", "The time must be in the future"))
    if problems:
        raise ValidationFailed(errors=problems)
    change = PriceChange(
        id=new_id("prc"),
        package_id=package.id,
        currency=price.currency,
        amount=price.amount,
        effective_at=effective_at,
        created_by=staff_id,
        created_at=now,
    )
    session.add(change)
    return change


def cancel_price_change(session: Session, *, change_id: str, now: datetime) -> PriceChange:
    change = session.get(PriceChange, change_id, with_for_update=True)
    if change is None or change.applied_at is not None or change.cancelled_at is not None:
        raise PriceChangeNotPending()
    change.cancelled_at = now
    return change


def pending_price_changes(session: Session, package_ids: list[str]) -> dict[str, list[PriceChange]]:
    found: dict[str, list[PriceChange]] = {}
    if package_ids:
        query = (
            select(PriceChange)
            .where(
                PriceChange.package_id.in_(package_ids),
                PriceChange.applied_at.is_(None),
                PriceChange.cancelled_at.is_(None),
            )
            .order_by(PriceChange.effective_at)
        )
        for change in session.scalars(query):
            found.setdefault(change.package_id, []).append(change)
    return found


def apply_due_price_changes(session: Session, *, now: datetime) -> int:
    """Every change whose time has come, oldest first, so the latest due one is the price that stays."""
    due = session.scalars(
        select(PriceChange)
        .where(
            PriceChange.applied_at.is_(None),
            PriceChange.cancelled_at.is_(None),
            PriceChange.effective_at <= now,
        )
        .order_by(PriceChange.effective_at, PriceChange.id)
        .with_for_update()
    ).all()
    for change in due:
        package = get_package(session, change.package_id)
        if change.currency == package.currency:
            package.price_amount = change.amount
        else:
            # A new dict: the JSON column is saved only when the attribute is assigned.
            package.other_prices = {**package.other_prices, change.currency: change.amount}
        package.updated_at = now
        change.applied_at = now
    return len(due)


def apply_price_changes(runtime: Runtime, payload: dict[str, Any]) -> None:
    """The sweep: once a minute, across all workers."""
    with runtime.sessions() as session, transaction(session):
        applied = apply_due_price_changes(session, now=runtime.clock.now())
    if applied:
        log.info("scheduled prices applied", extra={"count": applied})
