"""Opening the provider's cashier for an order: a network call between two short transactions."""

from __future__ import annotations

import logging

from crossbay.db import transaction
from crossbay.errors import CrossbayError
from crossbay.i18n import localized
from crossbay.money import Money
from crossbay.orders import service as orders
from crossbay.orders import states
from crossbay.orders.errors import OrderNotPayable
from crossbay.payments import service as payments
from crossbay.payments.providers import CheckoutRequest
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
    provider = runtime.providers[payment.provider]
    try:
        checkout = provider.open_checkout(
            CheckoutRequest(
                payment_id=payment.id,
                amount=Money(payment.amount, payment.currency),
                description=description,
                return_url=return_url or f"{runtime.settings.base_url}/orders/{order_id}",
                notify_url=f"{runtime.settings.base_url}/webhooks/{provider.name}",
            )
        )
    except CrossbayError as error:
        log.warning("provider refused to open a payment", extra={"order_id": order_id, "code": error.code})
        raise
    with runtime.sessions() as session, transaction(session):
        payments.attach_provider_session(
            session,
            payment_id=payment.id,
            reference=checkout.reference,
            redirect_url=checkout.redirect_url,
            now=runtime.clock.now(),
        )
