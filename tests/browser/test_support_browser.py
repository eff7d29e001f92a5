"""Account activity and support requests in Chromium on a phone, in Traditional Chinese and in English."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.browsing import PHONE, new_context, register_identity, screenshot, sign_in
from tests.support import sensitive
from tests.support.journey import new_phone

pytestmark = pytest.mark.browser

PASSWORD = "tsim-sha-tsui-clock-88"


def test_activity_and_support_in_two_languages(browser: Browser, base_url: str) -> None:
    context = new_context(browser, base_url, PHONE, locale="zh-HK")
    page = context.new_page()
    phone = new_phone()
    sensitive.register(phone, phone[1:], PASSWORD)

    sign_in(page, base_url, phone, send="發送驗證碼", submit="登入")
    expect(page).to_have_url(re.compile(r"/identity$"))
    register_identity(page)
    page.goto("/account/password")
    page.get_by_label("新密碼", exact=True).fill(PASSWORD)
    page.get_by_label("再次輸入新密碼").fill(PASSWORD)
    page.get_by_role("button", name="儲存密碼").click()
    expect(page).to_have_url(re.compile(r"/home\?notice=password_saved$"))

    # The account page links to the activity, which lists this browser's sign-in and both changes.
    page.get_by_role("link", name="帳戶活動").click()
    expect(page).to_have_url(re.compile(r"/account/activity$"))
    items = page.locator(".activity-what")
    expect(items).to_have_text(["已設定登入密碼", "已完成實名登記", "在新裝置上登入"])
    expect(page.locator(".activity-detail").last).to_have_text("使用驗證碼")
    expect(page.locator(".activity-meta").first).to_contain_text("Chrome")
    screenshot(page, 80, "activity-zh-Hant")

    # A support request: an empty subject is refused in place, then the request and a reply.
    page.goto("/home")
    page.get_by_role("link", name="幫助與客服").click()
    expect(page.get_by_text("你暫時未有查詢")).to_be_visible()
    page.get_by_role("link", name="新查詢").click()
    page.get_by_label("有甚麼可以幫你？").fill("我買了 5GB 數據，想知道何時生效。")
    page.get_by_role("button", name="發送查詢").click()
    expect(page.locator("#subject-error")).to_have_text("請輸入主旨")
    screenshot(page, 81, "support-new-error-zh-Hant")
    page.get_by_label("主旨").fill("數據何時生效？")
    page.get_by_role("button", name="發送查詢").click()
    expect(page).to_have_url(re.compile(r"/support/tkt_\w+$"))
    expect(page.locator(".badge")).to_have_text("客服處理中")
    page.get_by_label("回覆").fill("補充：我在深圳。")
    page.get_by_role("button", name="發送回覆").click()
    expect(page.locator(".message-body")).to_have_text(
        ["我買了 5GB 數據，想知道何時生效。", "補充：我在深圳。"]
    )
    screenshot(page, 82, "support-thread-zh-Hant")
    page.get_by_role("link", name="返回客服").click()
    expect(page.locator(".ticket-list .order-what")).to_have_text(["數據何時生效？"])
    screenshot(page, 83, "support-list-zh-Hant")

    # The same pages in English.
    page.goto("/account/activity?lang=en")
    expect(page.locator(".activity-what").first).to_have_text("Login password set")
    screenshot(page, 84, "activity-en")
    page.goto("/support")
    page.locator(".ticket-list a").first.click()
    expect(page.locator(".badge")).to_have_text("Support is on it")
    expect(page.locator(".message-author").first).to_have_text("You")
    screenshot(page, 85, "support-thread-en")
    page.goto("/support/new")
    expect(page.get_by_role("heading", name="New support request")).to_be_visible()
    screenshot(page, 86, "support-new-en")
    context.close()
