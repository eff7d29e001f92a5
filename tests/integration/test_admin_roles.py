"""The role matrix: every back-office route × every role is allowed or refused exactly as the table says."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute

from crossbay.admin.permissions import PERMISSIONS, Action, Role
from crossbay.admin.routing import PERMISSION_KEY, router
from crossbay.app import create_app
from tests.conftest import LiveServer
from tests.support.staff import StaffClient, make_staff, sign_in_staff

PUBLIC_PATHS = {"/admin/signin", "/admin/static/admin.css"}


def admin_routes() -> list[tuple[str, str, Action | None]]:
    found = []
    for route in router.routes:
        assert isinstance(route, APIRoute)
        assert route.openapi_extra is not None and PERMISSION_KEY in route.openapi_extra, route.path
        for method in sorted(route.methods):
            found.append((method, route.path, route.openapi_extra[PERMISSION_KEY]))
    # Sign-out last: it ends the session the rest of the matrix uses.
    return sorted(found, key=lambda r: (r[1] == "/admin/signout", r[1], r[0]))


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "nope_0000", path)


def _routes_of(routes: list[Any]) -> list[APIRoute]:
    """The app's routes, looking inside routers FastAPI includes lazily."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif (included := getattr(route, "original_router", None)) is not None:
            found += _routes_of(included.routes)
    return found


def test_every_admin_route_of_the_app_declares_a_permission(server: LiveServer) -> None:
    app = create_app(server.runtime)
    mounted = {
        (method, route.path)
        for route in _routes_of(list(app.routes))
        if route.path.startswith("/admin")
        for method in route.methods
    }
    declared = {(method, path) for method, path, _ in admin_routes()}
    assert mounted == declared
    public = {path for _, path, action in admin_routes() if action is None}
    assert public == PUBLIC_PATHS


def test_the_table_names_every_action_and_only_known_roles() -> None:
    assert set(PERMISSIONS) == set(Action)
    assert all(roles <= set(Role) and roles for roles in PERMISSIONS.values())
    assert all(Role.ADMIN in roles for roles in PERMISSIONS.values())


def _call(client: StaffClient, method: str, path: str) -> tuple[int, str, str]:
    response = client.get(path) if method == "GET" else client.post(path)
    return response.status_code, response.headers.get("location", ""), response.text


@pytest.mark.parametrize("role", [role.value for role in Role])
def test_role_matrix(server: LiveServer, role: str) -> None:
    client = sign_in_staff(server.url, server.runtime, make_staff(server.runtime, role))
    outcomes = []
    with client:
        for method, path, action in admin_routes():
            if action is None:
                continue
            status, location, body = _call(client, method, concrete(path))
            refused = status == 403 and "staff_forbidden" in body
            # Signing out is the one action that answers with the sign-in page.
            signed_out = status == 401 or (location.startswith("/admin/signin") and path != "/admin/signout")
            outcomes.append((method, path, role in PERMISSIONS[action], refused, signed_out, status))
    for method, path, allowed, refused, signed_out, status in outcomes:
        assert not signed_out, f"{role} {method} {path}: sent to sign in ({status})"
        assert status < 500, f"{role} {method} {path}: {status}"
        assert refused != allowed, f"{role} {method} {path}: allowed={allowed} but got {status}"


def test_unauthenticated_requests_are_sent_to_sign_in_or_refused(server: LiveServer) -> None:
    import httpx

    with httpx.Client(base_url=server.url, timeout=60) as anonymous:
        for method, path, action in admin_routes():
            if action is None:
                continue
            if method == "GET":
                response = anonymous.get(concrete(path))
                assert response.status_code == 303, path
                assert response.headers["location"].startswith("/admin/signin?next="), path
            else:
                response = anonymous.post(concrete(path), data={})
                assert response.status_code == 401, path
        assert anonymous.get("/admin/signin").status_code == 200
