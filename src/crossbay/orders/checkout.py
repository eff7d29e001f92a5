"""Paying an order: a provider's cashier, or the wallet with the payment PIN."""

from __future__ import annotations

from crossbay.db import transaction
from crossbay.i18n import localized
from crossbay.orders import service as orders
from crossbay.orders import states
from crossbay.orders.errors import OrderNotPayable
from crossbay.payments import service as payments
from crossbay.payments.checkout import open_checkout
from crossbay.payments.wallet import WALLET
from crossbay.runtime import Runtime


def open_cashier(runtime: Runtime, *, customer_id: str, order_id: str, return_url: str | None) -> None:
    """Point the order at its provider's cashier (nothing to open for a wallet payment)."""
    with runtime.sessions() as session, transaction(session):
        order = orders.get_owned_order(session, customer_id=customer_id, order_id=order_id)
        if order.status != states.PENDING_PAYMENT:
            raise OrderNotPayable()
        if order.payment_method == WALLET:
            return
        payment = payments.latest_payments(session, [order.id])[order.id]
        description = localized(order.lines[0].descriptions, "en") if order.lines else order.id
    open_checkout(
        runtime,
        payment_id=payment.id,
        description=description,
        return_url=return_url or f"{runtime.settings.base_url}/orders/{order_id}",
    )
