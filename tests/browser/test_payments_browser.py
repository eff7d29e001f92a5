"""Every way to pay, in Chromium on a phone, in Traditional Chinese: card, Alipay, WeChat Pay and the wallet.

One customer buys a new eSIM with Alipay, then tops it up once with each of the four methods; the
wallet only after filling it on the wallet page and setting a payment PIN with an SMS code. Then two
more new eSIMs: WeChat Pay in renminbi, and the wallet (card is the journey test's new eSIM).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.browsing import (
    FULFILMENT_TIMEOUT_MS,
    PHONE,
    new_context,
    register_identity,
    screenshot,
    sign_in,
    sms_code,
)
from tests.support import sensitive
from tests.support.journey import new_phone

pytestmark = pytest.mark.browser

METHOD_NAMES = {"card": "信用卡", "alipay": "支付寶", "wechatpay": "微信支付", "wallet": "錢包"}
# Each sandbox cashier's own approve button, in Traditional Chinese.
APPROVE = {"card": "批准付款", "alipay": "確認付款", "wechatpay": "確認支付"}
PIN_CANDIDATES = ("731946", "582047", "904613")


def choose(page: Page, method: str) -> None:
    # The radio is drawn by its label (a card with the method's mark): tap it as a person would.
    page.locator(f"label[for=method-{method}]").click()
    expect(page.get_by_role("radio", name=METHOD_NAMES[method])).to_be_checked()


def pay_at_cashier(page: Page, method: str, shot: int | None = None) -> None:
    expect(page).to_have_url(re.compile(rf"/sandbox/pay/{method}/"))
    if shot is not None:
        screenshot(page, shot, f"cashier-{method}")
    page.get_by_role("button", name=APPROVE[method]).click()


def wait_fulfilled(page: Page, method: str, *, new_esim: bool = False) -> str:
    """Back on the order page, which refreshes itself to the end; returns the eSIM's id."""
    expect(page).to_have_url(re.compile(r"/orders/ord_\w+(\?redirect_status=\w+)?$"))
    done = page.get_by_role("link", name="安裝你的 eSIM" if new_esim else "查看你的 eSIM")
    expect(done).to_be_visible(timeout=FULFILMENT_TIMEOUT_MS)
    expect(page.locator(".status-line")).to_have_text("已完成")
    expect(page.locator(".paid-with")).to_contain_text(METHOD_NAMES[method])
    href = done.get_attribute("href")
    assert href is not None and href.startswith("/esims/esim_")
    return href.removeprefix("/esims/")


def top_up_checkout(page: Page, esim_id: str) -> None:
    page.goto(f"/esims/{esim_id}/topup")
    page.get_by_role("link", name="選擇").first.click()
    expect(page).to_have_url(re.compile(r"/checkout\?package=\w+&esim="))


