"""A top-up with JavaScript off, in Simplified Chinese on a phone: links and plain forms all the way,
and the order page moved on by <meta http-equiv="refresh"> alone.

(Sign-in and order status without JavaScript: test_journey_browser; a coupon: test_promotions_browser.)
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.accounts import customer_with_esim, signed_in
from tests.browser.browsing import FULFILMENT_TIMEOUT_MS, PHONE, screenshot

pytestmark = pytest.mark.browser


def test_a_top_up_with_javascript_off(browser: Browser, base_url: str) -> None:
    customer, esim = customer_with_esim(base_url)
    context = signed_in(browser, base_url, customer, PHONE, locale="zh-CN", javascript=False)
    page = context.new_page()

    page.goto("/home")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    page.get_by_role("link", name="充值", exact=True).first.click()
    expect(page).to_have_url(re.compile(rf"/esims/{esim['id']}/topup$"))
    page.get_by_role("link", name="澳门", exact=True).click()
    expect(page).to_have_url(re.compile(r"/topup\?region=mo$"))
    expect(page.locator(".package .chips").first).to_contain_text("澳门")
    screenshot(page, 97, "topup-nojs-zh-Hans")
    page.get_by_role("link", name="选择", exact=True).first.click()

    expect(page).to_have_url(re.compile(rf"/checkout\?package=pkg_\w+&esim={esim['id']}$"))
    # Radios drawn as cards still work as radios without scripts.
    page.locator("label[for=method-alipay]").click()
    expect(page.get_by_role("radio", name="支付宝")).to_be_checked()
    page.get_by_role("button", name=re.compile(r"^支付 HK\$")).click()
    expect(page).to_have_url(re.compile(r"/sandbox/pay/alipay/"))
    page.get_by_role("button", name="确认付款").click()

    expect(page).to_have_url(re.compile(r"/orders/ord_\w+"))
    expect(page.get_by_role("link", name="查看您的 eSIM")).to_be_visible(timeout=FULFILMENT_TIMEOUT_MS)
    expect(page.locator(".status-line")).to_have_text("已完成")
    # Done: nothing left to refresh for.
    expect(page.locator("meta[http-equiv=refresh]")).to_have_count(0)
    screenshot(page, 98, "topup-done-nojs-zh-Hans")
    context.close()
