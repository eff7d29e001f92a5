"""Opening the provider's cashier for an order: a network call between two short transactions."""

from __future__ import annotations

import logging

from crossbay.db import transaction
from crossbay.i18n import localized
from crossbay.money import Money
from crossbay.orders import service as orders
from crossbay.orders import states
from crossbay.orders.errors import OrderNotPayable
from crossbay.payments import service as payments
from crossbay.payments.errors import CardProviderError
from crossbay.runtime import Runtime

log = logging.getLogger("crossbay.checkout")


def open_cashier(runtime: Runtime, *, customer_id: str, order_id: str, return_url: str | None) -> None:
    """Create (or fetch again, same idempotency key) the provider payment and record where to pay.

    A provider outage leaves the order payable: the client asks again with
    ``POST /orders/{id}/pay``.
    """
    with runtime.sessions() as session, transaction(session):
        order = orders.get_owned_order(session, customer_id=customer_id, order_id=order_id)
        if order.status != states.PENDING_PAYMENT:
            raise OrderNotPayable()
        payment = payments.latest_payments(session, [order.id])[order.id]
        description = localized(order.lines[0].descriptions, "en") if order.lines else order.id
    if payment.redirect_url is not None and payment.status == payments.PENDING:
        return
    try:
        intent = runtime.card.create_intent(
            amount=Money(payment.amount, payment.currency),
            reference=payment.id,
            description=description,
            return_url=return_url or f"{runtime.settings.base_url}/orders/{order_id}",
            idempotency_key=payment.id,
        )
    except CardProviderError:
        log.warning("card provider refused to open a payment", extra={"order_id": order_id})
        raise
    with runtime.sessions() as session, transaction(session):
        payments.attach_provider_session(
            session,
            payment_id=payment.id,
            reference=intent.id,
            redirect_url=intent.redirect_url,
            now=runtime.clock.now(),
        )
