"""Provider notifications: POST /webhooks/card (Stripe-Signature HMAC)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from crossbay.api.deps import ClockDep, SessionDep, SettingsDep
from crossbay.db import transaction
from crossbay.errors import CrossbayError
from crossbay.orders import service as orders
from crossbay.payments.card import SIGNATURE_HEADER, intent_from_object, verify_webhook
from crossbay.payments.service import CANCELED_OUTCOME, FAILED_OUTCOME, SUCCEEDED_OUTCOME, PaymentNotice

log = logging.getLogger("crossbay.webhooks")
router = APIRouter(tags=["partner endpoints"])

CARD_OUTCOMES = {
    "payment_intent.succeeded": SUCCEEDED_OUTCOME,
    "payment_intent.payment_failed": FAILED_OUTCOME,
    "payment_intent.canceled": CANCELED_OUTCOME,
}


@router.post("/webhooks/card", responses={200: {"description": "applied, or a repeat acknowledged"}})
async def card_webhook(
    request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> JSONResponse:
    # The signature covers the raw bytes: read them before anything parses the body.
    payload = await request.body()
    try:
        event = verify_webhook(
            payload,
            request.headers.get(SIGNATURE_HEADER),
            settings.secret("card_webhook_secret"),
            now=clock.now(),
            tolerance_seconds=settings.webhook_tolerance_seconds,
        )
        outcome = CARD_OUTCOMES.get(event.type)
        if outcome is None:
            # Refund confirmations and other events need no action: acknowledge so they are not retried.
            return JSONResponse({"received": True, "applied": False})
        intent = intent_from_object(event.object)
        notice = PaymentNotice(
            provider="card",
            event_id=event.id,
            kind=event.type,
            reference=intent.id,
            amount=intent.amount,
            outcome=outcome,
        )
        with transaction(session):
            orders.apply_payment_notice(session, notice, settings=settings, now=clock.now())
    except CrossbayError as error:
        # A refused notice is either an attack or a provider-side mistake: operators must see it.
        log.warning("card notification refused", extra={"code": error.code})
        raise
    return JSONResponse({"received": True})
