"""How many screens a customer goes through, counted in a real browser.

A *screen* is each full page the customer has to look at or act on, counted from the page
loads Chromium makes in the tab's main frame:

- a server redirect is not a screen (the browser never shows the page it passes through);
- a page that loads itself again (the order page refreshing until fulfilment, a form shown
  again on the same address) is one screen, however many times it loads;
- every page of the payment provider's cashier together is one screen;
- the landing page, where both journeys start, counts.

A new customer, from the landing page's main button, must hold a fulfilled eSIM with its QR
code in front of them within 8 screens; a returning customer (signed in on this phone days
before: the hour-long access cookie is gone, only the 30-day refresh cookie is left) must have
topped up within 5.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Frame, Page, expect

from crossbay.web.security import REFRESH_COOKIE
from tests.browser.accounts import customer_with_esim
from tests.browser.browsing import (
    DESKTOP,
    FULFILMENT_TIMEOUT_MS,
    PHONE,
    new_context,
    register_identity,
    screenshot,
    sign_in,
)
from tests.support.journey import new_phone

pytestmark = pytest.mark.browser

NEW_CUSTOMER_LIMIT = 8
RETURNING_CUSTOMER_LIMIT = 5
CASHIER = re.compile(r"^/sandbox/pay/")


class Screens:
    """The distinct screens a tab has shown, in order (see the module's definition)."""

    def __init__(self, page: Page) -> None:
        self.shown: list[str] = []
        self._page = page
        page.on("framenavigated", self._loaded)

    def _loaded(self, frame: Frame) -> None:
        if frame != self._page.main_frame or frame.url.startswith("about:"):
            return
        path = urlsplit(frame.url).path
        screen = "cashier" if CASHIER.match(path) else path
        if not self.shown or self.shown[-1] != screen:
            self.shown.append(screen)

    def assert_at_most(self, limit: int) -> None:
        assert len(self.shown) <= limit, f"{len(self.shown)} screens (limit {limit}): {self.shown}"


def wait_for_qr(page: Page) -> None:
    page.wait_for_function(
        "() => { const img = document.querySelector('figure.qr img');"
        " return img !== null && img.complete && img.naturalWidth > 0; }"
    )


def test_a_new_customer_has_an_esim_with_its_qr_within_8_screens(browser: Browser, base_url: str) -> None:
    context = new_context(browser, base_url, PHONE, locale="zh-HK")
    page = context.new_page()
    screens = Screens(page)

    page.goto("/")
    # The main button, not a package's own: the longer way round, which most people take.
    page.get_by_role("link", name="登入或建立帳戶").click()
    sign_in(page, base_url, new_phone(), send="發送驗證碼", submit="登入")
    expect(page).to_have_url(re.compile(r"/identity$"))
    register_identity(page)
    expect(page).to_have_url(re.compile(r"/buy$"))
    page.get_by_role("link", name="選擇").first.click()
    page.get_by_role("button", name=re.compile(r"^付款 HK\$")).click()
    page.get_by_role("button", name="批准付款").click()

    expect(page).to_have_url(re.compile(r"/orders/ord_\w+(\?redirect_status=\w+)?$"))
    expect(page.locator(".status-line")).to_have_text("已完成", timeout=FULFILMENT_TIMEOUT_MS)
    # The QR is on the order page itself: no further screen to reach it.
    wait_for_qr(page)
    expect(page.get_by_role("img", name="安裝此 eSIM 的 QR 碼")).to_be_visible()
    screenshot(page, 95, "order-with-qr")
    assert screens.shown == [
        "/",
        "/signin",
        "/signin/code",
        "/identity",
        "/buy",
        "/checkout",
        "cashier",
        screens.shown[-1],
    ], screens.shown
    assert screens.shown[-1].startswith("/orders/ord_")
    screens.assert_at_most(NEW_CUSTOMER_LIMIT)
    context.close()


def test_a_returning_customer_tops_up_within_5_screens(browser: Browser, base_url: str) -> None:
    customer, esim = customer_with_esim(base_url)
    assert customer.refresh_token
    context = new_context(browser, base_url, DESKTOP, locale="en-GB")
    context.add_cookies([{"name": REFRESH_COOKIE, "value": customer.refresh_token, "url": base_url}])
    page = context.new_page()
    screens = Screens(page)

    page.goto("/")
    page.get_by_role("link", name="My account").first.click()
    expect(page).to_have_url(re.compile(r"/home$"))
    # One tap from the eSIM's gauge: the pack bought last, straight to checkout.
    page.locator(".esim a.quick-topup").click()
    expect(page).to_have_url(re.compile(rf"/checkout\?package=pkg_\w+&esim={esim['id']}$"))
    page.get_by_role("button", name=re.compile(r"^Pay HK\$")).click()
    page.get_by_role("button", name="Approve payment").click()

    expect(page).to_have_url(re.compile(r"/orders/ord_\w+(\?redirect_status=\w+)?$"))
    expect(page.locator(".status-line")).to_have_text("Done", timeout=FULFILMENT_TIMEOUT_MS)
    expect(page.get_by_text("All done. The data is on your eSIM.")).to_be_visible()
    screenshot(page, 96, "topup-done")
    assert screens.shown[:4] == ["/", "/home", "/checkout", "cashier"], screens.shown
    screens.assert_at_most(RETURNING_CUSTOMER_LIMIT)

    # And the top-up is on the card: two bundles, the gauge now counting both.
    page.goto("/home")
    expect(page.locator(".esim .gauge-left")).to_contain_text("20 GB")
    context.close()
