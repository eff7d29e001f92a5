"""Read-only questions the late-order watch (crossbay.support.watch) asks about orders."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.orders import states
from crossbay.orders.models import Order, OrderEvent


@dataclass(frozen=True)
class LateOrder:
    order_id: str
    customer_id: str
    paid_at: datetime


def paid_but_unfulfilled(session: Session, *, paid_before: datetime, limit: int) -> list[LateOrder]:
    """Orders paid before ``paid_before`` and still waiting for fulfilment (paid or fulfilling), oldest first.

    Few orders are ever in those two states at once, so the status index keeps this cheap.
    """
    rows = session.execute(
        select(Order.id, Order.customer_id, OrderEvent.at)
        .join(OrderEvent, OrderEvent.order_id == Order.id)
        .where(
            Order.status.in_((states.PAID, states.FULFILLING)),
            OrderEvent.status == states.PAID,
            OrderEvent.step.is_(None),
            OrderEvent.at <= paid_before,
        )
        .order_by(OrderEvent.at, Order.id)
        .limit(limit)
    )
    return [LateOrder(order_id, customer_id, paid_at) for order_id, customer_id, paid_at in rows]


def statuses(session: Session, order_ids: Iterable[str]) -> dict[str, str]:
    wanted = list(order_ids)
    if not wanted:
        return {}
    rows = session.execute(select(Order.id, Order.status).where(Order.id.in_(wanted)))
    return {order_id: status for order_id, status in rows}
