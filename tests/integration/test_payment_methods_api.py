"""A new eSIM and a top-up bought with each payment method over the API, through each provider's sandbox."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from crossbay.db import transaction
from crossbay.ledger.service import check_ledger
from tests.conftest import LiveServer, problem
from tests.support.journey import Customer, first_package, poll, wait_fulfilled

PASSWORD, PIN = "harbour-lantern-92", "482915"


def pay(customer: Customer, method: str, package_id: str, esim_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"package_id": package_id, "payment_method": method}
    if esim_id:
        body["esim_id"] = esim_id
    created = customer.post("/api/v1/orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert created.status_code == 201, created.text
    order: dict[str, Any] = created.json()
    if method == "wallet":
        assert customer.post(f"/api/v1/orders/{order['id']}/pay", json={"pin": PIN}).status_code == 200
    else:
        assert order["next_action"]["type"] == "redirect"
        assert order["payment"]["provider"] == method
        # The payer's browser follows next_action to the provider's cashier, then approves there.
        cashier = customer.client().get(order["next_action"]["url"], follow_redirects=True)
        assert cashier.status_code == 200, cashier.text
        approved = customer.client().post(f"/sandbox/pay/{method}/{order['payment']['reference']}/approve")
        assert approved.status_code in (200, 303), approved.text
    return wait_fulfilled(customer, order["id"])


def fund_wallet(customer: Customer) -> None:
    http = customer.client()
    assert (
        http.put("/api/v1/me/password", json={"new_password": PASSWORD}, headers=customer.auth()).status_code
        == 204
    )
    assert (
        http.put(
            "/api/v1/me/payment-pin", json={"pin": PIN, "password": PASSWORD}, headers=customer.auth()
        ).status_code
        == 204
    )
    topup = customer.post(
        "/api/v1/wallet/topups",
        json={"amount": {"amount": 50_000, "currency": "HKD"}, "payment_method": "alipay"},
    ).json()
    http.get(topup["next_action"]["url"], follow_redirects=True)
    http.post(f"/sandbox/pay/alipay/{topup['payment']['reference']}/approve")
    poll(
        lambda: customer.get(f"/api/v1/wallet/topups/{topup['id']}").json()["status"],
        lambda s: s == "completed",
    )


@pytest.mark.parametrize("method", ["card", "alipay", "wechatpay", "wallet"])
def test_new_esim_and_topup(method: str, customer: Customer, server: LiveServer) -> None:
    if method == "wallet":
        fund_wallet(customer)
    new = pay(customer, method, first_package(customer, "new_esim")["id"])
    topup = pay(customer, method, first_package(customer, "topup")["id"], esim_id=new["esim_id"])
    assert topup["esim_id"] == new["esim_id"]
    assert len(customer.get(f"/api/v1/esims/{new['esim_id']}").json()["bundles"]) == 2
    with server.runtime.sessions() as session, transaction(session):
        assert check_ledger(session).ok


@pytest.mark.parametrize("method", ["alipay", "wechatpay"])
def test_a_provider_refund_when_fulfilment_fails(method: str, customer: Customer) -> None:
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
        created = customer.post(
            "/api/v1/orders",
            json={"package_id": first_package(customer, "new_esim")["id"], "payment_method": method},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        ).json()
        customer.client().get(created["next_action"]["url"], follow_redirects=True)
        customer.client().post(f"/sandbox/pay/{method}/{created['payment']['reference']}/approve")
        final = poll(
            lambda: customer.get(f"/api/v1/orders/{created['id']}").json(),
            lambda o: o["status"] == "refunded",
        )
        assert final["payment"]["status"] == "refunded"
    finally:
        customer.client().put("/sandbox/smdp/faults", json={})


def test_a_forged_alipay_notification_is_refused(customer: Customer) -> None:
    response = customer.client().post(
        "/webhooks/alipay",
        content=b"out_trade_no=pay_x&trade_status=TRADE_SUCCESS"
        b"&total_amount=48.00&sign=Zm9yZ2Vk&sign_type=RSA2",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code in (400, 401) and response.text != "success"
    assert problem(response)["code"] in ("invalid_signature", "malformed_request")
