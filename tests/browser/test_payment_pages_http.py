"""The payment pages' guards over plain HTTP: CSRF, the wallet offered only when it can pay, PIN mistakes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.browser.browsing import sms_code
from tests.support import sensitive
from tests.support.journey import Customer, first_package, poll, register_identity, sign_in

pytestmark = pytest.mark.e2e

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
KEY_FIELD = re.compile(r'name="key" value="([0-9a-f]{32})"')
PASSWORD = "grey-harbour-lantern-57"
PIN = "730418"
sensitive.register(PASSWORD, PIN)


class Shopper:
    """A customer seen two ways: the JSON API (to set things up) and a browser-like page client."""

    def __init__(self, customer: Customer, web: httpx.Client) -> None:
        self.customer, self.web = customer, web

    def form(self, path: str) -> dict[str, str]:
        """The hidden fields of the form on a page: its CSRF token and, where there is one, its key."""
        page = self.web.get(path)
        assert page.status_code == 200, page.text
        csrf, key = CSRF_FIELD.search(page.text), KEY_FIELD.search(page.text)
        assert csrf is not None
        return {"csrf": csrf.group(1), **({"key": key.group(1)} if key else {})}

    def api_put(self, path: str, body: dict[str, object]) -> None:
        answer = self.customer.client().put(path, headers=self.customer.auth(), json=body)
        assert answer.status_code == 204, answer.text

    def fill_wallet(self, cents: int) -> None:
        created = self.customer.post(
            "/api/v1/wallet/topups",
            json={"amount": {"amount": cents, "currency": "HKD"}, "payment_method": "card"},
        )
        assert created.status_code == 201, created.text
        topup = created.json()
        self.customer.client().post(f"/sandbox/pay/card/{topup['payment']['reference']}/approve")
        poll(
            lambda: self.customer.get(f"/api/v1/wallet/topups/{topup['id']}").json()["status"],
            lambda status: status == "completed",
        )

    def me(self) -> dict[str, object]:
        body: dict[str, object] = self.customer.get("/api/v1/me").json()
        return body


ShopperFactory = Callable[..., Shopper]


@pytest.fixture
def shopper(base_url: str) -> Iterator[ShopperFactory]:
    """Makes customers with real-name done and, as asked, a password, a PIN and money in the wallet."""
    with ExitStack() as stack:

        def make(*, pin: bool = False, wallet_cents: int = 0, language: str = "zh-HK") -> Shopper:
            api = stack.enter_context(httpx.Client(base_url=base_url, timeout=30))
            web = stack.enter_context(
                httpx.Client(
                    base_url=base_url,
                    follow_redirects=False,
                    timeout=30,
                    headers={"Accept-Language": language},
                )
            )
            customer = sign_in([api])
            register_identity(customer)
            web.cookies.set("cb_session", customer.token)
            made = Shopper(customer, web)
            if pin:
                made.api_put("/api/v1/me/password", {"new_password": PASSWORD})
                made.api_put("/api/v1/me/payment-pin", {"pin": PIN, "password": PASSWORD})
            if wallet_cents:
                made.fill_wallet(wallet_cents)
            return made

        yield make


def _new_esim_checkout(made: Shopper) -> str:
    return "/checkout?package=" + first_package(made.customer, "new_esim")["id"]


def _radio(page: str, method: str) -> str:
    """The method's radio input as the page wrote it."""
    found = re.search(rf'<input type="radio" name="method" id="method-{method}"[^>]*>', page)
    assert found is not None, method
    return found.group(0)


def _place(made: Shopper, method: str) -> httpx.Response:
    """Send the checkout form for a new eSIM with ``method``, as the page would."""
    path = _new_esim_checkout(made)
    form = made.form(path)
    package = path.split("=", 1)[1]
    return made.web.post("/checkout", data={**form, "package": package, "method": method})


def test_every_payment_form_refuses_a_post_without_its_csrf_token(shopper: ShopperFactory) -> None:
    made = shopper()
    paths = (
        "/checkout",
        "/orders/ord_0/pay",
        "/wallet/topups",
        "/account/pin",
        "/account/pin/code",
        "/account/payment",
        "/account/password",
    )
    for path in paths:
        refused = made.web.post(path, data={"method": "alipay", "pin": PIN, "new_password": PASSWORD})
        assert refused.status_code == 403, path
        assert '<html lang="zh-Hant">' in refused.text
        assert "此表格已失效" in refused.text, path

    # A token made for another browser's cookie is refused just the same, and nothing changes.
    form = made.form("/account/payment")
    made.web.cookies.clear()
    made.web.cookies.set("cb_session", made.customer.token)
    made.web.cookies.set("cb_csrf", "another-browser")
    refused = made.web.post("/account/payment", data={**form, "method": "alipay"})
    assert refused.status_code == 403
    assert made.me()["preferred_payment_method"] is None


