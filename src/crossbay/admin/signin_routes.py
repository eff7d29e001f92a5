"""Signing in and out of the back office, the dashboard, and the back office's own stylesheet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import FileResponse, Response

from crossbay.admin import audit
from crossbay.admin import staff as staff_service
from crossbay.admin.audit import StaffActor
from crossbay.admin.errors import StaffLocked, StaffSignInFailed
from crossbay.admin.permissions import Action
from crossbay.admin.rendering import STAFF_COOKIE, clear_admin_cookie, set_admin_cookie
from crossbay.admin.routing import PUBLIC, ActorDep, AdminPageDep, get, next_path, post, redirect
from crossbay.api.deps import RuntimeDep, SessionDep, client_ip
from crossbay.db import transaction

STYLESHEET = Path(__file__).parent / "static" / "admin.css"


@get("/static/admin.css", PUBLIC)
def stylesheet() -> FileResponse:
    return FileResponse(STYLESHEET, media_type="text/css", headers={"Cache-Control": "public, max-age=300"})


@get("/signin", PUBLIC)
def signin_form(page: AdminPageDep, next: Annotated[str | None, Query()] = None) -> Response:
    return page.render("signin.html", error=None, email="", next=next_path(next))


@post("/signin", PUBLIC)
def signin(
    request: Request,
    page: AdminPageDep,
    session: SessionDep,
    runtime: RuntimeDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    code: Annotated[str, Form(max_length=16)] = "",
    next: Annotated[str | None, Form()] = None,
) -> Response:
    now = runtime.clock.now()
    ip = client_ip(request)
    try:
        with transaction(session):
            signed = staff_service.sign_in(
                session,
                email=email,
                password=password,
                code=code,
                ip=ip,
                pii=runtime.pii,
                settings=runtime.settings,
                now=now,
            )
            audit.record(
                session,
                StaffActor(signed.staff, ip),
                action=audit.STAFF_SIGNED_IN,
                target=("staff", signed.staff.id),
                now=now,
            )
    except (StaffSignInFailed, StaffLocked) as error:
        message = (
            "Too many attempts, please try again later"
            if isinstance(error, StaffLocked)
            else "The email, password or code is not correct"
        )
        refused = page.render(
            "signin.html", status=error.status, error=page._(message), email=email, next=next_path(next)
        )
        if error.retry_after is not None:
            refused.headers["Retry-After"] = str(error.retry_after)
        return refused
    response = redirect(next_path(next))
    set_admin_cookie(response, runtime.settings, STAFF_COOKIE, signed.token, max_age=None)
    return response


@post("/signout", Action.DASHBOARD)
def signout(request: Request, session: SessionDep, runtime: RuntimeDep, actor: ActorDep) -> Response:
    token = request.cookies.get(STAFF_COOKIE, "")
    now = runtime.clock.now()
    with transaction(session):
        staff_service.sign_out(session, token=token, now=now)
        audit.record(session, actor, action=audit.STAFF_SIGNED_OUT, target=("staff", actor.staff.id), now=now)
    response = redirect("/admin/signin")
    clear_admin_cookie(response, runtime.settings, STAFF_COOKIE)
    return response


@get("", Action.DASHBOARD)
def dashboard(page: AdminPageDep, session: SessionDep) -> Response:
    from crossbay.orders.service import count_by_status

    with transaction(session):
        counts = count_by_status(session)
    return page.render("dashboard.html", counts=counts)
