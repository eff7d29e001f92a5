"""Check your phone, before buying: the user agent's hint on an iPhone and an Android phone, the answer
in the visitor's language, and the plain form without JavaScript on a computer. Screenshots at 390×844
and 1280×800 in Traditional Chinese and English (numbers 32–39)."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, BrowserContext, ViewportSize, expect

from tests.browser.browsing import DESKTOP, PHONE, screenshot

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
GALAXY = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36"
)


def context(
    browser: Browser,
    base_url: str,
    viewport: dict[str, int],
    *,
    locale: str,
    user_agent: str | None = None,
    javascript: bool = True,
) -> BrowserContext:
    size: ViewportSize = {"width": viewport["width"], "height": viewport["height"]}
    made = browser.new_context(
        base_url=base_url, viewport=size, locale=locale, user_agent=user_agent, java_script_enabled=javascript
    )
    made.set_default_timeout(15_000)
    return made


def test_an_iphone_visitor_is_asked_for_the_model_and_told_it_supports_esim(
    browser: Browser, base_url: str
) -> None:
    page = context(browser, base_url, PHONE, locale="zh-HK", user_agent=IPHONE).new_page()
    page.goto("/")
    page.get_by_role("link", name="檢查你的手機").first.click()
    expect(page).to_have_url(re.compile(r"/check-phone$"))
    expect(page.get_by_role("heading", name="看來你用的是 iPhone，是哪一款？")).to_be_visible()
    expect(page.get_by_label("品牌")).to_have_value("Apple")
    screenshot(page, 32, "check-phone-iphone-zh-Hant")

    page.get_by_label("型號", exact=True).fill("iphone15 pro")
    page.get_by_role("button", name="檢查", exact=True).click()
    expect(page.get_by_role("heading", name="iPhone 15 Pro 支援 eSIM")).to_be_visible()
    expect(page.locator(".answer-notes")).to_contain_text("中國內地")
    expect(page.get_by_role("link", name="購買新 eSIM")).to_be_visible()
    screenshot(page, 33, "check-phone-supported-zh-Hant")


def test_an_android_phone_that_names_its_model_is_checked_in_one_tap(browser: Browser, base_url: str) -> None:
    page = context(browser, base_url, PHONE, locale="en", user_agent=GALAXY).new_page()
    page.goto("/check-phone?lang=en")
    expect(page.get_by_role("heading", name="Looks like a Samsung Galaxy S23 Ultra")).to_be_visible()
    expect(page.get_by_label("Brand")).to_have_value("Samsung")
    screenshot(page, 34, "check-phone-android-en")
    page.get_by_role("link", name="Check this phone").click()
    expect(page.get_by_role("heading", name="Samsung Galaxy S23 Ultra supports eSIM")).to_be_visible()
    screenshot(page, 35, "check-phone-supported-en")


def test_the_plain_form_answers_without_javascript_on_a_computer(browser: Browser, base_url: str) -> None:
    for number, (locale, language, check, model_label, unsupported, unknown) in enumerate(
        [
            ("zh-HK", "zh-Hant", "檢查", "型號", "無法使用 eSIM", "我們未能識別「Nokia 3310」"),
            ("en", "en", "Check", "Model", "cannot use an eSIM", "We don't know “Nokia 3310”"),
        ]
    ):
        page = context(browser, base_url, DESKTOP, locale=locale, javascript=False).new_page()
        page.goto(f"/buy?lang={language}")
        page.locator(".phone-check-step a").click()
        expect(page).to_have_url(re.compile(r"/check-phone$"))
        # A computer gives no hint: the form is the page.
        expect(page.locator(".device-hint")).to_have_count(0)
        page.get_by_label(model_label, exact=True).fill("A3092")
        page.get_by_role("button", name=check, exact=True).click()
        expect(page.locator(".answer-unsupported h2")).to_contain_text(unsupported)
        screenshot(page, 36 + 2 * number, f"check-phone-unsupported-{language}")
        page.get_by_label(model_label, exact=True).fill("Nokia 3310")
        page.get_by_role("button", name=check, exact=True).click()
        expect(page.locator(".answer-unknown h2")).to_have_text(unknown)
        expect(page.locator(".answer-notes")).to_contain_text("*#06#")
        screenshot(page, 37 + 2 * number, f"check-phone-unknown-{language}")
        page.context.close()