def test_checkout_offers_the_wallet_only_when_it_can_pay(shopper: ShopperFactory) -> None:
    poor = shopper()
    page = poor.web.get(_new_esim_checkout(poor)).text
    assert "checked" in _radio(page, "card")
    assert "disabled" in _radio(page, "wallet")
    assert "你的餘額不足以支付此訂單。" in page
    assert 'href="/wallet?next=%2Fcheckout%3Fpackage%3D' in page

    # Bound to the wallet, checkout still preselects card while the wallet cannot pay.
    saved = poor.web.post("/account/payment", data={**poor.form("/account/payment"), "method": "wallet"})
    assert saved.status_code == 303
    assert saved.headers["location"] == "/home?notice=payment_saved"
    assert "首選付款方式已儲存。" in poor.web.get(saved.headers["location"]).text
    assert poor.me()["preferred_payment_method"] == "wallet"
    page = poor.web.get(_new_esim_checkout(poor)).text
    assert "checked" in _radio(page, "card")

    # With a balance but no PIN the wallet asks for one first, in Simplified Chinese too.
    no_pin = shopper(wallet_cents=10_000, language="zh-CN")
    page = no_pin.web.get(_new_esim_checkout(no_pin)).text
    assert "disabled" in _radio(page, "wallet")
    assert "设置支付密码后，即可用钱包支付。" in page
    assert 'href="/account/pin?next=%2Fcheckout%3Fpackage%3D' in page

    # Money and a PIN: the wallet can be chosen, and is preselected once bound.
    ready = no_pin
    ready.api_put("/api/v1/me/password", {"new_password": PASSWORD})
    ready.api_put("/api/v1/me/payment-pin", {"pin": PIN, "password": PASSWORD})
    page = ready.web.get(_new_esim_checkout(ready)).text
    assert "disabled" not in _radio(page, "wallet") and "checked" not in _radio(page, "wallet")
    assert "余额：HK$100.00" in page
    ready.web.post("/account/payment", data={**ready.form("/account/payment"), "method": "wallet"})
    page = ready.web.get(_new_esim_checkout(ready)).text
    assert "checked" in _radio(page, "wallet") and "checked" not in _radio(page, "card")


def test_wrong_pins_are_counted_then_lock_wallet_payments(shopper: ShopperFactory) -> None:
    made = shopper(pin=True, wallet_cents=10_000)
    # The right PIN pays and goes on to the order page, which the PIN never reaches.
    pay_path = _place(made, "wallet").headers["location"]
    paid = made.web.post(pay_path, data={**made.form(pay_path), "pin": PIN})
    assert paid.status_code == 303
    assert paid.headers["location"] == pay_path.removesuffix("/pay")
    assert made.web.get(pay_path).headers["location"] == paid.headers["location"]  # nothing left to pay

    placed = _place(made, "wallet")
    assert placed.status_code == 303
    pay_path = placed.headers["location"]
    assert re.fullmatch(r"/orders/ord_\w+/pay", pay_path)
    order_id = pay_path.split("/")[2]
    page = made.web.get(pay_path).text
    assert re.search(r'type="password" inputmode="numeric" autocomplete="off"', page)

    form = made.form(pay_path)
    malformed = made.web.post(pay_path, data={**form, "pin": "12ab"})
    assert malformed.status_code == 422
    assert "請輸入 6 位數字支付密碼" in malformed.text

    wrong = "555123" if PIN != "555123" else "555124"
    first = made.web.post(pay_path, data={**form, "pin": wrong})
    assert first.status_code == 401
    assert "支付密碼不正確。再輸錯 4 次，錢包付款將鎖定 30 分鐘。" in first.text
    for _ in range(3):
        made.web.post(pay_path, data={**form, "pin": wrong})
    fifth = made.web.post(pay_path, data={**form, "pin": wrong})
    assert "錢包付款已鎖定約 30 分鐘" in fifth.text

    # Locked: even the right PIN waits, and the order is still unpaid.
    locked = made.web.post(pay_path, data={**form, "pin": PIN})
    assert locked.status_code == 429
    assert "支付密碼錯誤次數過多" in locked.text
    assert 'href="/checkout?package=' in locked.text  # another way to pay
    assert made.customer.get(f"/api/v1/orders/{order_id}").json()["status"] == "pending_payment"


def test_a_wallet_that_cannot_pay_says_why_on_the_pin_page(shopper: ShopperFactory) -> None:
    # A PIN but no money: the page offers a top-up, and a PIN sent anyway is refused for the balance.
    poor = shopper(pin=True)
    pay_path = _place(poor, "wallet").headers["location"]
    page = poor.web.get(pay_path).text
    assert "你的餘額不足以支付此訂單。" in page
    assert 'href="/wallet?next=%2Forders%2Ford_' in page
    refused = poor.web.post(pay_path, data={**poor.form("/wallet"), "pin": PIN})
    assert refused.status_code == 402
    assert "錢包餘額不足" in refused.text

    # Money but no PIN: the page asks for one first.
    no_pin = shopper(wallet_cents=10_000, language="en")
    pay_path = _place(no_pin, "wallet").headers["location"]
    page = no_pin.web.get(pay_path).text
    assert "Set a payment PIN to pay from your wallet." in page
    refused = no_pin.web.post(pay_path, data={**no_pin.form("/wallet"), "pin": PIN})
    assert refused.status_code == 409
    assert "Please set a payment PIN first" in refused.text


