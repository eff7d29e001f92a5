"""The staff flows of the back office in Chromium, end to end through the real pages of `crossbay demo`:
create a coupon (catalog), refund an order (finance), answer a ticket (support). Each staff member is
made with `crossbay staff add` and signs in with password + TOTP; the result is checked where the
customer sees it. Screenshots at 1280×800 and 390×844 go to var/screenshots/ (numbers 110-132)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.browsing import DESKTOP, PHONE, new_context, screenshot
from tests.browser.test_admin_browser import PASSWORD, Staff, staff_add
from tests.support.journey import (
    Customer,
    buy,
    first_package,
    poll,
    register_identity,
    sign_in,
    wait_fulfilled,
)
from tests.support.servers import Deployment, demo_on_sqlite

pytestmark = pytest.mark.browser


@dataclass
class Shop:
    url: str
    deployment: Deployment
    http: httpx.Client
    customer: Customer


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    with demo_on_sqlite() as (deployment, process), httpx.Client(base_url=process.url, timeout=60) as http:
        assert process.url is not None
        customer = sign_in([http])
        register_identity(customer)
        yield Shop(process.url, deployment, http, customer)


def signed_in(
    browser: Browser, shop: Shop, tmp_path: Path, role: str, viewport: dict[str, int], shot: int, start: str
) -> Page:
    """A fresh browser signing in as a new staff member of ``role``, landing on ``start``."""
    staff: Staff = staff_add(
        shop.deployment, f"{role}.{shot}@staff.crossbay.test", role, tmp_path / f"qr-{shot}.svg"
    )
    page = new_context(browser, shop.url, viewport, locale="zh-HK").new_page()
    page.goto(start)
    expect(page).to_have_url(re.compile(r"/admin/signin\?next="))
    page.get_by_label("電郵").fill(staff.email)
    page.get_by_label("密碼").fill(PASSWORD)
    page.get_by_label("驗證器代碼").fill(staff.code())
    screenshot(page, shot, f"staff-signin-{role}")
    page.get_by_role("button", name="登入").click()
    expect(page).to_have_url(re.compile(re.escape(start) + "$"))
    return page


@pytest.mark.parametrize(("viewport", "shot", "code"), [(DESKTOP, 110, "WEEKEND15"), (PHONE, 120, "PHONE15")])
def test_catalog_creates_a_coupon_generates_codes_and_exports_them(
    browser: Browser, shop: Shop, tmp_path: Path, viewport: dict[str, int], shot: int, code: str
) -> None:
    page = signed_in(browser, shop, tmp_path, "catalog", viewport, shot, "/admin/promotions")
    expect(page.get_by_role("heading", level=1)).to_have_text("推廣優惠")
    screenshot(page, shot + 1, "admin-promotions")

    page.get_by_role("link", name="新增優惠券").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("新增優惠券")
    page.get_by_label("名稱（繁體中文）").fill("週末優惠")
    page.get_by_label("名稱（英文）").fill("Weekend deal")
    page.get_by_label("說明（繁體中文）").fill("週末訂購減 HK$15，消費滿 HK$100 可用。")
    page.get_by_label("減免固定金額").check()
    page.get_by_label("減免金額或上限（HKD）").fill("15")
    page.get_by_label("最低消費（HKD）").fill("100")
    page.get_by_label("總使用次數（留空即不限）").fill("50")
    page.get_by_label("每位客戶使用次數（留空即不限）").fill("1")
    page.get_by_label(re.compile("^通用優惠碼")).fill(code.lower())
    screenshot(page, shot + 2, "admin-coupon-form")
    page.get_by_role("button", name="建立優惠券").click()

    expect(page).to_have_url(re.compile(r"/admin/promotions/promo_[0-9a-f]+\?done=created$"))
    expect(page.locator(".flash")).to_have_text("已建立推廣。")
    expect(page.get_by_role("heading", level=1)).to_contain_text("週末優惠")
    expect(page.locator("ul.terms")).to_contain_text("減 HK$15.00")
    expect(page.locator("ul.terms")).to_contain_text("最低消費 HK$100.00")

    page.get_by_label("數量").fill("20")
    page.get_by_label("前綴（可選）").fill("wk")
    page.get_by_role("button", name="產生優惠碼").click()
    expect(page.locator(".flash")).to_have_text("已產生 20 個優惠碼。")
    expect(page.locator("table.codes tbody tr")).to_have_count(21)
    screenshot(page, shot + 3, "admin-coupon-created")

    with page.expect_download() as download:
        page.get_by_role("link", name="匯出全部優惠碼（CSV）").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    codes = {row["code"] for row in rows}
    assert len(rows) == 21 and code in codes
    assert sum(c.startswith("WK") and len(c) == 12 for c in codes) == 20

    # The customer sees the new offer with its code, in their language.
    offers = shop.customer.get("/api/v1/promotions", params={"lang": "en"}).json()["items"]
    assert [o["code"] for o in offers if o.get("code") == code] == [code]

    page.get_by_role("link", name="← 所有推廣").click()
    row = page.locator("tr", has_text="週末優惠").first
    expect(row).to_contain_text(code)
    expect(row).to_contain_text("0 / 50")
    page.goto("/admin/promotions?lang=en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Promotions")
    expect(page.locator("tr", has_text="Weekend deal").first).to_contain_text("HK$15.00 off")
    screenshot(page, shot + 4, "admin-promotions-en")
    page.context.close()


def test_finance_refunds_an_order_and_sees_it_refunded(browser: Browser, shop: Shop, tmp_path: Path) -> None:
    package = first_package(shop.customer, "new_esim")
    order = wait_fulfilled(shop.customer, buy(shop.customer, package["id"])["id"])
    page = signed_in(browser, shop, tmp_path, "finance", DESKTOP, 130, "/admin/orders")

    page.get_by_role("link", name=order["id"]).click()
    expect(page).to_have_url(re.compile(rf"/admin/orders/{order['id']}$"))
    expect(page.locator("h1 .badge")).to_have_text("已完成")
    page.get_by_label("原因（會記錄）").fill("客人行程取消")
    screenshot(page, 131, "admin-refund-form")
    page.get_by_role("button", name=re.compile("^退款 HK\\$")).click()
    expect(page.locator(".flash")).to_contain_text("已要求退款")

    # The worker gives the money back through the card sandbox; the order page then says so.
    poll(
        lambda: shop.customer.get(f"/api/v1/orders/{order['id']}").json()["status"],
        lambda status: status == "refunded",
        timeout=60,
    )
    page.reload()
    expect(page.locator("h1 .badge")).to_have_text("已退款")
    expect(page.get_by_role("button", name=re.compile("^退款"))).to_have_count(0)
    screenshot(page, 132, "admin-refunded")
    page.context.close()


@pytest.mark.parametrize(("viewport", "shot"), [(DESKTOP, 117), (PHONE, 125)])
def test_support_answers_a_ticket_and_the_customer_reads_it(
    browser: Browser, shop: Shop, tmp_path: Path, viewport: dict[str, int], shot: int
) -> None:
    subject = f"充值未到帳 #{shot}"
    opened = shop.customer.post(
        "/api/v1/tickets", json={"subject": subject, "body": "我昨晚增值了，但未見數據。"}
    )
    assert opened.status_code == 201, opened.text
    ticket_id = opened.json()["id"]
    page = signed_in(browser, shop, tmp_path, "support", viewport, shot, "/admin/tickets")

    row = page.locator("tr", has_text=subject)
    expect(row).to_contain_text("待處理")
    screenshot(page, shot + 1, "admin-tickets")
    row.get_by_role("link", name=ticket_id).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(subject)
    answer = "你好，增值已經完成，請重新開啟流動數據。"
    page.get_by_label("回覆").fill(answer)
    page.get_by_role("button", name="發送回覆").click()

    expect(page.locator("ol.timeline li").last).to_contain_text(answer)
    expect(page.locator("h1 .badge")).to_have_text("等待客戶回覆")
    screenshot(page, shot + 2, "admin-ticket-answered")

    thread = shop.customer.get(f"/api/v1/tickets/{ticket_id}").json()
    assert thread["status"] == "waiting_for_customer"
    assert [m["author"] for m in thread["messages"]] == ["customer", "staff"]
    assert thread["messages"][-1]["body"] == answer
    page.context.close()
