"""Notifications, reminder settings and auto-renew in Chromium on a phone, without JavaScript,
in Traditional Chinese and in English: the network reports usage, the demo's worker sends the
reminder on its next minute, the header counts it, and the customer reads it and sets reminders.
The English pages are checked with axe-core too."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.a11y import assert_accessible
from tests.browser.accounts import MB, customer_with_esim, signed_in
from tests.browser.browsing import DESKTOP, PHONE, screenshot
from tests.support import sensitive
from tests.support.journey import Customer, poll

pytestmark = pytest.mark.browser

PASSWORD = "kowloon-ferry-lantern-7"
PIN = "583016"


def with_pin(customer: Customer) -> None:
    sensitive.register(PASSWORD, PIN)
    put = customer.client().put
    assert (
        put("/api/v1/me/password", json={"new_password": PASSWORD}, headers=customer.auth()).status_code
        == 204
    )
    pin = put("/api/v1/me/payment-pin", json={"pin": PIN, "password": PASSWORD}, headers=customer.auth())
    assert pin.status_code == 204, pin.text


def low_data_reminder(base_url: str, customer: Customer, esim: dict[str, Any]) -> None:
    """80% of the 10 GB starter used; the demo's reminder sweep runs once a minute."""
    sent = httpx.post(
        f"{base_url}/sandbox/network/usage", json={"iccid": esim["iccid"], "data_bytes": 8192 * MB}
    )
    assert sent.status_code == 200 and sent.json()["results"][0]["result"] == "rated", sent.text
    poll(
        lambda: customer.get("/api/v1/me/notifications").json()["unread_count"],
        lambda unread: unread == 1,
        timeout=90,
    )


def test_notifications_reminders_and_auto_renew_pages(browser: Browser, base_url: str) -> None:
    customer, esim = customer_with_esim(base_url)
    with_pin(customer)
    low_data_reminder(base_url, customer, esim)

    context = signed_in(browser, base_url, customer, PHONE, locale="zh-HK", javascript=False)
    page = context.new_page()
    page.goto("/home")
    inbox = page.locator("a.inbox-link")
    expect(inbox.locator(".count-badge")).to_contain_text("1")
    inbox.click()
    expect(page).to_have_url(re.compile(r"/notifications$"))
    expect(page.locator(".notification-title")).to_contain_text("您的套餐即將用完")
    expect(page.locator(".notification").first).to_contain_text("剩餘 20%")
    screenshot(page, 140, "notifications-zh-Hant")
    page.get_by_role("button", name="標為已讀", exact=True).click()
    expect(page.locator(".notification-unread")).to_have_count(0)
    expect(page.locator("a.inbox-link .count-badge")).to_have_count(0)

    page.goto("/home")
    page.get_by_role("link", name="提醒設定").click()
    expect(page).to_have_url(re.compile(r"/account/reminders$"))
    expect(page.get_by_label("套餐剩餘以下用量時提醒我")).to_have_value("20")
    page.get_by_label("套餐剩餘以下用量時提醒我").select_option("30")
    page.get_by_label("錢包餘額低於以下金額時提醒我（港幣）").fill("八十")
    page.get_by_label("接收提醒的電郵地址（選填）").fill("not-an-address")
    page.get_by_role("button", name="儲存").click()
    # Both problems at once, each beside its field, and what was typed is kept.
    expect(page.locator(".field-error")).to_have_count(2)
    expect(page.get_by_role("alert")).to_have_text(
        ["請以整數港元輸入金額", "請輸入電郵地址，例如 name@example.com"]
    )
    expect(page.get_by_label("錢包餘額低於以下金額時提醒我（港幣）")).to_have_value("八十")
    expect(page.get_by_label("套餐剩餘以下用量時提醒我")).to_have_value("30")
    screenshot(page, 141, "reminders-error-zh-Hant")
    page.get_by_label("錢包餘額低於以下金額時提醒我（港幣）").fill("80")
    page.get_by_label("接收提醒的電郵地址（選填）").fill("traveller@example.com")
    page.get_by_label("短訊").uncheck()
    page.get_by_role("button", name="儲存").click()
    expect(page).to_have_url(re.compile(r"/account/reminders\?saved=1$"))
    expect(page.get_by_role("status")).to_have_text("已儲存。")
    expect(page.get_by_label("短訊")).not_to_be_checked()
    screenshot(page, 142, "reminders-zh-Hant")
    saved = customer.get("/api/v1/me/reminders").json()
    assert saved["low_data_percent"] == 30 and saved["channels"] == ["email", "in_app"]
    assert saved["low_balance"]["amount"] == 8000

    page.goto(f"/esims/{esim['id']}")
    expect(page.locator(".auto-renew-line")).to_contain_text("自動續購：已關閉")
    page.locator(".auto-renew-line a").click()
    expect(page).to_have_url(re.compile(rf"/esims/{esim['id']}/auto-renew$"))
    page.locator("input[name=package_id]").nth(1).check()
    page.get_by_role("button", name="儲存").click()
    expect(page.get_by_role("alert")).to_have_text("請輸入 6 位數字支付密碼")
    page.locator("input[name=package_id]").nth(1).check()
    page.get_by_label("支付密碼").fill(PIN)
    page.get_by_role("button", name="儲存").click()
    expect(page.get_by_role("status")).to_have_text("自動續購已開啟。")
    screenshot(page, 143, "auto-renew-zh-Hant")
    assert customer.get(f"/api/v1/esims/{esim['id']}").json()["auto_renew_package_id"] is not None
    context.close()

    # English on a desktop with scripts on, so axe-core can check each page (it cannot run where scripts
    # are off): each page is seen in two languages and at both sizes.
    context = signed_in(browser, base_url, customer, DESKTOP, locale="en-GB")
    page = context.new_page()
    page.goto("/notifications?lang=en")
    expect(page.locator(".notification-title")).to_have_text("Your pack is running low")
    expect(page.get_by_role("button", name="Mark as read")).to_have_count(0)
    assert_accessible(page, "notifications-en")
    screenshot(page, 144, "notifications-en")
    page.goto("/account/reminders")
    expect(page.get_by_label("Remind me when a pack has this much left")).to_have_value("30")
    expect(page.get_by_label("Email address for reminders (optional)")).to_have_value("traveller@example.com")
    assert_accessible(page, "reminders-en")
    screenshot(page, 145, "reminders-en")
    page.goto(f"/esims/{esim['id']}")
    expect(page.locator(".auto-renew-line")).to_contain_text("Auto-renew: on")
    page.locator(".auto-renew-line a").click()
    page.get_by_label("Off: do not renew").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Auto-renew is off.")
    assert_accessible(page, "auto-renew-en")
    screenshot(page, 146, "auto-renew-en")
    context.close()
