"""The eSIM install page on a phone: the visitor's own one-tap link first, step-by-step instructions
per platform, manual entry, the history; screenshots in each language at 390×844."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.browser.browsing import (
    ACTIVATION_CODE,
    FULFILMENT_TIMEOUT_MS,
    register_identity,
    screenshot,
    sign_in,
)
from tests.support.esims import EID
from tests.support.journey import new_phone

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
)
SCREEN: ViewportSize = {"width": 390, "height": 844}
LANGUAGES = {
    "zh-Hant": ("在 iPhone 上安裝", "在 Android 手機上安裝", "逐步安裝說明"),
    "zh-Hans": ("在 iPhone 上安装", "在安卓手机上安装", "分步安装说明"),
    "en": ("Install on iPhone", "Install on Android", "Step by step"),
}


def buy_an_esim(page: Page, base_url: str) -> str:
    """Sign in, register, buy the first package by card: the eSIM page's path."""
    page.goto("/signin")
    sign_in(page, base_url, new_phone(), send="發送驗證碼", submit="登入")
    expect(page).to_have_url(re.compile(r"/identity$"))
    register_identity(page)
    expect(page).to_have_url(re.compile(r"/buy$"))
    page.get_by_role("link", name="選擇").first.click()
    page.get_by_role("button", name=re.compile(r"^付款 HK\$")).click()
    page.get_by_role("button", name=re.compile("批准付款|Approve")).click()
    install = page.get_by_role("link", name="安裝你的 eSIM")
    expect(install).to_be_visible(timeout=FULFILMENT_TIMEOUT_MS)
    install.click()
    expect(page).to_have_url(re.compile(r"/esims/esim_\w+$"))
    return re.sub(r"^https?://[^/]+", "", page.url)


def test_install_page_on_an_iphone_and_an_android_phone_in_three_languages(
    browser: Browser, base_url: str
) -> None:
    iphone = browser.new_context(base_url=base_url, viewport=SCREEN, locale="zh-HK", user_agent=IPHONE)
    iphone.set_default_timeout(15_000)
    page = iphone.new_page()
    path = buy_an_esim(page, base_url)

    for number, (language, (ios_label, android_label, steps)) in enumerate(LANGUAGES.items(), start=20):
        page.goto(f"{path}?lang={language}")
        actions = page.locator(".install .actions a")
        expect(actions).to_have_count(2)
        expect(actions.first).to_have_text(ios_label)
        assert (actions.first.get_attribute("href") or "").startswith(
            "https://esimsetup.apple.com/esim_qrcode_provisioning?carddata=LPA%3A1%24"
        )
        expect(actions.nth(1)).to_have_text(android_label)
        expect(page.get_by_role("heading", name=steps)).to_be_visible()
        # The iPhone's steps are open, Android's folded away.
        expect(page.locator("#steps-ios ol")).to_be_visible()
        expect(page.locator("#steps-android ol")).to_be_hidden()
        expect(page.locator(".timeline li")).to_have_count(2)
        page.wait_for_function(
            "() => { const img = document.querySelector('figure.qr img');"
            " return img !== null && img.complete && img.naturalWidth > 0; }"
        )
        page.locator("details.manual summary").click()
        assert page.locator("#smdp-address").input_value()
        assert page.locator("#matching-id").input_value()
        assert ACTIVATION_CODE.match(page.locator("#activation-code").input_value())
        screenshot(page, number, f"esim-install-iphone-{language}")

    android = browser.new_context(base_url=base_url, viewport=SCREEN, locale="en", user_agent=ANDROID)
    android.add_cookies(iphone.cookies())  # type: ignore[arg-type]
    other = android.new_page()
    other.goto(f"{path}?lang=en")
    actions = other.locator(".install .actions a")
    expect(actions.first).to_have_text("Install on Android")
    assert (actions.first.get_attribute("href") or "").startswith(
        "https://esimsetup.android.com/esim_qrcode_provisioning?carddata="
    )
    expect(other.locator("#steps-android ol")).to_be_visible()
    screenshot(other, 23, "esim-install-android-en")

    # The phone installs the profile: the SM-DP+ tells us, and the page says so.
    matching_id = other.locator("#matching-id").input_value()
    installed = httpx.post(f"{base_url}/sandbox/smdp/device/{matching_id}/install", json={"eid": EID})
    assert installed.status_code == 200, installed.text
    other.goto(f"{path}?lang=en")
    expect(other.get_by_text("Your eSIM is installed.")).to_be_visible()
    expect(other.locator(".install")).to_have_count(0)
    expect(other.locator(".timeline li")).to_have_count(3)
    expect(other.locator(".timeline li").last).to_contain_text("Installed")
    screenshot(other, 24, "esim-installed-en")
    android.close()
    iphone.close()
