"""What every customer page shares: the route class that turns failures into pages, and dependencies.

The API's exception handlers answer problem+json; a person in a browser gets a page in
their language instead, so page routes catch errors themselves (``PageRoute``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.api.problems import TITLES
from crossbay.db import transaction
from crossbay.errors import CrossbayError, ValidationFailed
from crossbay.identity import service as identity
from crossbay.identity.errors import InvalidToken
from crossbay.identity.models import Customer
from crossbay.identity.service import Tokens
from crossbay.web.messages import WAIT_SECONDS, WEB_TITLES
from crossbay.web.rendering import Page
from crossbay.web.security import (
    CSRF_COOKIE,
    REFRESH_COOKIE,
    SESSION_COOKIE,
    clear_session_cookies,
    csrf_valid,
    set_session_cookies,
)

log = logging.getLogger("crossbay.web")


class SignInRequired(Exception):
    """No valid session cookie: the page sends the browser to sign in, then back."""


class BadCsrfToken(CrossbayError):
    code = "csrf_failed"
    status = 403


def redirect(url: str) -> RedirectResponse:
    # 303: after a POST the browser follows with a GET, so a reload never resubmits the form.
    return RedirectResponse(url, status_code=303)


def clean_return(request: Request, *keep: str) -> Response | None:
    """A redirect to this page without the parameters a provider added on the way back, if it added any.

    Alipay sends the payer back with its signed trade details appended to the return URL; we
    rely on the notification instead, and the address bar (and every link made from it) stays short.
    """
    wanted = {*keep, "lang"}
    if all(name in wanted for name in request.query_params):
        return None
    kept = [(k, v) for k, v in request.query_params.multi_items() if k in wanted]
    return redirect(request.url.path + (f"?{urlencode(kept)}" if kept else ""))


def error_title(page: Page, code: str) -> str:
    message = TITLES.get(code) or WEB_TITLES.get(code) or TITLES["internal_error"]
    return page._(message)


def problem_text(page: Page, error: CrossbayError) -> str:
    """One sentence for a form: the field's own message if there is one, else the error's title."""
    if error.errors:
        return page._(error.errors[0].message)
    if error.code == "otp_resend_too_soon" and error.retry_after is not None:
        return page._(WAIT_SECONDS, title=error_title(page, error.code), seconds=error.retry_after)
    return error_title(page, error.code)


def error_page(request: Request, error: CrossbayError) -> Response:
    page = Page.of(request)
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else {}
    response = page.render(
        "error.html",
        status=error.status,
        title=error_title(page, error.code),
        code=error.code,
        request_id=None,
    )
    response.headers.update(headers)
    return response


def _internal_error_page(request: Request) -> Response:
    page = Page.of(request)
    request_id = getattr(request.state, "request_id", "-")
    return page.render(
        "error.html",
        status=500,
        title=error_title(page, "internal_error"),
        code="internal_error",
        request_id=request_id,
    )


def _to_sign_in(request: Request) -> Response:
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = redirect("/signin?" + urlencode({"next": wanted}) if request.method == "GET" else "/signin")
    if request.cookies.get(SESSION_COOKIE) or request.cookies.get(REFRESH_COOKIE):
        clear_session_cookies(response, request.app.state.runtime.settings)
    return response


class PageRoute(APIRoute):
    """A route whose failures become pages: sign-in redirects, error pages, a 500 page with the request id."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired:
                return _to_sign_in(request)
            except CrossbayError as error:
                return error_page(request, error)
            except RequestValidationError:
                # Hand-edited query strings or forms; the pages themselves never send these.
                return error_page(request, ValidationFailed())
            except Exception:
                log.exception(
                    "page failed",
                    extra={"request_id": getattr(request.state, "request_id", "-"), "route": self.path},
                )
                return _internal_error_page(request)
            renewed: Tokens | None = getattr(request.state, "renewed_tokens", None)
            if renewed is not None:
                settings = request.app.state.runtime.settings
                set_session_cookies(
                    response, settings, access_token=renewed.access_token, refresh_token=renewed.refresh_token
                )
            return response

        return guarded


def get_page(request: Request) -> Page:
    return Page.of(request)


PageDep = Annotated[Page, Depends(get_page)]


def signed_in_customer(request: Request, session: SessionDep, runtime: RuntimeDep) -> Customer:
    """The customer of this browser; an access token that ran out is renewed with the refresh cookie."""
    token, refresh = request.cookies.get(SESSION_COOKIE), request.cookies.get(REFRESH_COOKIE)
    now = runtime.clock.now()
    try:
        if token:
            try:
                with transaction(session):
                    customer = identity.authenticate(session, access_token=token, now=now)
            except InvalidToken:
                if not refresh:
                    raise
                token = None
        if not token:
            if not refresh:
                raise SignInRequired()
            with transaction(session):
                customer, renewed = identity.renew_web_session(
                    session, refresh_token=refresh, settings=runtime.settings, now=now
                )
            request.state.renewed_tokens = renewed
    except InvalidToken:
        raise SignInRequired() from None
    request.state.customer_id = customer.id
    return customer


CustomerDep = Annotated[Customer, Depends(signed_in_customer)]


async def check_csrf(request: Request, runtime: RuntimeDep) -> None:
    """Every POST form carries the token of this browser's CSRF cookie."""
    form = await request.form()
    token = form.get("csrf")
    if not csrf_valid(
        runtime.settings, request.cookies.get(CSRF_COOKIE), token if isinstance(token, str) else None
    ):
        raise BadCsrfToken()


CsrfChecked = Depends(check_csrf)