def test_a_customer_pays_with_each_of_the_four_methods(browser: Browser, base_url: str) -> None:
    context = new_context(browser, base_url, PHONE, locale="zh-HK")
    page = context.new_page()
    phone = new_phone()
    sensitive.register(phone, phone[1:])
    pin = next(p for p in PIN_CANDIDATES if p not in phone)
    sensitive.register(pin)

    sign_in(page, base_url, phone, send="發送驗證碼", submit="登入")
    expect(page).to_have_url(re.compile(r"/identity$"))
    register_identity(page)
    expect(page).to_have_url(re.compile(r"/buy$"))
    page.get_by_role("link", name="選擇").first.click()

    # A new eSIM with Alipay. The wallet is offered, but an empty one cannot pay.
    expect(page).to_have_url(re.compile(r"/checkout\?package="))
    expect(page.get_by_role("radio", name="信用卡")).to_be_checked()
    expect(page.get_by_role("radio", name=re.compile("錢包"))).to_be_disabled()
    expect(page.locator("#method-wallet-why")).to_contain_text("餘額不足")
    choose(page, "alipay")
    screenshot(page, 41, "checkout-methods")
    page.get_by_role("button", name=re.compile(r"^付款 HK\$")).click()
    pay_at_cashier(page, "alipay", shot=42)
    esim_id = wait_fulfilled(page, "alipay", new_esim=True)

    # A top-up of that eSIM with each provider.
    for method, shot in (("card", 43), ("alipay", None), ("wechatpay", 44)):
        top_up_checkout(page, esim_id)
        choose(page, method)
        page.get_by_role("button", name=re.compile(r"^付款 HK\$")).click()
        pay_at_cashier(page, method, shot=shot)
        wait_fulfilled(page, method)

    # The wallet: fill it from the checkout's own hint, set a PIN by SMS code, then pay with it.
    top_up_checkout(page, esim_id)
    page.locator("#method-wallet-why").get_by_role("link", name="為錢包增值").click()
    expect(page).to_have_url(re.compile(r"/wallet\?next=%2Fcheckout"))
    expect(page.locator(".balance .amount")).to_have_text("HK$0.00")
    screenshot(page, 45, "wallet-empty")
    page.locator("label[for=amount-200]").click()
    choose(page, "wechatpay")
    page.get_by_role("button", name="繼續付款").click()
    pay_at_cashier(page, "wechatpay")

    expect(page).to_have_url(re.compile(r"/wallet\?topup=wtu_\w+"))
    # The page refreshes itself until the provider's notification has filled the wallet.
    expect(page.get_by_text("HK$200.00 已存入你的錢包。")).to_be_visible(timeout=FULFILMENT_TIMEOUT_MS)
    expect(page.locator(".balance .amount")).to_have_text("HK$200.00")
    expect(page.locator(".entry-list li")).to_have_count(1)
    screenshot(page, 46, "wallet-topped-up")
    page.get_by_role("link", name="返回付款", exact=True).click()

    expect(page).to_have_url(re.compile(r"/checkout\?package="))
    expect(page.locator("#method-wallet-why")).to_contain_text("設定支付密碼後")
    page.locator("#method-wallet-why").get_by_role("link", name="設定支付密碼").click()
    expect(page).to_have_url(re.compile(r"/account/pin\?next="))
    page.get_by_role("button", name="以短訊驗證碼確認").click()
    expect(page).to_have_url(re.compile(r"/account/pin\?sent=1&next="))
    page.get_by_label("驗證碼").fill(sms_code(base_url, phone, nth=2))
    page.get_by_label("新支付密碼", exact=True).fill(pin)
    page.get_by_label("再次輸入新支付密碼").fill(pin)
    screenshot(page, 47, "account-pin")
    page.get_by_role("button", name="儲存支付密碼").click()

    # Back at the same checkout: the wallet can pay now.
    expect(page).to_have_url(re.compile(r"/checkout\?package="))
    wallet = page.get_by_role("radio", name=re.compile("錢包"))
    expect(wallet).to_be_enabled()
    expect(page.locator("label[for=method-wallet]")).to_contain_text("HK$200.00")
    choose(page, "wallet")
    screenshot(page, 48, "checkout-wallet")
    page.get_by_role("button", name=re.compile(r"^付款 HK\$")).click()

    expect(page).to_have_url(re.compile(r"/orders/ord_\w+/pay$"))
    field = page.get_by_label("支付密碼")
    expect(field).to_have_attribute("type", "password")
    expect(field).to_have_attribute("inputmode", "numeric")
    expect(field).to_have_attribute("autocomplete", "off")
    # With scripts on, the PIN pad fills the field digit by digit.
    for digit in pin:
        page.locator(".pin-pad").get_by_role("button", name=digit, exact=True).click()
    expect(field).to_have_value(pin)
    screenshot(page, 49, "pay-pin")
    page.get_by_role("button", name=re.compile(r"^付款 HK\$")).click()
    assert pin not in page.url
    wait_fulfilled(page, "wallet")
    screenshot(page, 50, "order-paid-by-wallet")

    page.goto("/wallet")
    expect(page.locator(".entry-list li")).to_have_count(2)
    expect(page.locator(".entry-list li").first).to_contain_text("付款")
    screenshot(page, 51, "wallet-after-payment")
    page.goto("/home")
    expect(page.locator(".settings-list")).to_contain_text("已設定")
    screenshot(page, 52, "home-settings")

    # Two more new eSIMs: one with WeChat Pay, paid in renminbi, and one from the wallet with the PIN.
    page.goto("/buy")
    page.get_by_role("link", name="選擇").first.click()
    page.get_by_role("link", name="CNY").click()
    expect(page).to_have_url(re.compile(r"/checkout\?package=\w+&currency=CNY"))
    expect(page.get_by_role("radio", name=re.compile("錢包"))).to_be_disabled()  # it holds HKD only
    choose(page, "wechatpay")
    screenshot(page, 53, "checkout-in-cny")
    page.get_by_role("button", name=re.compile(r"^付款 (CN)?¥")).click()
    pay_at_cashier(page, "wechatpay")
    wait_fulfilled(page, "wechatpay", new_esim=True)
    expect(page.locator(".lines")).to_contain_text("¥")

    page.goto("/buy")
    page.get_by_role("link", name="選擇").first.click()
    choose(page, "wallet")
    page.get_by_role("button", name=re.compile(r"^付款 HK\$")).click()
    expect(page).to_have_url(re.compile(r"/orders/ord_\w+/pay$"))
    page.get_by_label("支付密碼").fill(pin)
    page.get_by_role("button", name=re.compile(r"^付款 HK\$")).click()
    wait_fulfilled(page, "wallet", new_esim=True)
    context.close()
