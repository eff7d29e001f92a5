"""Stored value over HTTP: top-ups, the payment PIN, wallet payments (API.md "Wallet", issue 4)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from crossbay.db import transaction
from crossbay.ledger.service import trial_balance
from tests.conftest import LiveServer, problem
from tests.support import sensitive
from tests.support.journey import (
    Customer,
    buy,
    first_package,
    poll,
    wait_fulfilled,
)

PASSWORD = "harbour-lantern-92"
PIN = "482915"


@pytest.fixture
def customer(customer: Customer) -> Customer:
    """A customer with a login password too (the payment PIN is set with it)."""
    response = customer.client().put(
        "/api/v1/me/password", json={"new_password": PASSWORD}, headers=customer.auth()
    )
    assert response.status_code == 204
    sensitive.register(PIN, PASSWORD)
    return customer


def set_pin(customer: Customer, pin: str = PIN) -> httpx.Response:
    return customer.client().put(
        "/api/v1/me/payment-pin", json={"pin": pin, "password": PASSWORD}, headers=customer.auth()
    )


def top_up(customer: Customer, amount: int) -> dict[str, Any]:
    created = customer.post(
        "/api/v1/wallet/topups",
        json={"amount": {"amount": amount, "currency": "HKD"}, "payment_method": "card"},
    )
    assert created.status_code == 201, created.text
    topup = created.json()
    assert topup["status"] == "pending_payment" and topup["next_action"]["type"] == "redirect"
    customer.client().post(f"/sandbox/pay/card/{topup['payment']['reference']}/approve")
    done: dict[str, Any] = poll(
        lambda: customer.get(f"/api/v1/wallet/topups/{topup['id']}").json(),
        lambda t: t["status"] == "completed",
    )
    return done


def wallet_order(customer: Customer, package_id: str, esim_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"package_id": package_id, "payment_method": "wallet"}
    if esim_id:
        body["esim_id"] = esim_id
    created = customer.post("/api/v1/orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert created.status_code == 201, created.text
    assert created.json()["next_action"] == {"type": "pin_required", "url": None}
    order: dict[str, Any] = created.json()
    return order


class TestTopups:
    def test_a_card_topup_credits_the_wallet(self, customer: Customer, server: LiveServer) -> None:
        top_up(customer, 20_000)
        wallet = customer.get("/api/v1/wallet").json()
        assert wallet["balance"]["amount"] == 20_000
        [entry] = wallet["entries"]["items"]
        assert entry["amount"]["amount"] == 20_000 and entry["kind"] == "payment.captured"
        assert customer.get("/api/v1/me").json()["wallet"]["balance"]["amount"] == 20_000

    @pytest.mark.parametrize(
        ("amount", "code"), [(4_999, "amount_out_of_range"), (100_001, "amount_out_of_range")]
    )
    def test_limits_per_topup(self, customer: Customer, amount: int, code: str) -> None:
        response = customer.post(
            "/api/v1/wallet/topups",
            json={"amount": {"amount": amount, "currency": "HKD"}, "payment_method": "card"},
        )
        assert response.status_code == 422 and problem(response)["code"] == code

    def test_three_thousand_a_month(self, customer: Customer) -> None:
        for _ in range(3):
            assert (
                customer.post(
                    "/api/v1/wallet/topups",
                    json={"amount": {"amount": 100_000, "currency": "HKD"}, "payment_method": "card"},
                ).status_code
                == 201
            )
        over = customer.post(
            "/api/v1/wallet/topups",
            json={"amount": {"amount": 5_000, "currency": "HKD"}, "payment_method": "card"},
        )
        assert over.status_code == 422 and problem(over)["code"] == "monthly_limit_exceeded"


class TestPaymentPin:
    @pytest.mark.parametrize(
        "pin", ["111111", "123456", "987654", "phone", "900517", "170590", "12345", "abcdef"]
    )
    def test_weak_pins_are_refused(self, customer: Customer, pin: str) -> None:
        # The identity's birth date is 1990-05-17 (tests/support/journey.py).
        response = set_pin(customer, customer.phone[-6:] if pin == "phone" else pin)
        assert response.status_code == 422 and problem(response)["code"] in ("weak_pin", "validation_failed")

    def test_needs_the_password_or_a_fresh_code(self, customer: Customer) -> None:
        bare = customer.client().put("/api/v1/me/payment-pin", json={"pin": PIN}, headers=customer.auth())
        assert bare.status_code == 422
        wrong = customer.client().put(
            "/api/v1/me/payment-pin", json={"pin": PIN, "password": "nope-nope-1"}, headers=customer.auth()
        )
        assert wrong.status_code == 401 and problem(wrong)["code"] == "invalid_credentials"
        assert set_pin(customer).status_code == 204
        assert customer.get("/api/v1/me").json()["has_payment_pin"] is True


class TestWalletPayments:
    def test_pay_a_new_esim_from_the_wallet(self, customer: Customer, server: LiveServer) -> None:
        assert set_pin(customer).status_code == 204
        top_up(customer, 20_000)
        package = first_package(customer, "new_esim")
        order = wallet_order(customer, package["id"])
        wrong = customer.post(f"/api/v1/orders/{order['id']}/pay", json={"pin": "000001"})
        assert wrong.status_code == 401 and problem(wrong)["code"] == "invalid_pin"
        paid = customer.post(f"/api/v1/orders/{order['id']}/pay", json={"pin": PIN})
        assert paid.status_code == 200 and paid.json()["status"] in ("paid", "fulfilling", "fulfilled")
        again = customer.post(f"/api/v1/orders/{order['id']}/pay", json={"pin": PIN})
        assert again.status_code == 409 and problem(again)["code"] == "order_not_payable"
        wait_fulfilled(customer, order["id"])
        assert (
            customer.get("/api/v1/wallet").json()["balance"]["amount"] == 20_000 - package["price"]["amount"]
        )

    def test_five_wrong_pins_lock_wallet_payments(self, customer: Customer) -> None:
        assert set_pin(customer).status_code == 204
        order = wallet_order(customer, first_package(customer, "new_esim")["id"])
        for _ in range(5):
            assert (
                customer.post(f"/api/v1/orders/{order['id']}/pay", json={"pin": "000001"}).status_code == 401
            )
        locked = customer.post(f"/api/v1/orders/{order['id']}/pay", json={"pin": PIN})
        assert locked.status_code == 429 and problem(locked)["code"] == "too_many_attempts"
        assert int(locked.headers["Retry-After"]) > 1700

    def test_insufficient_balance(self, customer: Customer) -> None:
        assert set_pin(customer).status_code == 204
        order = wallet_order(customer, first_package(customer, "new_esim")["id"])
        short = customer.post(f"/api/v1/orders/{order['id']}/pay", json={"pin": PIN})
        assert short.status_code == 402 and problem(short)["code"] == "insufficient_balance"
        assert customer.get(f"/api/v1/orders/{order['id']}").json()["status"] == "pending_payment"

    def test_twenty_concurrent_payments_against_a_balance_for_ten(
        self, customer: Customer, server: LiveServer
    ) -> None:
        assert set_pin(customer).status_code == 204
        # One eSIM bought by card, then top-ups on it paid from a wallet that holds exactly ten of them.
        esim_id = wait_fulfilled(customer, buy(customer, first_package(customer, "new_esim")["id"])["id"])[
            "esim_id"
        ]
        items = customer.get("/api/v1/packages", params={"for": "topup"}).json()["items"]
        topup = min(items, key=lambda p: p["price"]["amount"])
        price = topup["price"]["amount"]
        top_up(customer, 10 * price + 50)
        spare = 50
        orders = [wallet_order(customer, topup["id"], esim_id=esim_id) for _ in range(20)]

        def pay(order: dict[str, Any]) -> int:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                return client.post(
                    f"/api/v1/orders/{order['id']}/pay", json={"pin": PIN}, headers=customer.auth()
                ).status_code

        with ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(pay, orders))
        assert sorted(statuses) == [200] * 10 + [402] * 10
        assert customer.get("/api/v1/wallet").json()["balance"]["amount"] == spare
        with server.runtime.sessions() as session, transaction(session):
            assert trial_balance(session) == {"HKD": 0}

    def test_a_failed_wallet_order_is_refunded_to_the_wallet(self, customer: Customer) -> None:
        assert set_pin(customer).status_code == 204
        top_up(customer, 20_000)
        customer.client().put(
            "/sandbox/smdp/faults",
            json={
                "fail_function": "downloadOrder",
                "fail_subject_code": "8.2.1",
                "fail_reason_code": "3.9",
                "fail_remaining": 9,
            },
        )
        try:
            order = wallet_order(customer, first_package(customer, "new_esim")["id"])
            assert customer.post(f"/api/v1/orders/{order['id']}/pay", json={"pin": PIN}).status_code == 200
            poll(
                lambda: customer.get(f"/api/v1/orders/{order['id']}").json()["status"],
                lambda s: s == "refunded",
            )
        finally:
            customer.client().put("/sandbox/smdp/faults", json={})
        assert customer.get("/api/v1/wallet").json()["balance"]["amount"] == 20_000


def test_preferred_payment_is_remembered(customer: Customer) -> None:
    response = customer.client().put(
        "/api/v1/me/preferred-payment", json={"payment_method": "wallet"}, headers=customer.auth()
    )
    assert response.status_code == 204
    assert customer.get("/api/v1/me").json()["preferred_payment_method"] == "wallet"
    bad = customer.client().put(
        "/api/v1/me/preferred-payment", json={"payment_method": "cash"}, headers=customer.auth()
    )
    assert bad.status_code == 422
