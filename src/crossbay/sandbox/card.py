"""A card provider speaking Stripe's wire protocol, mounted in our own app for the demo and tests.

It answers ``CardClient`` at ``/sandbox/card/v1/...``, shows a cashier page at
``/sandbox/pay/card/{intent}``, and sends signed events to ``/webhooks/card`` at least
once, as the real provider does. Its state is in the database so that several server
processes behave as one provider.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.db import new_id, transaction
from crossbay.errors import NotFound
from crossbay.i18n import negotiate_language
from crossbay.payments.card import SIGNATURE_HEADER, sign_webhook
from crossbay.runtime import Runtime
from crossbay.sandbox.card_cashier import CASHIER_HEADERS, FINAL_STATES, cashier_page_html, missing_page
from crossbay.sandbox.card_models import SandboxCardIntent, SandboxCardRefund, SandboxCardRequest
from crossbay.sandbox.card_statement import (
    ListRefused,
    list_balance_transactions,
    record_charge,
    record_refund,
)
from crossbay.sandbox.notifier import deliver_at_least_once

log = logging.getLogger("crossbay.sandbox.card")

API_VERSION = "2024-06-20"
_CANCELLABLE = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "processing"}
)
_REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
_CANCELLATION_REASONS = _REFUND_REASONS | {"abandoned"}
_IDEMPOTENCY_TTL = timedelta(hours=24)
_DELIVERY_ATTEMPTS = 4


def _sandbox_only(runtime: RuntimeDep) -> None:
    if not runtime.settings.sandbox:
        raise NotFound()


router = APIRouter(tags=["sandbox"], dependencies=[Depends(_sandbox_only)])


async def _form_items(request: Request) -> list[tuple[str, str]]:
    # Read here because the routes are plain ``def`` and cannot await the body.
    form = await request.form()
    return [(key, value) for key, value in form.multi_items() if isinstance(value, str)]


FormItems = Annotated[list[tuple[str, str]], Depends(_form_items)]


@dataclass
class _Outcome:
    status: int
    body: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)


class _Refused(Exception):
    """Parameters refused before anything ran: answered, never stored against the idempotency key."""

    def __init__(self, response: JSONResponse) -> None:
        self.response = response


def _error_body(
    message: str, code: str | None = None, *, param: str | None = None, kind: str = "invalid_request_error"
) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return {"error": error}


def _error(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    kind: str = "invalid_request_error",
) -> JSONResponse:
    return JSONResponse(_error_body(message, code, param=param, kind=kind), status_code=status)


def _authorized(request: Request, runtime: Runtime) -> bool:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    key = credentials.strip()
    if scheme.lower() == "basic":  # ``curl -u sk_test_…:`` as Stripe's docs show
        try:
            key = base64.b64decode(key).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return False
    elif scheme.lower() != "bearer":
        return False
    expected = runtime.settings.card_secret_key
    return bool(expected) and hmac.compare_digest(key.encode(), (expected or "").encode())


def _unauthorized() -> JSONResponse:
    return _error(401, "Invalid API Key provided.")


# --- the REST API ------------------------------------------------------------------------------


@router.post("/sandbox/card/v1/payment_intents")
def create_payment_intent(
    request: Request, form: FormItems, session: SessionDep, runtime: RuntimeDep
) -> Response:
    if not _authorized(request, runtime):
        return _unauthorized()
    try:
        params = _intent_params(form)
    except _Refused as refused:
        return refused.response

    def create(session: Session) -> _Outcome:
        now = runtime.clock.now()
        intent_id = new_id("pi")
        intent = SandboxCardIntent(
            id=intent_id,
            amount=params["amount"],
            currency=params["currency"],
            description=params["description"],
            return_url=params["return_url"],
            metadata_=params["metadata"],
            # Confirmed with a redirect method, the payer still has to act on the cashier page.
            status="requires_action" if params["confirm"] else "requires_payment_method",
            client_secret=f"{intent_id}_secret_{new_id('cs')[3:]}",
            last_payment_error=None,
            latest_charge=None,
            amount_refunded=0,
            cancellation_reason=None,
            created_at=now,
            updated_at=now,
        )
        session.add(intent)
        return _Outcome(200, _intent_json(intent, runtime))

    return _idempotent(request, form, session, runtime, create)


@router.get("/sandbox/card/v1/payment_intents/{intent_id}")
def retrieve_payment_intent(
    intent_id: str, request: Request, session: SessionDep, runtime: RuntimeDep
) -> Response:
    if not _authorized(request, runtime):
        return _unauthorized()
    with transaction(session):
        intent = session.get(SandboxCardIntent, intent_id)
        if intent is None:
            return _missing("payment_intent", intent_id, param="intent", status=404)
        return JSONResponse(_intent_json(intent, runtime))


@router.post("/sandbox/card/v1/payment_intents/{intent_id}/cancel")
def cancel_payment_intent(
    intent_id: str, request: Request, form: FormItems, session: SessionDep, runtime: RuntimeDep
) -> Response:
    if not _authorized(request, runtime):
        return _unauthorized()
    reason = dict(form).get("cancellation_reason")
    if reason is not None and reason not in _CANCELLATION_REASONS:
        return _error(
            400,
            f"Invalid cancellation_reason: {reason}",
            code="parameter_invalid",
            param="cancellation_reason",
        )

    def cancel(session: Session) -> _Outcome:
        intent = _locked_intent(session, intent_id)
        if intent is None:
            return _Outcome(404, _missing_body("payment_intent", intent_id, param="intent"))
        if intent.status not in _CANCELLABLE:
            return _unexpected_state(intent, "cancel")
        intent.status, intent.cancellation_reason = "canceled", reason
        intent.updated_at = runtime.clock.now()
        body = _intent_json(intent, runtime)
        return _Outcome(200, body, [_event("payment_intent.canceled", body, runtime)])

    return _idempotent(request, form, session, runtime, cancel)


@router.get("/sandbox/card/v1/refunds")
def list_refunds(request: Request, session: SessionDep, runtime: RuntimeDep) -> Response:
    """Refunds of one payment intent, newest first (``?payment_intent=``), as Stripe lists them."""
    if not _authorized(request, runtime):
        return _unauthorized()
    intent_id = request.query_params.get("payment_intent", "")
    with transaction(session):
        intent = session.get(SandboxCardIntent, intent_id)
        if intent is None:
            return _missing("payment_intent", intent_id, param="payment_intent", status=404)
        refunds = session.scalars(
            select(SandboxCardRefund)
            .where(SandboxCardRefund.intent_id == intent.id)
            .order_by(SandboxCardRefund.created_at.desc(), SandboxCardRefund.id.desc())
        ).all()
        data = [_refund_json(refund, intent) for refund in refunds]
    return JSONResponse({"object": "list", "url": "/v1/refunds", "has_more": False, "data": data})


@router.post("/sandbox/card/v1/refunds")
def create_refund(request: Request, form: FormItems, session: SessionDep, runtime: RuntimeDep) -> Response:
    if not _authorized(request, runtime):
        return _unauthorized()
    params = dict(form)
    intent_id, reason = params.get("payment_intent"), params.get("reason")
    if not intent_id:
        return _error(
            400, "Missing required param: payment_intent.", code="parameter_missing", param="payment_intent"
        )
    amount_text = params.get("amount")
    if amount_text is not None and not (amount_text.isdigit() and int(amount_text) > 0):
        return _error(400, "Invalid positive integer", code="parameter_invalid_integer", param="amount")
    if reason is not None and reason not in _REFUND_REASONS:
        return _error(400, f"Invalid reason: {reason}", code="parameter_invalid", param="reason")

    def refund(session: Session) -> _Outcome:
        intent = _locked_intent(session, intent_id)
        if intent is None:
            return _Outcome(400, _missing_body("payment_intent", intent_id, param="payment_intent"))
        if intent.status != "succeeded":
            return _unexpected_state(intent, "refund")
        left = intent.amount - intent.amount_refunded
        amount = int(amount_text) if amount_text is not None else left
        if left == 0:
            return _Outcome(
                400, _error_body("This charge has already been refunded.", "charge_already_refunded")
            )
        if amount > left:
            return _Outcome(
                400,
                _error_body(
                    f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                    "amount_too_large",
                    param="amount",
                ),
            )
        now = runtime.clock.now()
        row = SandboxCardRefund(
            id=new_id("re"),
            intent_id=intent.id,
            amount=amount,
            currency=intent.currency,
            status="succeeded",
            reason=reason,
            created_at=now,
        )
        session.add(row)
        record_refund(
            session, refund_id=row.id, intent_id=intent.id, amount=amount, currency=intent.currency, now=now
        )
        intent.amount_refunded += amount
        intent.updated_at = now
        session.flush()  # the charge object below lists this refund with the earlier ones
        refunds = session.scalars(
            select(SandboxCardRefund)
            .where(SandboxCardRefund.intent_id == intent.id)
            .order_by(SandboxCardRefund.created_at.desc())
        ).all()
        charge = _charge_json(intent, [_refund_json(r, intent) for r in refunds])
        return _Outcome(200, _refund_json(row, intent), [_event("charge.refunded", charge, runtime)])

    return _idempotent(request, form, session, runtime, refund)


@router.get("/sandbox/card/v1/balance_transactions")
def balance_transactions(request: Request, session: SessionDep, runtime: RuntimeDep) -> Response:
    if not _authorized(request, runtime):
        return _unauthorized()
    with transaction(session):
        try:
            return JSONResponse(list_balance_transactions(session, list(request.query_params.multi_items())))
        except ListRefused as refused:
            return _error(400, refused.message, code=refused.code, param=refused.param)


def _invalid(message: str, code: str, param: str) -> _Refused:
    return _Refused(_error(400, message, code=code, param=param))


def _intent_params(form: list[tuple[str, str]]) -> dict[str, Any]:
    known = {"amount", "currency", "description", "confirm", "return_url", "payment_method_types[]"}
    metadata: dict[str, str] = {}
    for key, value in form:
        if key.startswith("metadata[") and key.endswith("]"):
            metadata[key[len("metadata[") : -1]] = value
        elif key not in known:
            raise _invalid(f"Received unknown parameter: {key}", "parameter_unknown", key)
    # Stripe's own limits, which also keep every value inside its column.
    if len(metadata) > 50 or any(len(k) > 40 or len(v) > 500 for k, v in metadata.items()):
        raise _invalid(
            "Metadata is limited to 50 keys of 40 and values of 500 characters.",
            "parameter_invalid",
            "metadata",
        )
    params = dict(form)
    amount, currency = params.get("amount", ""), params.get("currency", "")
    for name, value in (("amount", amount), ("currency", currency)):
        if not value:
            raise _invalid(f"Missing required param: {name}.", "parameter_missing", name)
    if not (amount.isdigit() and 0 < int(amount) <= 99_999_999):
        raise _invalid("Invalid positive integer", "parameter_invalid_integer", "amount")
    if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
        raise _invalid(f"Invalid currency: {currency}", "parameter_invalid", "currency")
    if any(value != "card" for key, value in form if key == "payment_method_types[]"):
        raise _invalid("Only card payments are available.", "parameter_invalid", "payment_method_types")
    description, return_url = params.get("description"), params.get("return_url") or None
    if description is not None and len(description) > 1000:
        raise _invalid("Description is limited to 1000 characters.", "parameter_invalid", "description")
    if return_url is not None and not (
        return_url.startswith(("https://", "http://")) and len(return_url) <= 2048
    ):
        raise _invalid("Not a valid URL", "url_invalid", "return_url")
    return {
        "amount": int(amount),
        "currency": currency.lower(),
        "description": description,
        "return_url": return_url,
        "confirm": params.get("confirm") == "true",
        "metadata": metadata,
    }


def _idempotent(
    request: Request,
    form: list[tuple[str, str]],
    session: Session,
    runtime: Runtime,
    operation: Callable[[Session], _Outcome],
) -> Response:
    """Run ``operation`` once per ``Idempotency-Key``; a retry gets the first answer, even an error."""
    key = request.headers.get("idempotency-key")
    if key is not None and not 0 < len(key) <= 255:
        return _error(400, "Idempotency keys are 1 to 255 characters long.", kind="idempotency_error")
    fingerprint = hashlib.sha256(
        json.dumps([request.method, request.url.path, sorted(form)]).encode()
    ).hexdigest()
    try:
        return _run_once(session, runtime, key, fingerprint, operation)
    except IntegrityError:
        # Another process stored the same key between our read and our write: its answer is the one to give.
        return _run_once(session, runtime, key, fingerprint, operation)


def _run_once(
    session: Session,
    runtime: Runtime,
    key: str | None,
    fingerprint: str,
    operation: Callable[[Session], _Outcome],
) -> Response:
    with transaction(session):
        stored = session.get(SandboxCardRequest, key) if key is not None else None
        if stored is not None and stored.created_at < runtime.clock.now() - _IDEMPOTENCY_TTL:
            session.delete(stored)  # pruned after a day, as Stripe does
            session.flush()
            stored = None
        if stored is not None:
            if stored.fingerprint != fingerprint:
                message = "Keys for idempotent requests can only be used with the same parameters."
                return _error(400, message, kind="idempotency_error")
            replayed = {"Idempotent-Replayed": "true", "Idempotency-Key": stored.idempotency_key}
            return Response(
                stored.body, status_code=stored.status_code, media_type="application/json", headers=replayed
            )
        outcome = operation(session)
        text = json.dumps(outcome.body)
        if key is not None:
            now = runtime.clock.now()
            session.add(
                SandboxCardRequest(
                    idempotency_key=key,
                    fingerprint=fingerprint,
                    status_code=outcome.status,
                    body=text,
                    created_at=now,
                )
            )
            session.flush()  # a racing duplicate key fails here, inside the transaction
    for event in outcome.events:
        _deliver(runtime, event, first_now=False)
    headers = {"Idempotency-Key": key} if key is not None else None
    return Response(text, status_code=outcome.status, media_type="application/json", headers=headers)


def _locked_intent(session: Session, intent_id: str) -> SandboxCardIntent | None:
    return session.scalars(
        select(SandboxCardIntent).where(SandboxCardIntent.id == intent_id).with_for_update()
    ).one_or_none()


def _missing_body(kind: str, object_id: str, *, param: str) -> dict[str, Any]:
    return _error_body(f"No such {kind}: '{object_id}'", "resource_missing", param=param)


def _missing(kind: str, object_id: str, *, param: str, status: int) -> JSONResponse:
    return JSONResponse(_missing_body(kind, object_id, param=param), status_code=status)


def _unexpected_state(intent: SandboxCardIntent, action: str) -> _Outcome:
    message = f"You cannot {action} this PaymentIntent because it has a status of {intent.status}."
    return _Outcome(400, _error_body(message, "payment_intent_unexpected_state"))


def _ts(at: datetime) -> int:
    return int(at.timestamp())


def _intent_json(intent: SandboxCardIntent, runtime: Runtime) -> dict[str, Any]:
    next_action = None
    if intent.status == "requires_action":
        cashier = f"{runtime.settings.base_url.rstrip('/')}/sandbox/pay/card/{intent.id}"
        next_action = {
            "type": "redirect_to_url",
            "redirect_to_url": {"url": cashier, "return_url": intent.return_url},
        }
    return {
        "id": intent.id,
        "object": "payment_intent",
        "amount": intent.amount,
        "amount_capturable": 0,
        "amount_received": intent.amount if intent.status == "succeeded" else 0,
        "canceled_at": _ts(intent.updated_at) if intent.status == "canceled" else None,
        "cancellation_reason": intent.cancellation_reason,
        "capture_method": "automatic",
        "client_secret": intent.client_secret,
        "confirmation_method": "automatic",
        "created": _ts(intent.created_at),
        "currency": intent.currency,
        "description": intent.description,
        "last_payment_error": intent.last_payment_error,
        "latest_charge": intent.latest_charge,
        "livemode": False,
        "metadata": dict(intent.metadata_),
        "next_action": next_action,
        "payment_method_types": ["card"],
        "status": intent.status,
    }


def _refund_json(refund: SandboxCardRefund, intent: SandboxCardIntent) -> dict[str, Any]:
    return {
        "id": refund.id,
        "object": "refund",
        "amount": refund.amount,
        "charge": intent.latest_charge,
        "created": _ts(refund.created_at),
        "currency": refund.currency,
        "metadata": {},
        "payment_intent": intent.id,
        "reason": refund.reason,
        "status": refund.status,
    }


def _charge_json(intent: SandboxCardIntent, refunds: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": intent.latest_charge,
        "object": "charge",
        "amount": intent.amount,
        "amount_captured": intent.amount,
        "amount_refunded": intent.amount_refunded,
        "captured": True,
        "created": _ts(intent.updated_at),
        "currency": intent.currency,
        "livemode": False,
        "metadata": dict(intent.metadata_),
        "paid": True,
        "payment_intent": intent.id,
        "refunded": intent.amount_refunded >= intent.amount,
        "status": "succeeded",
        "refunds": {"object": "list", "data": refunds, "has_more": False},
    }


def _event(kind: str, obj: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    return {
        "id": new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": _ts(runtime.clock.now()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
        "data": {"object": obj},
    }


# --- webhook delivery --------------------------------------------------------------------------


def _deliver(runtime: Runtime, event: dict[str, Any], *, first_now: bool) -> None:
    body = json.dumps(event, separators=(",", ":")).encode()
    deliver_at_least_once(
        runtime, lambda: _post_event(runtime, body), label=str(event["id"]), first_now=first_now
    )


def _post_event(runtime: Runtime, body: bytes) -> bool:
    # Signed at each attempt, as the provider does, so a late retry still carries a fresh timestamp.
    signature = sign_webhook(body, runtime.settings.secret("card_webhook_secret"), _ts(runtime.clock.now()))
    url = runtime.settings.base_url.rstrip("/") + "/webhooks/card"
    headers = {"Content-Type": "application/json; charset=utf-8", SIGNATURE_HEADER: signature}
    try:
        response = runtime.http.post(url, content=body, headers=headers)
    except (httpx.HTTPError, RuntimeError):  # RuntimeError: the runtime closed while we were waiting
        return False
    return response.is_success


# --- the cashier -------------------------------------------------------------------------------


@router.get("/sandbox/pay/card/{reference}", response_class=HTMLResponse)
def cashier_page(reference: str, request: Request, session: SessionDep) -> HTMLResponse:
    language = negotiate_language(request.headers.get("accept-language"), request.query_params.get("lang"))
    with transaction(session):
        intent = session.get(SandboxCardIntent, reference)
    if intent is None:
        return HTMLResponse(missing_page(language), status_code=404, headers=CASHIER_HEADERS)
    return HTMLResponse(cashier_page_html(intent, language), headers=CASHIER_HEADERS)


@router.post("/sandbox/pay/card/{reference}/approve")
def approve_payment(reference: str, session: SessionDep, runtime: RuntimeDep) -> Response:
    return _settle(reference, approved=True, session=session, runtime=runtime)


@router.post("/sandbox/pay/card/{reference}/decline")
def decline_payment(reference: str, session: SessionDep, runtime: RuntimeDep) -> Response:
    return _settle(reference, approved=False, session=session, runtime=runtime)


def _settle(reference: str, *, approved: bool, session: Session, runtime: Runtime) -> Response:
    with transaction(session):
        intent = _locked_intent(session, reference)
        if intent is None:
            return _missing("payment_intent", reference, param="intent", status=404)
        if intent.status in FINAL_STATES:
            return _error(
                409,
                f"This PaymentIntent's status is {intent.status}.",
                code="payment_intent_unexpected_state",
            )
        if approved:
            intent.status, intent.last_payment_error = "succeeded", None
            intent.latest_charge = new_id("ch")
            record_charge(
                session,
                charge_id=intent.latest_charge,
                intent_id=intent.id,
                amount=intent.amount,
                currency=intent.currency,
                now=runtime.clock.now(),
            )
        else:
            # A declined intent goes back to waiting for a payment method; the payer may try again.
            intent.status = "requires_payment_method"
            intent.last_payment_error = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "generic_decline",
                "message": "Your card was declined.",
            }
        intent.updated_at = runtime.clock.now()
        kind = "payment_intent.succeeded" if approved else "payment_intent.payment_failed"
        event = _event(kind, _intent_json(intent, runtime), runtime)
        intent_id, status, return_url = intent.id, intent.status, intent.return_url
    # Delivered before answering, so the payer lands on an order that already knows it is paid.
    _deliver(runtime, event, first_now=True)
    if return_url:
        redirect_status = "succeeded" if approved else "failed"
        return RedirectResponse(
            _with_query(return_url, payment_intent=intent_id, redirect_status=redirect_status),
            status_code=303,
        )
    return JSONResponse({"status": status})


def _with_query(url: str, **extra: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *extra.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))
