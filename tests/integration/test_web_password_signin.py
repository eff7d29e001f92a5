"""Signing in on the web with the login password instead of an SMS code."""

from __future__ import annotations

import re

import httpx

from crossbay.web.security import REFRESH_COOKIE, SESSION_COOKIE
from tests.conftest import LiveServer
from tests.support import sensitive
from tests.support.journey import Customer, new_phone

PASSWORD = "harbour-lantern-92"


def form_token(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def test_a_customer_with_a_password_signs_in_without_a_code(customer: Customer, server: LiveServer) -> None:
    set_password = customer.client().put(
        "/api/v1/me/password", json={"new_password": PASSWORD}, headers=customer.auth()
    )
    assert set_password.status_code == 204
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        page = browser.get("/signin", params={"lang": "en"})
        assert "Sign in with your password instead" in page.text
        wrong = browser.post(
            "/signin/password",
            data={"csrf": form_token(page), "phone": customer.phone, "password": "not-the-password-1"},
        )
        assert wrong.status_code == 401 and 'role="alert"' in wrong.text
        assert PASSWORD not in wrong.text and "not-the-password-1" not in wrong.text
        signed_in = browser.post(
            "/signin/password",
            data={"csrf": form_token(page), "phone": customer.phone, "password": PASSWORD, "next": "/wallet"},
        )
        assert signed_in.status_code in (302, 303) and signed_in.headers["location"] == "/wallet"
        names = {c.split("=", 1)[0] for c in signed_in.headers.get_list("set-cookie")}
        assert {SESSION_COOKIE, REFRESH_COOKIE} <= names
        sensitive.register(*(browser.cookies.get(n) or "" for n in (SESSION_COOKIE, REFRESH_COOKIE)))
        assert browser.get("/wallet").status_code == 200
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        # Enter in the password field submits with the first button ("send code"): still a password sign-in.
        page = browser.get("/signin")
        entered = browser.post(
            "/signin", data={"csrf": form_token(page), "phone": customer.phone, "password": PASSWORD}
        )
        assert entered.status_code in (302, 303) and entered.headers["location"] == "/home"
        sensitive.register(*(browser.cookies.get(n) or "" for n in (SESSION_COOKIE, REFRESH_COOKIE)))


def test_an_unknown_phone_gets_the_same_answer_as_a_wrong_password(server: LiveServer, seeded: None) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        page = browser.get("/signin", params={"lang": "en"})
        unknown = browser.post(
            "/signin/password",
            data={"csrf": form_token(page), "phone": new_phone(), "password": "whatever-1"},
        )
        assert unknown.status_code == 401
        assert "Sign in with your password instead" in unknown.text
