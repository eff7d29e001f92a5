"""The customer web app in a real browser: `crossbay demo` driven by Chromium through Playwright.

Every screen is saved to var/screenshots/ so a person can look at what a customer sees.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.browsing import (
    ACTIVATION_CODE,
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


def test_new_customer_buys_and_installs_an_esim_on_a_phone(browser: Browser, base_url: str) -> None:
    context = new_context(browser, base_url, PHONE, locale="zh-HK")
    page = context.new_page()
    phone = new_phone()

    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hant")
    expect(page.get_by_role("heading", level=1)).to_contain_text("香港")
    expect(page.locator(".package .price").first).to_contain_text("HK$")
    screenshot(page, 1, "landing")

    page.get_by_role("link", name="登入或建立帳戶").click()
    expect(page).to_have_url(re.compile(r"/signin$"))
    sign_in(page, base_url, phone, send="發送驗證碼", submit="登入", shots=(2, 3))

    expect(page).to_have_url(re.compile(r"/identity$"))
    screenshot(page, 4, "identity")
    register_identity(page, bad_first=True)

    expect(page).to_have_url(re.compile(r"/buy$"))
    screenshot(page, 6, "buy")
    page.get_by_role("link", name="選擇").first.click()

    expect(page).to_have_url(re.compile(r"/checkout\?package="))
    expect(page.locator(".lines .total")).to_contain_text("HK$")
    screenshot(page, 7, "checkout")
    # The customer has bound no method: card is preselected.
    expect(page.get_by_role("radio", name="信用卡")).to_be_checked()
    page.get_by_role("button", name=re.compile(r"^付款 HK\$")).click()

    expect(page).to_have_url(re.compile(r"/sandbox/pay/card/"))
    screenshot(page, 8, "cashier")
    page.get_by_role("button", name=re.compile("批准付款|Approve")).click()

    expect(page).to_have_url(re.compile(r"/orders/ord_"))
    install = page.get_by_role("link", name="安裝你的 eSIM")
    expect(install).to_be_visible(timeout=FULFILMENT_TIMEOUT_MS)
    expect(page.locator(".timeline li").last).to_contain_text("數據已加到你的 eSIM")
    screenshot(page, 9, "order-fulfilled")
    install.click()

    expect(page).to_have_url(re.compile(r"/esims/esim_"))
    page.wait_for_function(
        "() => { const img = document.querySelector('figure.qr img');"
        " return img !== null && img.complete && img.naturalWidth > 0; }"
    )
    assert ACTIVATION_CODE.match(page.locator("#activation-code").input_value())
    expect(page.locator(".bundle")).to_have_count(1)
    screenshot(page, 10, "esim")

    page.get_by_role("link", name="返回我的帳戶").click()
    expect(page).to_have_url(re.compile(r"/home$"))
    expect(page.locator(".esim")).to_have_count(1)
    expect(page.locator(".balance .amount")).to_contain_text("HK$")
    screenshot(page, 11, "home")

    page.get_by_role("link", name="增值", exact=True).first.click()
    expect(page).to_have_url(re.compile(r"/esims/esim_\w+/topup$"))
    screenshot(page, 12, "topup")
    page.get_by_role("link", name="澳門", exact=True).click()
    expect(page).to_have_url(re.compile(r"/topup\?region=mo$"))
    expect(page.locator(".package .chips").first).to_contain_text("澳門")
    context.close()


def test_landing_and_home_in_english_on_a_desktop(browser: Browser, base_url: str) -> None:
    context = new_context(browser, base_url, DESKTOP, locale="zh-HK")
    page = context.new_page()

    page.goto("/?lang=en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "One eSIM for Hong Kong, Macau and mainland China"
    )
    screenshot(page, 21, "landing-en")

    # The choice is remembered: the next page is English without ?lang=, despite a Chinese browser.
    page.get_by_role("link", name="Sign in or create an account").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    sign_in(page, base_url, new_phone(), send="Send code", submit="Sign in")
    expect(page).to_have_url(re.compile(r"/identity$"))

    page.goto("/home")
    expect(page.get_by_role("heading", level=1)).to_have_text("My account")
    expect(page.get_by_text("Complete real-name registration before buying a new eSIM.")).to_be_visible()
    screenshot(page, 22, "home-en")

    page.locator("a[hreflang=zh-Hans]").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.get_by_role("heading", level=1)).to_have_text("我的账户")
    screenshot(page, 23, "home-zh-Hans")
    context.close()


def test_the_journey_works_with_javascript_off(browser: Browser, base_url: str) -> None:
    context = new_context(browser, base_url, PHONE, locale="en-GB", javascript=False)
    page = context.new_page()

    # Choosing a package first: sign-in and real-name registration are detours that come back to it.
    page.goto("/")
    page.get_by_role("link", name="Choose").first.click()
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Fcheckout%3Fpackage%3Dpkg_"))
    sign_in(page, base_url, new_phone(), send="Send code", submit="Sign in")
    expect(page).to_have_url(re.compile(r"/identity\?next="))
    register_identity(page)
    expect(page).to_have_url(re.compile(r"/checkout\?package=pkg_"))
    page.get_by_role("button", name=re.compile(r"^Pay HK\$")).click()
    page.get_by_role("button", name=re.compile("Approve")).click()

    # Only <meta http-equiv="refresh"> can move this page on: there is no script to do it.
    expect(page).to_have_url(re.compile(r"/orders/ord_"))
    expect(page.get_by_role("link", name="Install your eSIM")).to_be_visible(timeout=FULFILMENT_TIMEOUT_MS)
    expect(page.locator("meta[http-equiv=refresh]")).to_have_count(0)
    screenshot(page, 31, "order-fulfilled-nojs")
    page.get_by_role("link", name="Install your eSIM").click()
    assert ACTIVATION_CODE.match(page.locator("#activation-code").input_value())
    # Without scripts the copy button stays hidden and the field is there to select by hand.
    expect(page.get_by_role("button", name="Copy")).to_be_hidden()
    context.close()
