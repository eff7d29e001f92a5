"""Real-name quota: one identity document holds at most 10 live eSIMs; terminating one frees a place."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from crossbay.db import transaction
from crossbay.esim import lifecycle
from tests.conftest import LiveServer, problem
from tests.support.journey import Customer, buy, first_package, wait_fulfilled


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
