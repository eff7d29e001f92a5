"""The one place errors become HTTP: RFC 9457 problem+json with a stable ``code``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from crossbay.errors import CrossbayError, FieldProblem
from crossbay.i18n import negotiate_language, translate

log = logging.getLogger("crossbay.errors")

PROBLEM_TYPE = "https://crossbay.example/problems/"

# English titles are the gettext message ids; web/translations holds the Chinese.
TITLES: dict[str, str] = {
    "not_found": "Not found",
    "validation_failed": "Some fields are not valid",
    "malformed_request": "The request could not be read",
    "unauthenticated": "Please sign in",
    "rate_limited": "Too many requests, please wait and try again",
    "too_many_attempts": "Too many attempts, please try again later",
    "invalid_phone_number": "This phone number is not valid",
    "invalid_code": "The verification code is not correct",
    "otp_resend_too_soon": "Please wait before asking for a new code",
    "invalid_credentials": "The phone number or password is not correct",
    "weak_password": "Please choose a stronger password",
    "invalid_document_number": "The identity document number is not valid",
    "guardian_required": "Customers under 16 must be registered by a guardian",
    "identity_required": "Please complete real-name registration first",
    "identity_quota_exceeded": "This identity document already holds the maximum number of eSIMs",
    "esim_out_of_stock": "New eSIMs are sold out for now. Please try again later",
    "identity_locked": "The identity cannot be changed while eSIMs are registered to it",
    "idempotency_key_required": "An Idempotency-Key header is required",
    "idempotency_key_reused": "This Idempotency-Key was used with a different request",
    "idempotency_request_in_progress": "A request with this Idempotency-Key is still in progress",
    "package_not_available": "This package is not available for this purchase",
    "currency_not_offered": "This package is not sold in that currency",
    "order_not_payable": "This order cannot be paid now",
    "order_not_cancellable": "This order can no longer be cancelled",
    "payment_method_unavailable": "This payment method is not available yet",
    "payment_provider_error": "The payment provider refused the request",
    "payment_provider_unavailable": "The payment provider is unavailable, please try again",
    "invalid_signature": "The signature is not valid",
    "invalid_notification": "The notification is not valid",
    "insufficient_balance": "Your wallet balance is not enough",
    "invalid_pin": "The payment PIN is not correct",
    "weak_pin": "Please choose a PIN that is harder to guess",
    "payment_pin_required": "Please set a payment PIN first",
    "amount_out_of_range": "The amount is outside the allowed range",
    "monthly_limit_exceeded": "This month's top-up limit has been reached",
    "order_not_refundable": "This order cannot be refunded",
    "stale_timestamp": "The timestamp is outside the accepted window",
    "unknown_payment": "No such payment",
    "amount_mismatch": "The amount does not match the order",
    "refund_before_payment": "A refund was notified for a payment not yet captured",
    "esim_not_active": "This eSIM cannot take a top-up",
    "smdp_error": "The eSIM profile server refused the request",
    "esim_status_conflict": "This eSIM's status does not allow that",
    "coupon_invalid": "This coupon code is not valid",
    "coupon_expired": "This coupon has expired",
    "coupon_used_up": "This coupon has been used up",
    "coupon_not_applicable": "This coupon cannot be used for this order",
    "method_not_allowed": "Method not allowed",
    "staff_sign_in_failed": "The email, password or code is not correct",
    "staff_sign_in_required": "Please sign in to the back office",
    "staff_forbidden": "Your role does not allow this",
    "staff_exists": "A staff account with this email already exists",
    "staff_not_found": "No such staff account",
    "fulfilment_retry_not_possible": "This order is not waiting for fulfilment",
    "reason_required": "Please give a reason",
    "price_change_not_pending": "This price change is no longer pending",
    "invalid_api_key": "The API key is not valid",
    "unknown_iccid": "No eSIM has this ICCID",
    "credit_session_not_found": "No such credit-control session",
    "credit_session_closed": "This credit-control session is closed",
    "credit_session_exists": "This credit-control session id is already in use",
    "credit_request_out_of_order": "This request number is older than the last one answered",
    "invalid_email": "This email address is not valid",
    "email_error": "The email could not be sent",
    "internal_error": "Something went wrong on our side",
}


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    detail: str | None = None,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    language = negotiate_language(request.headers.get("accept-language"), request.query_params.get("lang"))
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": translate(language, TITLES.get(code, code.replace("_", " ").capitalize())),
        "status": status,
        "detail": detail or translate(language, TITLES.get(code, code)),
        "code": code,
    }
    if errors:
        body["errors"] = [
            {"field": e.field, "code": e.code, "message": translate(language, e.message)} for e in errors
        ]
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def _crossbay_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CrossbayError)
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    if exc.status >= 500:
        log.warning("partner or server failure", extra={"code": exc.code})
    return problem_response(
        request, status=exc.status, code=exc.code, detail=exc.detail, errors=exc.errors, headers=headers
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems: list[FieldProblem] = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            return problem_response(request, status=400, code="malformed_request")
        problems.append(
            FieldProblem(
                field=_field_name(tuple(error.get("loc", ()))),
                code=str(error.get("type")),
                message=str(error.get("msg")),
            )
        )
    # A body that is not a JSON object at all is unreadable, not a field problem.
    if any(p.field == "body" and p.code in ("model_attributes_type", "dict_type") for p in problems):
        return problem_response(request, status=400, code="malformed_request")
    return problem_response(request, status=422, code="validation_failed", errors=problems)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}.get(exc.status_code, "error")
    if exc.status_code == 400:
        code = "malformed_request"
    return problem_response(request, status=exc.status_code, code=code)


async def _unexpected(request: Request, exc: Exception) -> Response:
    request_id = getattr(request.state, "request_id", "-")
    log.exception("unhandled error", extra={"request_id": request_id, "route": request.url.path})
    return problem_response(request, status=500, code="internal_error", detail=f"request id {request_id}")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CrossbayError, _crossbay_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
