"""Sign-in pages: phone → SMS code → session cookie; and sign-out."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from crossbay.api.deps import SessionDep, client_ip
from crossbay.audit.http import origin_of
from crossbay.audit.origin import DEVICE_COOKIE, DEVICE_COOKIE_SECONDS
from crossbay.db import transaction
from crossbay.errors import CrossbayError
from crossbay.identity import service as identity
from crossbay.identity.phones import mask_phone, normalize_phone
from crossbay.web.pages import CsrfChecked, PageDep, PageRoute, problem_text, redirect
from crossbay.web.rendering import Page
from crossbay.web.security import (
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    SIGNIN_PATH,
    SignInState,
    clear_cookie,
    clear_session_cookies,
    safe_next,
    set_cookie,
    set_session_cookies,
)

router = APIRouter(route_class=PageRoute)


def _remember(response: Response, page: Page, state: SignInState) -> None:
    settings = page.runtime.settings
    expires = page.runtime.clock.now() + timedelta(seconds=settings.otp_ttl_seconds)
    set_cookie(
        response,
        settings,
        SIGNIN_COOKIE,
        state.to_cookie(settings, expires_at=expires),
        max_age=settings.otp_ttl_seconds,
        path=SIGNIN_PATH,
    )


def _state(page: Page) -> SignInState | None:
    return SignInState.from_cookie(
        page.runtime.settings, page.request.cookies.get(SIGNIN_COOKIE), now=page.runtime.clock.now()
    )


def _code_form(
    page: Page, state: SignInState, *, error: str | None = None, status: int = 200, resent: bool = False
) -> Response:
    return page.render(
        "signin_code.html", status=status, phone=mask_phone(state.phone), error=error, resent=resent
    )


@router.get("/signin")
def signin_form(page: PageDep, next: Annotated[str | None, Query()] = None) -> Response:
    return page.render("signin.html", phone="", error=None, next=safe_next(next))


@router.post("/signin", dependencies=[CsrfChecked])
def send_code(
    request: Request,
    page: PageDep,
    session: SessionDep,
    phone: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    if password:
        # Enter in the password field submits with the form's first button: the password was meant.
        return sign_in_with_password(page, session, phone=phone, password=password, next=next)
    settings = page.runtime.settings
    try:
        normalized = normalize_phone(phone[:32])
        with transaction(session):
            issued = identity.request_otp(
                session,
                phone=normalized,
                ip=client_ip(request),
                language=page.language,
                settings=settings,
                now=page.runtime.clock.now(),
            )
    except CrossbayError as error:
        return page.render(
            "signin.html",
            status=error.status,
            phone=phone[:32],
            error=problem_text(page, error),
            next=safe_next(next),
        )
    response = redirect("/signin/code")
    _remember(response, page, SignInState(normalized, issued.challenge_id, safe_next(next)))
    return response


@router.get("/signin/code")
def code_form(page: PageDep, sent: Annotated[str | None, Query()] = None) -> Response:
    state = _state(page)
    if state is None:
        return redirect("/signin")
    return _code_form(page, state, resent=sent == "again")


@router.post("/signin/code", dependencies=[CsrfChecked])
def check_code(page: PageDep, session: SessionDep, code: Annotated[str, Form()] = "") -> Response:
    state = _state(page)
    if state is None:
        return redirect("/signin")
    settings, now = page.runtime.settings, page.runtime.clock.now()
    # This browser's device id (see crossbay.audit.origin): made at its first sign-in, kept after.
    device = page.request.cookies.get(DEVICE_COOKIE) or secrets.token_urlsafe(24)
    try:
        with transaction(session):
            tokens = identity.sign_in_with_code(
                session,
                phone=state.phone,
                challenge_id=state.challenge_id,
                code=code.strip()[:16],
                language=page.language,
                settings=settings,
                now=now,
                origin=origin_of(page.request, settings, device_cookie=device),
            )
    except CrossbayError as error:
        return _code_form(page, state, error=problem_text(page, error), status=error.status)
    return _signed_in(page, tokens, device=device, next=state.next)


def _signed_in(page: Page, tokens: identity.Tokens, *, device: str, next: str | None) -> Response:
    settings = page.runtime.settings
    # A first sign-in registers the customer, who has no real-name record yet: ask for it straight away.
    if tokens.new_customer:
        destination = "/identity?" + urlencode({"next": next}) if next else "/identity"
    else:
        destination = next or "/home"
    response = redirect(destination)
    set_session_cookies(
        response, settings, access_token=tokens.access_token, refresh_token=tokens.refresh_token
    )
    set_cookie(response, settings, DEVICE_COOKIE, device, max_age=DEVICE_COOKIE_SECONDS)
    clear_cookie(response, settings, SIGNIN_COOKIE, path=SIGNIN_PATH)
    return response


@router.post("/signin/password", dependencies=[CsrfChecked])
def sign_in_with_password(
    page: PageDep,
    session: SessionDep,
    phone: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """For customers who set a login password: no SMS needed. Same answer for an unknown phone."""
    settings, now = page.runtime.settings, page.runtime.clock.now()
    device = page.request.cookies.get(DEVICE_COOKIE) or secrets.token_urlsafe(24)
    try:
        with transaction(session):
            tokens = identity.sign_in_with_password(
                session,
                phone=normalize_phone(phone[:32]),
                password=password[:128],
                settings=settings,
                now=now,
                origin=origin_of(page.request, settings, device_cookie=device),
            )
    except CrossbayError as error:
        return page.render(
            "signin.html",
            status=error.status,
            phone=phone[:32],
            error=None,
            password_error=problem_text(page, error),
            next=safe_next(next),
        )
    return _signed_in(page, tokens, device=device, next=safe_next(next))


@router.post("/signin/resend", dependencies=[CsrfChecked])
def resend_code(request: Request, page: PageDep, session: SessionDep) -> Response:
    state = _state(page)
    if state is None:
        return redirect("/signin")
    try:
        with transaction(session):
            issued = identity.request_otp(
                session,
                phone=state.phone,
                ip=client_ip(request),
                language=page.language,
                settings=page.runtime.settings,
                now=page.runtime.clock.now(),
            )
    except CrossbayError as error:
        return _code_form(page, state, error=problem_text(page, error), status=error.status)
    response = redirect("/signin/code?sent=again")
    _remember(response, page, SignInState(state.phone, issued.challenge_id, state.next))
    return response


@router.post("/signout", dependencies=[CsrfChecked])
def sign_out(page: PageDep, session: SessionDep) -> Response:
    token = page.request.cookies.get(SESSION_COOKIE)
    if token:
        with transaction(session):
            identity.logout(session, access_token=token, now=page.runtime.clock.now())
    response = redirect("/")
    clear_session_cookies(response, page.runtime.settings)
    return response
