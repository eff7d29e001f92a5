"""Opening a provider's cashier for a payment: a network call between two short transactions."""

from __future__ import annotations

import logging

from crossbay.db import transaction
from crossbay.errors import CrossbayError
from crossbay.money import Money
from crossbay.payments import service as payments
from crossbay.payments.models import Payment
from crossbay.payments.providers import CheckoutRequest
from crossbay.runtime import Runtime

log = logging.getLogger("crossbay.checkout")


def open_checkout(runtime: Runtime, *, payment_id: str, description: str, return_url: str) -> None:
    """Create the provider payment (or find it again: the payment id is its idempotency key).

    A provider outage leaves the payment payable: the client simply asks again.
    """
    with runtime.sessions() as session, transaction(session):
        payment = payments.get_payment(session, payment_id)
    assert payment is not None
    if payment.redirect_url is not None and payment.status == payments.PENDING:
        return
    provider = runtime.providers[payment.provider]
    try:
        checkout = provider.open_checkout(
            CheckoutRequest(
                payment_id=payment.id,
                amount=Money(payment.amount, payment.currency),
                description=description,
                return_url=return_url,
                notify_url=f"{runtime.settings.base_url}/webhooks/{provider.name}",
            )
        )
    except CrossbayError as error:
        log.warning(
            "provider refused to open a payment", extra={"payment_id": payment.id, "code": error.code}
        )
        raise
    with runtime.sessions() as session, transaction(session):
        payments.attach_provider_session(
            session,
            payment_id=payment.id,
            reference=checkout.reference,
            redirect_url=checkout.redirect_url,
            now=runtime.clock.now(),
        )


def close_checkout(runtime: Runtime, payment: Payment) -> None:
    """Close the cashier of a payment whose order or top-up is dead, so the payer cannot pay it.

    If they already did, the provider refuses, and its success notice leads to a refund instead.
    """
    if payment.reference is None or payment.status != payments.PENDING:
        return
    try:
        runtime.providers[payment.provider].close(reference=payment.reference, payment_id=payment.id)
    except CrossbayError as error:
        log.info("provider refused to close a payment", extra={"payment_id": payment.id, "code": error.code})
