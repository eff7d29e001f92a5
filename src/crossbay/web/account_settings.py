"""Account settings: the payment PIN, the login password and the preferred way to pay."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from crossbay.api.deps import SessionDep, client_ip
from crossbay.audit.http import origin_of
from crossbay.db import transaction
from crossbay.errors import CrossbayError
from crossbay.identity import pins
from crossbay.identity import service as identity
from crossbay.identity.errors import InvalidCode, InvalidCredentials
from crossbay.identity.models import Customer
from crossbay.identity.phones import mask_phone
from crossbay.web.messages import (
    CHOOSE_PAYMENT_METHOD,
    ENTER_CODE,
    ENTER_NEW_PIN,
    PASSWORDS_DIFFER,
    PINS_DIFFER,
    WRONG_PASSWORD,
)
from crossbay.web.pages import CsrfChecked, CustomerDep, PageDep, PageRoute, problem_text, redirect
from crossbay.web.rendering import Page
from crossbay.web.security import clear_cookie, safe_next, set_cookie, sign, unsign
from crossbay.web.views import PAYMENT_METHODS

router = APIRouter(route_class=PageRoute)

PIN_PATH = "/account/pin"
# The code sent for a PIN change: a signed cookie sent only to the PIN pages, so no id sits in a URL.
PIN_CODE_COOKIE = "cb_pin_code"
_PIN = re.compile(r"[0-9]{6}")
NextQuery = Annotated[str | None, Query()]
NextForm = Annotated[str, Form(max_length=512)]


def _done(next_path: str | None, notice: str) -> Response:
    return redirect(next_path or "/home?" + urlencode({"notice": notice}))


# --- payment PIN -----------------------------------------------------------------------------------


def _code_challenge(page: Page, customer_id: str) -> str | None:
    payload = unsign(
        page.runtime.settings,
        "pin-code",
        page.request.cookies.get(PIN_CODE_COOKIE),
        now=page.runtime.clock.now(),
    )
    if payload is None or payload.get("u") != customer_id or not isinstance(payload.get("c"), str):
        return None
    return str(payload["c"])


def _pin_form(
    page: Page,
    session: Session,
    customer: Customer,
    *,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    next_path: str | None,
    sent: bool = False,
    status: int = 200,
) -> Response:
    with transaction(session):
        has_pin, has_password = customer.payment_pin_hash is not None, customer.password_hash is not None
        phone, customer_id = mask_phone(customer.phone), customer.id
    return page.render(
        "account_pin.html",
        status=status,
        has_pin=has_pin,
        has_password=has_password,
        code_sent=_code_challenge(page, customer_id) is not None,
        sent=sent,
        phone=phone,
        errors=errors or {},
        error=error,
        next=next_path,
    )


@router.get(PIN_PATH)
def pin_form(
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    next: NextQuery = None,
    sent: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    return _pin_form(page, session, customer, next_path=safe_next(next), sent=sent == "1")


@router.post(PIN_PATH + "/code", dependencies=[CsrfChecked])
def send_pin_code(
    request: Request, page: PageDep, customer: CustomerDep, session: SessionDep, next: NextForm = ""
) -> Response:
    """A fresh code to the customer's own phone proves who asks, for those without a password at hand."""
    settings, now, next_path = page.runtime.settings, page.runtime.clock.now(), safe_next(next)
    customer_id, phone = customer.id, customer.phone
    try:
        with transaction(session):
            issued = identity.request_otp(
                session,
                phone=phone,
                ip=client_ip(request),
                language=page.language,
                settings=settings,
                now=now,
            )
    except CrossbayError as error:
        return _pin_form(
            page, session, customer, error=problem_text(page, error), next_path=next_path, status=error.status
        )
    response = redirect(
        f"{PIN_PATH}?" + urlencode({"sent": "1", **({"next": next_path} if next_path else {})})
    )
    token = sign(
        settings,
        "pin-code",
        {"u": customer_id, "c": issued.challenge_id},
        expires_at=now + timedelta(seconds=settings.otp_ttl_seconds),
    )
    set_cookie(response, settings, PIN_CODE_COOKIE, token, max_age=settings.otp_ttl_seconds, path=PIN_PATH)
    return response


def _pin_errors(page: Page, error: CrossbayError, proof: str) -> dict[str, str]:
    """Which field a refusal belongs to; an empty answer means the page shows it on top."""
    if isinstance(error, pins.WeakPin):
        return {"pin": problem_text(page, error)}
    if isinstance(error, InvalidCredentials):
        return {"password": page._(WRONG_PASSWORD)}
    if proof == "code" and error.code in ("invalid_code", "too_many_attempts"):
        return {"code": problem_text(page, error)}
    return {}


