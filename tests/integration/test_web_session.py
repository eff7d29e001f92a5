"""A returning browser keeps its session: an access cookie that ran out is renewed with the refresh cookie."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from crossbay.clock import ShiftedClock
from crossbay.identity.service import RENEWAL_RACE_SECONDS
from crossbay.web.security import REFRESH_COOKIE, SESSION_COOKIE
from tests.conftest import LiveServer
from tests.support import sensitive
from tests.support.journey import Customer


def later(server: LiveServer, seconds: float) -> None:
    clock = server.runtime.clock
    assert isinstance(clock, ShiftedClock)
    clock.offset += timedelta(seconds=seconds)


def browser(server: LiveServer, **cookies: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, cookies=cookies, timeout=30)


def returning(server: LiveServer, refresh_token: str) -> httpx.Client:
    # The access cookie is gone: browsers drop a cookie whose max-age has passed.
    return browser(server, **{REFRESH_COOKIE: refresh_token})


def session_cookies(response: httpx.Response) -> dict[str, str]:
    """The session cookies a page set, as the browser would keep them (and registered for the log check)."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name in (SESSION_COOKIE, REFRESH_COOKIE):
            found[name] = rest.split(";", 1)[0]
    sensitive.register(*found.values())
    return found


def test_a_browser_back_after_its_access_token_ran_out_is_still_signed_in(
    customer: Customer, server: LiveServer
) -> None:
    later(server, server.runtime.settings.access_token_ttl_seconds + 60)
    with returning(server, customer.refresh_token) as tab:
        home = tab.get("/home")
    assert home.status_code == 200, home.headers.get("location")
    renewed = session_cookies(home)
    assert set(renewed) == {SESSION_COOKIE, REFRESH_COOKIE}
    assert renewed[REFRESH_COOKIE] != customer.refresh_token
    with browser(server, **renewed) as tab:
        again = tab.get("/home")
        assert again.status_code == 200 and session_cookies(again) == {}  # renewed once, then served
        assert tab.get("/wallet").status_code == 200


def test_two_pages_renewing_at_once_both_stay_signed_in(customer: Customer, server: LiveServer) -> None:
    later(server, server.runtime.settings.access_token_ttl_seconds + 60)
    with (
        returning(server, customer.refresh_token) as first,
        returning(server, customer.refresh_token) as second,
    ):
        renewed = first.get("/home")
        assert renewed.status_code == 200
        assert second.get("/home").status_code == 200  # the same old cookie, an instant later
    with browser(server, **session_cookies(renewed)) as first:
        assert first.get("/wallet").status_code == 200  # and the first tab's new session still stands


def test_an_old_refresh_cookie_presented_later_ends_the_session(
    customer: Customer, server: LiveServer
) -> None:
    later(server, server.runtime.settings.access_token_ttl_seconds + 60)
    with returning(server, customer.refresh_token) as tab:
        renewed = session_cookies(tab.get("/home"))
    later(server, RENEWAL_RACE_SECONDS + 5)
    with returning(server, customer.refresh_token) as thief:
        stolen = thief.get("/home")
    assert stolen.status_code in (302, 303, 307) and "/signin" in stolen.headers["location"]
    # A rotated token used again means it leaked: the whole session family ends, the real tab's too.
    with browser(server, **renewed) as tab:
        assert tab.get("/home").status_code in (302, 303, 307)


def test_signing_out_clears_both_cookies(customer: Customer, server: LiveServer) -> None:
    with browser(server, **{SESSION_COOKIE: customer.token, REFRESH_COOKIE: customer.refresh_token}) as tab:
        home = tab.get("/home")
        form_token = re.search(r'name="csrf" value="([^"]+)"', home.text)
        assert home.status_code == 200 and form_token is not None
        signed_out = tab.post("/signout", data={"csrf": form_token.group(1)})
        assert signed_out.status_code in (302, 303)
        cleared = signed_out.headers.get_list("set-cookie")
        assert any(c.startswith(f"{SESSION_COOKIE}=") for c in cleared)
        assert any(c.startswith(f"{REFRESH_COOKIE}=") for c in cleared)
