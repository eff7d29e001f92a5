"""Prices per currency: what the operator set in CNY or MOP is what is charged and booked, never converted."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from crossbay.db import transaction
from crossbay.ledger import service as ledger
from crossbay.orders import service as orders
from crossbay.payments.models import Payment
from tests.conftest import LiveServer, problem
from tests.support.journey import Customer, poll, wait_fulfilled


def package_priced_in(
    customer: Customer, currency: str, purpose: str = "new_esim"
) -> tuple[dict[str, Any], int]:
    for package in customer.get(f"/api/v1/packages?for={purpose}").json()["items"]:
        for price in package["prices"]:
            if price["currency"] == currency:
                return package, price["amount"]
    raise AssertionError(f"no {purpose} package is priced in {currency}")


def order(customer: Customer, **body: Any) -> Any:
    return customer.post("/api/v1/orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})


def test_packages_list_every_price_hkd_first(customer: Customer) -> None:
    items = customer.get("/api/v1/packages").json()["items"]
    assert all(item["prices"][0] == item["price"] and item["price"]["currency"] == "HKD" for item in items)
    currencies = {price["currency"] for item in items for price in item["prices"]}
    assert currencies == {"HKD", "CNY", "MOP"}


def test_a_quote_in_cny_is_the_operators_cny_price(customer: Customer) -> None:
    package, cny = package_priced_in(customer, "CNY")
    quote = customer.post("/api/v1/orders/quote", json={"package_id": package["id"], "currency": "CNY"})
    assert quote.status_code == 200, quote.text
    assert quote.json()["total"]["amount"] == cny and quote.json()["total"]["currency"] == "CNY"
    assert all(line["amount"]["currency"] == "CNY" for line in quote.json()["lines"])


@pytest.mark.parametrize(("method", "currency"), [("card", "CNY"), ("alipay", "CNY"), ("wechatpay", "MOP")])
def test_paid_in_another_currency_is_charged_and_booked_in_it(
    method: str, currency: str, customer: Customer, server: LiveServer
) -> None:
    package, amount = package_priced_in(customer, currency)
    created = order(customer, package_id=package["id"], payment_method=method, currency=currency)
    assert created.status_code == 201, created.text
    placed = created.json()
    assert placed["total"] == {**placed["total"], "amount": amount, "currency": currency}
    http = customer.client()
    http.get(placed["next_action"]["url"], follow_redirects=True)
    assert http.post(f"/sandbox/pay/{method}/{placed['payment']['reference']}/approve").status_code in (
        200,
        303,
    )
    wait_fulfilled(customer, placed["id"])
    with server.runtime.sessions() as session, transaction(session):
        payment = session.scalars(select(Payment).where(Payment.order_id == placed["id"])).one()
        assert (payment.amount, payment.currency, payment.status) == (amount, currency, "succeeded")
        assert ledger.account_balance(session, f"clearing:{method}", currency).amount >= amount
        assert ledger.check_ledger(session).ok


def test_a_cny_order_refunds_in_cny(customer: Customer, server: LiveServer) -> None:
    package, _ = package_priced_in(customer, "CNY")
    placed = order(customer, package_id=package["id"], payment_method="card", currency="CNY").json()
    customer.client().post(f"/sandbox/pay/card/{placed['payment']['reference']}/approve")
    wait_fulfilled(customer, placed["id"])
    runtime = server.runtime
    with runtime.sessions() as session, transaction(session):
        orders.refund_order(
            session, order_id=placed["id"], settings=runtime.settings, now=runtime.clock.now(), reason="test"
        )
    poll(lambda: customer.get(f"/api/v1/orders/{placed['id']}").json()["status"], lambda s: s == "refunded")
    with runtime.sessions() as session, transaction(session):
        payment_id = session.scalars(select(Payment.id).where(Payment.order_id == placed["id"])).one()
        postings = ledger.postings_for(session, payment_id) + ledger.postings_for(session, placed["id"])
        assert {tx.kind for tx in postings} >= {"payment.captured", "payment.refunded"}
        assert {entry.currency for tx in postings for entry in tx.entries} == {"CNY"}
        assert ledger.check_ledger(session).ok


def test_a_currency_the_package_is_not_sold_in_is_refused_and_nothing_is_written(
    customer: Customer, server: LiveServer
) -> None:
    packages = customer.get("/api/v1/packages?for=new_esim").json()["items"]
    hkd_only = next(p for p in packages if "MOP" not in {price["currency"] for price in p["prices"]})
    refused = order(customer, package_id=hkd_only["id"], payment_method="card", currency="MOP")
    assert refused.status_code == 422 and problem(refused)["code"] == "currency_not_offered"
    assert "HKD" in str(problem(refused)["detail"])
    unknown = order(customer, package_id=hkd_only["id"], payment_method="card", currency="USD")
    assert unknown.status_code == 422 and problem(unknown)["code"] == "validation_failed"
    assert customer.get("/api/v1/orders").json()["items"] == []


def test_the_wallet_pays_in_hkd_only(customer: Customer) -> None:
    package, _ = package_priced_in(customer, "CNY")
    refused = order(customer, package_id=package["id"], payment_method="wallet", currency="CNY")
    assert refused.status_code == 422 and problem(refused)["code"] == "payment_method_unavailable"
    assert customer.get("/api/v1/orders").json()["items"] == []
