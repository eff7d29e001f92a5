"""Real-name quota: one identity document holds at most 10 live eSIMs; terminating one frees a place."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from crossbay.db import transaction
from crossbay.esim import lifecycle
from crossbay.ledger.service import trial_balance
from tests.conftest import LiveServer, problem
from tests.support.journey import Customer, buy, first_package, poll, wait_fulfilled


def test_the_eleventh_esim_is_refused_and_a_terminated_one_frees_its_place(
    customer: Customer, server: LiveServer
) -> None:
    package_id = first_package(customer, "new_esim")["id"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        orders = list(pool.map(lambda _: buy(customer, package_id), range(10)))
    esim_ids = [wait_fulfilled(customer, order["id"])["esim_id"] for order in orders]
    assert len(set(esim_ids)) == 10

    def order_one() -> httpx.Response:
        return customer.post(
            "/api/v1/orders",
            json={"package_id": package_id, "payment_method": "card"},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )

    refused = order_one()
    assert refused.status_code == 409 and problem(refused)["code"] == "identity_quota_exceeded"

    # A suspended eSIM still holds its place.
    with server.runtime.sessions() as session, transaction(session):
        lifecycle.suspend_esim(session, esim_id=esim_ids[0], reason="check", now=server.runtime.clock.now())
    assert order_one().status_code == 409

    with server.runtime.sessions() as session, transaction(session):
        lifecycle.terminate_esim(
            session,
            esim_id=esim_ids[0],
            reason="customer closed it",
            settings=server.runtime.settings,
            now=server.runtime.clock.now(),
        )
    accepted = order_one()
    assert accepted.status_code == 201, accepted.text
    assert order_one().status_code == 409  # the freed place is taken by the open order


def test_a_paid_order_over_the_quota_at_fulfilment_fails_and_is_refunded(
    customer: Customer, server: LiveServer
) -> None:
    package_id = first_package(customer, "new_esim")["id"]
    wait_fulfilled(customer, buy(customer, package_id)["id"])
    placed = customer.post(
        "/api/v1/orders",
        json={"package_id": package_id, "payment_method": "card"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert placed.status_code == 201, placed.text
    order = placed.json()
    # The quota is lowered while the customer pays (a rule change): the paid order no longer fits.
    original = server.runtime.settings
    server.runtime.settings = original.model_copy(update={"identity_esim_quota": 1})
    try:
        approved = customer.client().post(f"/sandbox/pay/card/{order['payment']['reference']}/approve")
        assert approved.status_code in (200, 303), approved.text
        final = poll(
            lambda: customer.get(f"/api/v1/orders/{order['id']}").json(),
            lambda o: o["status"] in ("fulfilled", "refunded"),
            timeout=30,
        )
    finally:
        server.runtime.settings = original
    assert final["status"] == "refunded" and final["esim_id"] is None
    assert final["payment"]["status"] == "refunded"
    assert "identity_quota_exceeded" in [event["step"] for event in final["timeline"]]
    assert [e["status"] for e in final["timeline"] if e["step"] is None][-2:] == ["failed", "refunded"]
    assert len(customer.get("/api/v1/esims").json()["items"]) == 1
    with server.runtime.sessions() as session, transaction(session):
        assert trial_balance(session) == {"HKD": 0}
