"""The late-order watch: a sweep that notices paid orders not fulfilled in time, before the customer does.

For each such order it opens one ticket (the customer sees it on the order at once), and alerts staff
with a warning log line and the ``crossbay_late_orders_total`` counter (read from the tickets at scrape
time, so it is right whichever process serves /metrics). When the order is fulfilled after all, the
next sweep resolves the ticket with a note.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from crossbay.db import transaction
from crossbay.orders import late as late_orders
from crossbay.runtime import Runtime
from crossbay.support import service as support

log = logging.getLogger("crossbay.support.watch")

WATCH_JOB = "support.late_order_watch"
# How often the workers sweep: a late order is noticed within this long of becoming late.
SWEEP_EVERY = timedelta(seconds=30)
BATCH = 500


def watch_late_orders(runtime: Runtime, payload: dict[str, Any]) -> None:
    settings, clock = runtime.settings, runtime.clock
    cutoff = clock.now() - timedelta(seconds=settings.late_order_after_seconds)
    with runtime.sessions() as session, transaction(session):
        late = late_orders.paid_but_unfulfilled(session, paid_before=cutoff, limit=BATCH)
        noticed = support.tickets_already_opened(session, [order.order_id for order in late])
    for order in late:
        if order.order_id in noticed:
            continue
        # One short transaction per order: a failure on one never holds back the alert for another.
        with runtime.sessions() as session, transaction(session):
            now = clock.now()
            ticket = support.open_late_order_ticket(session, order=order, now=now)
            ticket_id = ticket.id if ticket else None
        if ticket_id is not None:
            log.warning(
                "late order: paid but not fulfilled, support ticket opened",
                extra={
                    "order_id": order.order_id,
                    "ticket_id": ticket_id,
                    "late_seconds": int((now - order.paid_at).total_seconds()),
                },
            )
    with runtime.sessions() as session, transaction(session):
        resolved = [t.id for t in support.resolve_fulfilled_late_tickets(session, now=clock.now())]
    for ticket_id in resolved:
        log.info("late order fulfilled: support ticket resolved", extra={"ticket_id": ticket_id})
