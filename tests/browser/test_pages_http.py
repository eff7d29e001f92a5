"""The pages' guards over plain HTTP: sign-in redirects, CSRF, other customers' things, idempotent pay."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.support.journey import (
    Customer,
    buy,
    first_package,
    new_phone,
    register_identity,
    sign_in,
    wait_fulfilled,
)

pytestmark = pytest.mark.e2e

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
KEY_FIELD = re.compile(r'name="key" value="([0-9a-f]{32})"')


@pytest.fixture
def web(base_url: str) -> Iterator[httpx.Client]:
    """A browser-like client: keeps cookies, does not follow redirects so they can be checked."""
    with httpx.Client(base_url=base_url, follow_redirects=False, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def owner(base_url: str) -> Iterator[tuple[Customer, dict[str, str]]]:
    """A customer with a fulfilled new eSIM, made through the JSON API; and a top-up package for it."""
    with httpx.Client(base_url=base_url, timeout=30) as api:
        customer = sign_in([api])
        register_identity(customer)
        order = buy(customer, first_package(customer, "new_esim")["id"])
        fulfilled = wait_fulfilled(customer, order["id"])
        yield (
            customer,
            {
                "order_id": fulfilled["id"],
                "esim_id": fulfilled["esim_id"],
                "topup_package_id": first_package(customer, "topup")["id"],
            },
        )


def _signed_in_as(web: httpx.Client, customer: Customer) -> httpx.Client:
    # The web session cookie is the same access token the API hands out.
    web.cookies.set("cb_session", customer.token)
    return web


def _csrf(web: httpx.Client, path: str = "/signin") -> str:
    page = web.get(path)
    assert page.status_code == 200, page.text
    found = CSRF_FIELD.search(page.text)
    assert found is not None
    return found.group(1)


def test_pages_need_a_session_and_come_back_after_sign_in(web: httpx.Client) -> None:
    home = web.get("/home")
    assert home.status_code == 303
    assert home.headers["location"] == "/signin?next=%2Fhome"

    web.cookies.set("cb_session", "not-a-token")
    topup = web.get("/esims/esim_x/topup", params={"region": "hk"})
    assert topup.status_code == 303
    assert topup.headers["location"] == "/signin?next=%2Fesims%2Fesim_x%2Ftopup%3Fregion%3Dhk"
    assert 'cb_session=""' in topup.headers["set-cookie"]  # the dead token is dropped


def test_a_form_without_its_csrf_token_is_refused(web: httpx.Client) -> None:
    refused = web.post("/signin", data={"phone": new_phone()}, headers={"Accept-Language": "zh-HK"})
    assert refused.status_code == 403
    assert '<html lang="zh-Hant">' in refused.text
    assert "此表格已失效" in refused.text

    token = _csrf(web)
    web.cookies.clear()
    web.cookies.set("cb_csrf", "another-browser")
    assert web.post("/signin", data={"phone": new_phone(), "csrf": token}).status_code == 403


def test_sign_in_errors_show_on_the_form_in_the_customers_language(web: httpx.Client) -> None:
    token = _csrf(web, "/signin?lang=zh-Hans")
    wrong = web.post("/signin", data={"phone": "12345", "csrf": token})
    assert wrong.status_code == 422
    assert '<html lang="zh-Hans">' in wrong.text
    assert "请使用香港、澳门或中国内地号码" in wrong.text

    phone = new_phone()
    sent = web.post("/signin", data={"phone": phone, "csrf": token})
    assert sent.status_code == 303 and sent.headers["location"] == "/signin/code"
    assert phone[1:] not in sent.headers["location"]
    bad_code = web.post("/signin/code", data={"code": "000000", "csrf": token})
    assert bad_code.status_code == 401
    assert "验证码不正确" in bad_code.text
    too_soon = web.post("/signin/resend", data={"csrf": token})
    assert too_soon.status_code == 429
    assert "请稍后再获取新的验证码（约" in too_soon.text


def test_another_customers_order_and_esim_are_not_found(
    web: httpx.Client, base_url: str, owner: tuple[Customer, dict[str, str]]
) -> None:
    customer, order = owner
    with httpx.Client(base_url=base_url, timeout=30) as api:
        stranger = sign_in([api])
    _signed_in_as(web, stranger)
    for path in (
        f"/orders/{order['order_id']}",
        f"/esims/{order['esim_id']}",
        f"/esims/{order['esim_id']}/topup",
        f"/esims/{order['esim_id']}/qr.svg",
    ):
        response = web.get(path, headers={"Accept-Language": "en"})
        assert response.status_code == 404, path
        assert "<h1>Not found</h1>" in response.text

    _signed_in_as(web, customer)
    qr = web.get(f"/esims/{order['esim_id']}/qr.svg")
    assert qr.status_code == 200
    assert qr.headers["content-type"] == "image/svg+xml"
    assert qr.headers["cache-control"] == "private, no-store"


def test_paying_twice_from_one_checkout_page_places_one_order(
    web: httpx.Client, owner: tuple[Customer, dict[str, str]]
) -> None:
    customer, order = owner
    _signed_in_as(web, customer)
    checkout = web.get("/checkout", params={"package": order["topup_package_id"], "esim": order["esim_id"]})
    assert checkout.status_code == 200, checkout.text
    csrf, key = CSRF_FIELD.search(checkout.text), KEY_FIELD.search(checkout.text)
    assert csrf is not None and key is not None
    form = {
        "package": order["topup_package_id"],
        "esim": order["esim_id"],
        "key": key.group(1),
        "csrf": csrf.group(1),
        "method": "card",
    }

    first = web.post("/checkout", data=form)
    again = web.post("/checkout", data=form)
    assert first.status_code == again.status_code == 303
    assert "/sandbox/pay/card/" in first.headers["location"]
    assert again.headers["location"] == first.headers["location"]
