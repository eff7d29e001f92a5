"""Promotions in Chromium on the demo's offers (threshold tiers, WELCOME10): the offers page in two
languages, checkout with a coupon applied by a plain form (no JavaScript), payment, and "my coupons"."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.browsing import (
    DESKTOP,
    PHONE,
    new_context,
    register_identity,
    screenshot,
    sign_in,
)
from tests.support import sensitive
from tests.support.journey import new_phone

pytestmark = pytest.mark.browser


def package_priced(base_url: str, amount: int) -> str:
    items = httpx.get(f"{base_url}/api/v1/packages", params={"for": "new_esim"}).json()["items"]
    return str(next(p["id"] for p in items if p["price"]["amount"] == amount))


def test_offers_page_in_two_languages(browser: Browser, base_url: str) -> None:
    for viewport, locale, lang, shot in ((PHONE, "zh-HK", "zh-Hant", 60), (DESKTOP, "en-GB", "en", 61)):
        context = new_context(browser, base_url, viewport, locale=locale, javascript=False)
        page = context.new_page()
        page.goto("/")
        page.get_by_role("link", name="優惠" if lang == "zh-Hant" else "Offers").click()
        expect(page).to_have_url(re.compile(r"/promotions$"))
        expect(
            page.get_by_role("heading", name="滿減優惠" if lang == "zh-Hant" else "Spend more, save more")
        ).to_be_visible()
        expect(page.locator(".coupon-code", has_text="WELCOME10")).to_be_visible()
        expect(page.locator(".stacking-rule").last).to_contain_text(
            "最多一張優惠券" if lang == "zh-Hant" else "at most one coupon"
        )
        screenshot(page, shot, f"promotions-{lang}")
        context.close()


def test_checkout_with_a_coupon_without_javascript(browser: Browser, base_url: str) -> None:
    context = new_context(browser, base_url, PHONE, locale="zh-HK", javascript=False)
    page = context.new_page()
    phone = new_phone()
    sensitive.register(phone, phone[1:])
    sign_in(page, base_url, phone, send="發送驗證碼", submit="登入")
    expect(page).to_have_url(re.compile(r"/identity$"))
    register_identity(page)
    expect(page).to_have_url(re.compile(r"/buy$"))

    # HK$88: below the first tier, so checkout says how much more would save HK$10.
    page.goto(f"/checkout?package={package_priced(base_url, 8_800)}")
    expect(page.locator(".promo-hint")).to_have_text("再買 HK$12.00 即可減 HK$10.00。")
    page.get_by_label("優惠碼").fill("nosuch")
    page.get_by_role("button", name="使用").click()
    expect(page.locator("#coupon-note")).to_have_text("此優惠碼無效")
    expect(page.locator(".total")).to_have_text("HK$88.00")

    page.get_by_label("優惠碼").fill("welcome10")
    page.get_by_role("button", name="使用").click()
    expect(page).to_have_url(re.compile(r"coupon=welcome10"))
    expect(page.locator("table.lines")).to_contain_text("優惠券 WELCOME10：新客戶見面禮")
    expect(page.locator(".total")).to_have_text("HK$78.00")
    screenshot(page, 62, "checkout-coupon-zh-Hant")

    # The same checkout on a desktop, in English, with a package that also reaches a threshold tier.
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    page.goto(f"/checkout?package={package_priced(base_url, 18_800)}&coupon=WELCOME10&lang=en")
    lines = page.locator("table.lines")
    expect(lines).to_contain_text("Spend HK$100.00, save HK$10.00")
    expect(lines).to_contain_text("Coupon WELCOME10: Welcome gift")
    expect(page.locator(".total")).to_have_text("HK$168.00")
    expect(page.locator(".promo-hint")).to_have_text("Spend HK$12.00 more to save HK$25.00.")
    screenshot(page, 63, "checkout-coupon-en")

    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    page.goto(f"/checkout?package={package_priced(base_url, 8_800)}&coupon=WELCOME10&lang=zh-Hant")
    page.locator("label[for=method-card]").click()
    page.get_by_role("button", name="付款 HK$78.00").click()
    expect(page).to_have_url(re.compile(r"/sandbox/pay/card/"))
    page.get_by_role("button", name="批准付款").click()
    expect(page).to_have_url(re.compile(r"/orders/ord_\w+"))
    expect(page.locator("body")).to_contain_text("優惠券 WELCOME10")

    page.goto("/home")
    page.get_by_role("link", name=re.compile("我的優惠券")).click()
    expect(page).to_have_url(re.compile(r"/coupons$"))
    expect(page.locator(".coupon-WELCOME10, .coupon").first).to_contain_text("已使用")
    page.get_by_label("輸入優惠碼以加入優惠券").fill("travel15")
    page.get_by_role("button", name="加入").click()
    expect(page.locator(".coupon", has_text="TRAVEL15")).to_contain_text("可使用")
    screenshot(page, 64, "my-coupons-zh-Hant")
    context.close()
