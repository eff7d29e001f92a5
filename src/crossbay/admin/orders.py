"""Orders for staff: find them, read their timeline, refund them, retry a stuck fulfilment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.admin import audit
from crossbay.admin.audit import StaffActor
from crossbay.admin.errors import ReasonRequired, RetryNotPossible
from crossbay.clock import HONG_KONG
from crossbay.errors import FieldProblem
from crossbay.jobs import service as jobs
from crossbay.jobs.models import Job
from crossbay.orders import service as orders
from crossbay.orders import states
from crossbay.orders.models import Order
from crossbay.payments import service as payments
from crossbay.payments.models import Payment
from crossbay.settings import Settings

PAGE_SIZE = 50
STUCK = frozenset({states.PAID, states.FULFILLING})


@dataclass(frozen=True)
class OrderFile:
    order: Order
    payment: Payment | None
    fulfil_jobs: list[Job]


def list_orders(
    session: Session,
    *,
    status: str | None,
    query: str | None,
    before: datetime | None,
    limit: int = PAGE_SIZE,
) -> list[Order]:
    """Newest first; an order id (or its start) or a customer id narrows the list."""
    stmt = select(Order)
    if status:
        stmt = stmt.where(Order.status == status)
    if query:
        text = query.strip()
        if text.startswith("cus_"):
            stmt = stmt.where(Order.customer_id == text)
        else:
            stmt = stmt.where(Order.id.startswith(text, autoescape=True))
    if before is not None:
        stmt = stmt.where(Order.created_at < before)
    return list(session.scalars(stmt.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit)))


def order_file(session: Session, *, order_id: str) -> OrderFile:
    order = orders.get_order(session, order_id)
    payment = payments.latest_payments(session, [order.id]).get(order.id)
    # The outbox is shared plumbing: read here only to show staff how fulfilment is going.
    fulfil_jobs = list(
        session.scalars(
            select(Job)
            .where(Job.kind == orders.FULFIL_JOB, Job.dedupe_key.startswith(f"fulfil:{order.id}"))
            .order_by(Job.created_at)
        )
    )
    return OrderFile(order, payment, fulfil_jobs)


def _reason(reason: str) -> str:
    cleaned = " ".join(reason.split())
    if len(cleaned) < 3:
        raise ReasonRequired(errors=[FieldProblem("reason", "reason_required", "Give a reason")])
    return cleaned[:200]


def refund(
    session: Session, actor: StaffActor, *, order_id: str, reason: str, settings: Settings, now: datetime
) -> Order:
    """The orders context's own refund: quota withdrawn, revenue reversed, provider refunded later."""
    why = _reason(reason)
    order = orders.refund_order(session, order_id=order_id, settings=settings, now=now, reason=why)
    audit.record(
        session,
        actor,
        action=audit.ORDER_REFUNDED,
        target=("order", order.id),
        customer_id=order.customer_id,
        now=now,
        context={"reason": why, "amount": order.total, "currency": order.currency, "status": order.status},
    )
    return order


def retry_fulfilment(
    session: Session, actor: StaffActor, *, order_id: str, settings: Settings, now: datetime
) -> Order:
    """A paid order that has not been delivered gets a fresh fulfilment job, due now.

    Fulfilment is safe to run twice (the ES2+ call ids and the bundle are fixed per order, and
    every step re-checks the order under a lock), so a new job beside a sleeping or dead one
    does no harm. A failed order is not retried: its money is already on its way back.
    """
    order = orders.get_order(session, order_id, lock=True)
    if order.status not in STUCK:
        raise RetryNotPossible(f"an order that is {order.status} is not waiting for fulfilment")
    # One retry a minute at most: a double click does not queue two.
    minute = now.astimezone(HONG_KONG).strftime("%Y%m%d%H%M")
    jobs.enqueue(
        session,
        orders.FULFIL_JOB,
        {"order_id": order.id},
        now=now,
        max_attempts=settings.job_max_attempts,
        dedupe_key=f"fulfil:{order.id}:retry:{minute}",
    )
    audit.record(
        session,
        actor,
        action=audit.ORDER_FULFILMENT_RETRIED,
        target=("order", order.id),
        customer_id=order.customer_id,
        now=now,
        context={"status": order.status},
    )
    return order
