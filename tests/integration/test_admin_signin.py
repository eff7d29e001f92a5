"""Staff sign-in: password + TOTP, replay refused, lockout, the session cookie, sign-out, disable."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from crossbay.admin import staff as staff_service
from crossbay.db import transaction
from tests.conftest import LiveServer
from tests.support.staff import PASSWORD, make_staff, sign_in_form, sign_in_staff


def _attempt(http: httpx.Client, email: str, password: str, code: str) -> httpx.Response:
    csrf = sign_in_form(http)
    return http.post("/admin/signin", data={"csrf": csrf, "email": email, "password": password, "code": code})


@pytest.fixture
def browser(server: LiveServer) -> httpx.Client:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def test_right_password_and_code_sign_in_with_a_strict_admin_cookie(server: LiveServer) -> None:
    account = make_staff(server.runtime, "support")
    client = sign_in_staff(server.url, server.runtime, account)
    with client:
        cookie = next(c for c in client.http.cookies.jar if c.name == "cb_staff")
        assert cookie.path == "/admin"
        assert cookie.has_nonstandard_attr("HttpOnly")
        home = client.get("/admin")
        assert home.status_code == 200
        assert account.email in home.text
        # The customer app never receives the staff cookie.
        assert "cb_staff" not in (client.http.get("/").request.headers.get("cookie") or "")


def test_wrong_password_wrong_code_and_unknown_email_are_refused_alike(
    server: LiveServer, browser: httpx.Client
) -> None:
    account = make_staff(server.runtime, "finance")
    now = server.runtime.clock.now()
    wrong_password = _attempt(browser, account.email, PASSWORD + "x", account.code(now))
    wrong_code = _attempt(
        browser, account.email, PASSWORD, "000000" if account.code(now) != "000000" else "111111"
    )
    unknown = _attempt(browser, "nobody@staff.crossbay.test", PASSWORD, account.code(now))
    for refused in (wrong_password, wrong_code, unknown):
        assert refused.status_code == 401
        assert "cb_staff" not in refused.headers.get("set-cookie", "")
    assert wrong_password.text.count("error") == wrong_code.text.count("error")


def test_a_used_code_cannot_sign_in_again(server: LiveServer, browser: httpx.Client) -> None:
    account = make_staff(server.runtime, "catalog")
    code = account.code(server.runtime.clock.now())
    first = _attempt(browser, account.email, PASSWORD, code)
    assert first.status_code == 303
    replayed = _attempt(browser, account.email, PASSWORD, code)
    assert replayed.status_code == 401
    # The same goes for a code of an earlier step, still inside the drift window.
    older = account.code(server.runtime.clock.now() - timedelta(seconds=30))
    assert _attempt(browser, account.email, PASSWORD, older).status_code == 401


def test_five_failures_lock_the_account_even_for_the_right_code(
    server: LiveServer, browser: httpx.Client
) -> None:
    account = make_staff(server.runtime, "admin")
    for _ in range(5):
        assert _attempt(browser, account.email, "not the password at all", "123456").status_code == 401
    locked = _attempt(browser, account.email, PASSWORD, account.code(server.runtime.clock.now()))
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    server.runtime.clock.advance(timedelta(minutes=16))  # type: ignore[attr-defined]
    assert (
        _attempt(browser, account.email, PASSWORD, account.code(server.runtime.clock.now())).status_code
        == 303
    )


def test_the_sign_in_form_needs_its_csrf_token(server: LiveServer, browser: httpx.Client) -> None:
    account = make_staff(server.runtime, "admin")
    sign_in_form(browser)
    forged = browser.post(
        "/admin/signin",
        data={"email": account.email, "password": PASSWORD, "code": account.code(server.runtime.clock.now())},
    )
    assert forged.status_code == 403


def test_idle_sessions_end_and_sign_out_ends_the_session(server: LiveServer) -> None:
    account = make_staff(server.runtime, "support")
    client = sign_in_staff(server.url, server.runtime, account)
    with client:
        assert client.get("/admin").status_code == 200
        server.runtime.clock.advance(timedelta(minutes=16))  # type: ignore[attr-defined]
        gone = client.get("/admin/orders")
        assert gone.status_code == 303 and gone.headers["location"].startswith("/admin/signin?next=")

    client = sign_in_staff(server.url, server.runtime, account_after(server, account))
    with client:
        assert client.post("/admin/signout").status_code == 303
        assert client.get("/admin").status_code == 303


def account_after(server: LiveServer, account):  # type: ignore[no-untyped-def]
    """The next sign-in needs a code of a later step than the one just used."""
    server.runtime.clock.advance(timedelta(seconds=30))  # type: ignore[attr-defined]
    return account


def test_a_disabled_account_is_signed_out_and_cannot_sign_in(
    server: LiveServer, browser: httpx.Client
) -> None:
    account = make_staff(server.runtime, "support")
    client = sign_in_staff(server.url, server.runtime, account)
    with server.runtime.sessions() as session, transaction(session):
        staff_service.disable_staff(session, email=account.email, now=server.runtime.clock.now())
    with client:
        assert client.get("/admin").status_code == 303
    server.runtime.clock.advance(timedelta(seconds=30))  # type: ignore[attr-defined]
    assert (
        _attempt(browser, account.email, PASSWORD, account.code(server.runtime.clock.now())).status_code
        == 401
    )


def test_unauthenticated_pages_redirect_and_forms_are_refused(browser: httpx.Client) -> None:
    page = browser.get("/admin/orders", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/admin/signin?next=%2Fadmin%2Forders"
    assert browser.post("/admin/signout", data={}).status_code == 401
