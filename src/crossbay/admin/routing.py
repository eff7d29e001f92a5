"""How every back-office route is guarded, in one place.

Each route is registered with the action it performs (``Action``) or, for the sign-in pages
only, ``PUBLIC``. Before the handler runs, the route class signs the staff member in from the
session cookie, checks the action against the permission table, and checks the CSRF token of
every POST; failures become pages (or a redirect to sign in), never a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from crossbay.admin import staff as staff_service
from crossbay.admin.audit import StaffActor
from crossbay.admin.errors import StaffForbidden, StaffSignInRequired
from crossbay.admin.models import StaffAccount
from crossbay.admin.permissions import Action, allowed
from crossbay.admin.rendering import ADMIN_CSRF_COOKIE, STAFF_COOKIE, AdminPage, clear_admin_cookie
from crossbay.api.deps import client_ip
from crossbay.api.problems import TITLES
from crossbay.db import transaction
from crossbay.errors import CrossbayError, ValidationFailed
from crossbay.i18n import translate
from crossbay.runtime import Runtime
from crossbay.web.messages import WEB_TITLES
from crossbay.web.pages import BadCsrfToken
from crossbay.web.security import csrf_valid, safe_next

log = logging.getLogger("crossbay.admin")

PUBLIC: Final = None
PERMISSION_KEY = "x-staff-permission"


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _staff_from_cookie(request: Request, runtime: Runtime) -> StaffAccount | None:
    token = request.cookies.get(STAFF_COOKIE)
    if not token:
        return None
    with runtime.sessions() as session, transaction(session):
        staff = staff_service.authenticate(
            session, token=token, settings=runtime.settings, now=runtime.clock.now()
        )
        if staff is not None:
            session.expunge(staff)
    return staff


async def _check_csrf(request: Request, runtime: Runtime) -> None:
    form = await request.form()  # parsed once; the handler's Form() parameters read the same copy
    token = form.get("csrf")
    if not csrf_valid(
        runtime.settings, request.cookies.get(ADMIN_CSRF_COOKIE), token if isinstance(token, str) else None
    ):
        raise BadCsrfToken()


def error_page(request: Request, error: CrossbayError) -> Response:
    page = AdminPage.of(request)
    # Error titles are shared with the API and customer pages, and translated in their catalog.
    title = translate(
        page.language, TITLES.get(error.code) or WEB_TITLES.get(error.code) or TITLES["internal_error"]
    )
    detail = page._(error.errors[0].message) if error.errors else None
    response = page.render(
        "error.html", status=error.status, title=title, code=error.code, detail=detail, request_id=None
    )
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _to_sign_in(request: Request) -> Response:
    if request.method != "GET":
        return error_page(request, StaffSignInRequired())
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = redirect("/admin/signin?" + urlencode({"next": wanted}))
    if request.cookies.get(STAFF_COOKIE):
        clear_admin_cookie(response, request.app.state.runtime.settings, STAFF_COOKIE)
    return response


class AdminRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if PERMISSION_KEY not in (self.openapi_extra or {}):
            # A route that forgot its permission would be public: refuse to start instead.
            raise TypeError(f"admin route {path} declares no permission (use routing.get/post)")

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        action: Action | None = (self.openapi_extra or {}).get(PERMISSION_KEY)

        async def guarded(request: Request) -> Response:
            runtime: Runtime = request.app.state.runtime
            try:
                if action is not None:
                    staff = _staff_from_cookie(request, runtime)
                    if staff is None:
                        return _to_sign_in(request)
                    request.state.staff = staff
                    if not allowed(staff.role, action):
                        raise StaffForbidden()
                if request.method == "POST":
                    await _check_csrf(request, runtime)
                return await handler(request)
            except CrossbayError as error:
                return error_page(request, error)
            except RequestValidationError:
                return error_page(request, ValidationFailed())
            except Exception:
                request_id = getattr(request.state, "request_id", "-")
                log.exception("admin page failed", extra={"request_id": request_id, "route": self.path})
                page = AdminPage.of(request)
                return page.render(
                    "error.html",
                    status=500,
                    title=translate(page.language, TITLES["internal_error"]),
                    code="internal_error",
                    detail=None,
                    request_id=request_id,
                )

        return guarded


router = APIRouter(prefix="/admin", include_in_schema=False, route_class=AdminRoute)


def get(path: str, action: Action | None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A page; ``action`` is required so no route can forget to declare its permission."""
    return router.api_route(path, methods=["GET"], openapi_extra={PERMISSION_KEY: action})


def post(path: str, action: Action | None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return router.api_route(path, methods=["POST"], openapi_extra={PERMISSION_KEY: action})


def current_staff(request: Request) -> StaffAccount:
    staff: StaffAccount | None = getattr(request.state, "staff", None)
    if staff is None:  # only a PUBLIC route could get here, and none of them asks for the staff member
        raise StaffSignInRequired()
    return staff


def current_actor(request: Request) -> StaffActor:
    return StaffActor(current_staff(request), client_ip(request))


def get_page(request: Request) -> AdminPage:
    return AdminPage.of(request)


StaffDep = Annotated[StaffAccount, Depends(current_staff)]
ActorDep = Annotated[StaffActor, Depends(current_actor)]
AdminPageDep = Annotated[AdminPage, Depends(get_page)]


def next_path(value: str | None) -> str:
    """Back to where the staff member was going, if it is a back-office page."""
    chosen = safe_next(value)
    return chosen if chosen and chosen.startswith("/admin") else "/admin"