@router.post(PIN_PATH, dependencies=[CsrfChecked])
def save_pin(
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    proof: Annotated[str, Form(max_length=16)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    code: Annotated[str, Form(max_length=16)] = "",
    pin: Annotated[str, Form(max_length=16)] = "",
    pin_again: Annotated[str, Form(max_length=16)] = "",
    next: NextForm = "",
) -> Response:
    """Set or change the PIN with the login password or a fresh code; neither PIN is ever shown again."""
    next_path = safe_next(next)
    errors: dict[str, str] = {}
    if not _PIN.fullmatch(pin):
        errors["pin"] = page._(ENTER_NEW_PIN)
    elif pin != pin_again:
        errors["pin_again"] = page._(PINS_DIFFER)
    if proof == "code" and not code.strip():
        errors["code"] = page._(ENTER_CODE)
    if errors:
        return _pin_form(page, session, customer, errors=errors, next_path=next_path, status=422)
    runtime = page.runtime
    try:
        with transaction(session):
            challenge_id = _code_challenge(page, customer.id) if proof == "code" else None
            if proof == "code" and challenge_id is None:
                raise InvalidCode()
            pins.change_payment_pin(
                session,
                customer=customer,
                pin=pin,
                password=None if proof == "code" else password,
                challenge_id=challenge_id,
                code=code.strip()[:16] if proof == "code" else None,
                pii=runtime.pii,
                settings=runtime.settings,
                now=runtime.clock.now(),
                origin=origin_of(page.request, runtime.settings),
            )
    except CrossbayError as failure:
        field_errors = _pin_errors(page, failure, proof)
        return _pin_form(
            page,
            session,
            customer,
            errors=field_errors,
            error=None if field_errors else problem_text(page, failure),
            next_path=next_path,
            status=failure.status,
        )
    response = _done(next_path, "pin_saved")
    clear_cookie(response, runtime.settings, PIN_CODE_COOKIE, path=PIN_PATH)
    return response


# --- login password --------------------------------------------------------------------------------


def _password_form(
    page: Page,
    session: Session,
    customer: Customer,
    *,
    errors: dict[str, str] | None = None,
    next_path: str | None,
    status: int = 200,
) -> Response:
    with transaction(session):
        has_password = customer.password_hash is not None
    return page.render(
        "account_password.html", status=status, has_password=has_password, errors=errors or {}, next=next_path
    )


@router.get("/account/password")
def password_form(
    page: PageDep, customer: CustomerDep, session: SessionDep, next: NextQuery = None
) -> Response:
    return _password_form(page, session, customer, next_path=safe_next(next))


@router.post("/account/password", dependencies=[CsrfChecked])
def save_password(
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    current_password: Annotated[str, Form(max_length=256)] = "",
    new_password: Annotated[str, Form(max_length=256)] = "",
    new_password_again: Annotated[str, Form(max_length=256)] = "",
    next: NextForm = "",
) -> Response:
    """A first password needs only the session; changing one needs the current one."""
    next_path = safe_next(next)
    if new_password != new_password_again:
        errors = {"new_password_again": page._(PASSWORDS_DIFFER)}
        return _password_form(page, session, customer, errors=errors, next_path=next_path, status=422)
    try:
        with transaction(session):
            session.refresh(customer, with_for_update=True)
            identity.set_password(
                session,
                customer=customer,
                new_password=new_password,
                current_password=current_password or None,
                now=page.runtime.clock.now(),
                origin=origin_of(page.request, page.runtime.settings),
            )
    except CrossbayError as failure:
        if isinstance(failure, InvalidCredentials):
            errors = {"current_password": page._(WRONG_PASSWORD)}
        else:
            errors = {"new_password": problem_text(page, failure)}
        return _password_form(
            page, session, customer, errors=errors, next_path=next_path, status=failure.status
        )
    return _done(next_path, "password_saved")


# --- preferred way to pay --------------------------------------------------------------------------


def _payment_form(
    page: Page, *, chosen: str, error: str | None = None, next_path: str | None, status: int = 200
) -> Response:
    return page.render(
        "account_payment.html",
        status=status,
        methods=PAYMENT_METHODS,
        chosen=chosen,
        error=error,
        next=next_path,
    )


@router.get("/account/payment")
def payment_form(page: PageDep, customer: CustomerDep, next: NextQuery = None) -> Response:
    preferred = customer.preferred_payment_method
    chosen = preferred if preferred in PAYMENT_METHODS else "card"
    return _payment_form(page, chosen=chosen, next_path=safe_next(next))


@router.post("/account/payment", dependencies=[CsrfChecked])
def save_payment(
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    method: Annotated[str, Form(max_length=16)] = "",
    next: NextForm = "",
) -> Response:
    """The method checkout preselects; the wallet may be bound before it holds any money."""
    next_path = safe_next(next)
    if method not in PAYMENT_METHODS:
        return _payment_form(
            page, chosen="card", error=page._(CHOOSE_PAYMENT_METHOD), next_path=next_path, status=422
        )
    with transaction(session):
        session.refresh(customer, with_for_update=True)
        identity.set_preferred_payment_method(
            session,
            customer=customer,
            method=method,
            now=page.runtime.clock.now(),
            origin=origin_of(page.request, page.runtime.settings),
        )
    return _done(next_path, "payment_saved")