def test_a_password_then_a_pin_are_set_with_each_mistake_shown(
    shopper: ShopperFactory, base_url: str
) -> None:
    made = shopper()
    page = made.web.get("/account/pin").text
    assert 'name="proof"' not in page  # no password and no code yet: only the way to get a code
    assert 'href="/account/password"' in page

    form = made.form("/account/password")
    weak = made.web.post(
        "/account/password", data={**form, "new_password": "abc", "new_password_again": "abc"}
    )
    assert weak.status_code == 422
    assert "請使用最少 8 個不易被猜中的字元" in weak.text
    differ = made.web.post(
        "/account/password", data={**form, "new_password": PASSWORD, "new_password_again": PASSWORD + "x"}
    )
    assert "兩次輸入的密碼不一致" in differ.text
    saved = made.web.post(
        "/account/password", data={**form, "new_password": PASSWORD, "new_password_again": PASSWORD}
    )
    assert saved.headers["location"] == "/home?notice=password_saved"

    form = made.form("/account/pin")
    proof = {**form, "proof": "password", "password": PASSWORD}
    short = made.web.post("/account/pin", data={**proof, "pin": "12345", "pin_again": "12345"})
    assert short.status_code == 422 and "請輸入 6 位數字" in short.text
    differ = made.web.post("/account/pin", data={**proof, "pin": PIN, "pin_again": "730419"})
    assert "兩次輸入的支付密碼不一致" in differ.text
    wrong = made.web.post("/account/pin", data={**proof, "password": "nope", "pin": PIN, "pin_again": PIN})
    assert wrong.status_code == 401 and "密碼不正確" in wrong.text
    for weak_pin in ("123456", "900517"):  # a run, and the birth date the identity was registered with
        weak = made.web.post("/account/pin", data={**proof, "pin": weak_pin, "pin_again": weak_pin})
        assert weak.status_code == 422, weak_pin
        assert "請選擇 6 位難以猜到的數字" in weak.text
    assert made.me()["has_payment_pin"] is False
    saved = made.web.post("/account/pin", data={**proof, "pin": PIN, "pin_again": PIN})
    assert saved.headers["location"] == "/home?notice=pin_saved"
    assert made.me()["has_payment_pin"] is True

    # A code by SMS proves it too (asked again until the resend spacing since sign-in has passed).
    sent = poll(
        lambda: made.web.post("/account/pin/code", data=form),
        lambda answer: answer.status_code != 429,
        timeout=15,
        interval=0.5,
    )
    assert sent.status_code == 303 and sent.headers["location"] == "/account/pin?sent=1"
    page = made.web.get("/account/pin?sent=1").text
    assert 'name="proof" value="code"' in page
    assert "我們已向 +852" in page
    bad = made.web.post(
        "/account/pin",
        data={**form, "proof": "code", "code": "000000", "pin": "604182", "pin_again": "604182"},
    )
    assert bad.status_code == 401 and "驗證碼不正確" in bad.text
    code = sms_code(base_url, made.customer.phone, nth=2)
    changed = made.web.post(
        "/account/pin", data={**form, "proof": "code", "code": code, "pin": "604182", "pin_again": "604182"}
    )
    assert changed.status_code == 303
    assert 'cb_pin_code=""' in changed.headers["set-cookie"]  # the used code's state is dropped


def test_the_top_up_form_checks_the_amount_then_opens_the_cashier_once(shopper: ShopperFactory) -> None:
    made = shopper()
    form = {**made.form("/wallet"), "method": "alipay"}
    too_small = made.web.post("/wallet/topups", data={**form, "amount": "other", "other_amount": "20"})
    assert too_small.status_code == 422
    assert "請選擇限額內的金額" in too_small.text
    not_dollars = made.web.post("/wallet/topups", data={**form, "amount": "other", "other_amount": "12.5"})
    assert not_dollars.status_code == 422
    assert "請以整數港元輸入金額" in not_dollars.text
    no_method = made.web.post("/wallet/topups", data={**form, "amount": "100", "method": "wallet"})
    assert no_method.status_code == 422 and "請選擇付款方式" in no_method.text

    first = made.web.post("/wallet/topups", data={**form, "amount": "100"})
    again = made.web.post("/wallet/topups", data={**form, "amount": "100"})
    assert first.status_code == again.status_code == 303
    assert "/sandbox/alipay/gateway.do?" in first.headers["location"]  # Alipay's signed page link
    assert again.headers["location"] == first.headers["location"]

    # Alipay sends the payer back with its signed details appended; the wallet page drops them.
    back = made.web.get("/wallet?topup=wtu_x&next=%2Fhome&out_trade_no=pay_1&sign=abc")
    assert back.status_code == 303
    assert back.headers["location"] == "/wallet?topup=wtu_x&next=%2Fhome"
