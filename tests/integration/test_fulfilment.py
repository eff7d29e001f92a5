"""Fulfilment through the worker: retries, giving up with an automatic refund, and order expiry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from crossbay.clock import ShiftedClock
from crossbay.db import transaction
from crossbay.ledger.service import account_balance, trial_balance
from tests.conftest import LiveServer
from tests.support.journey import (
    Customer,
    buy,
    first_package,
    poll,
    wait_fulfilled,
)


def set_fault(customer: Customer, **fault: object) -> None:
    assert customer.client().put("/sandbox/smdp/faults", json=fault).status_code == 200


def bought_while_the_smdp_refuses(customer: Customer, function: str) -> dict[str, Any]:
    """A new eSIM bought while the SM-DP+ answers ``function`` with "ICCID unknown": it ends refunded."""
    set_fault(
        customer,
        fail_function=function,
        fail_subject_code="8.2.1",
        fail_reason_code="3.9",
        fail_remaining=100,
    )
    order = buy(customer, first_package(customer, "new_esim")["id"])
    final: dict[str, Any] = poll(
        lambda: customer.get(f"/api/v1/orders/{order['id']}").json(),
        lambda o: o["status"] == "refunded",
        timeout=30,
    )
    return final


class TestFulfilment:
    def test_transient_smdp_failures_are_retried(self, customer: Customer) -> None:
        # Two 5xx answers in a row: the ES2+ client and then the job retry with the same call id.
        set_fault(customer, fail_function="confirmOrder", fail_http_status=503, fail_remaining=4)
        order = buy(customer, first_package(customer, "new_esim")["id"])
        fulfilled = wait_fulfilled(customer, order["id"])
        assert fulfilled["esim_id"]
        assert customer.client().get("/sandbox/smdp/stats").json()["allocated"] == 1

    def test_a_refused_profile_fails_the_order_and_refunds_it(
        self, customer: Customer, server: LiveServer
    ) -> None:
        final = bought_while_the_smdp_refuses(customer, "downloadOrder")
        assert [e["status"] for e in final["timeline"] if e["step"] is None][-2:] == ["failed", "refunded"]
        assert final["payment"]["status"] == "refunded"
        with server.runtime.sessions() as session, transaction(session):
            assert trial_balance(session) == {"HKD": 0}
            assert account_balance(session, "clearing:card", "HKD").amount == 0
            assert account_balance(session, "revenue:sales", "HKD").amount == 0

    def test_a_profile_reserved_before_the_failure_goes_back_to_the_smdp(
        self, customer: Customer, server: LiveServer
    ) -> None:
        final = bought_while_the_smdp_refuses(customer, "confirmOrder")
        [esim] = customer.get("/api/v1/esims").json()["items"]
        assert esim["id"] == final["esim_id"] and esim["status"] == "terminated"
        profile = poll(
            lambda: customer.client().get(f"/sandbox/smdp/profiles/{esim['iccid']}").json(),
            lambda p: p["state"] == "available",
            timeout=20,
        )
        assert profile["state"] == "available"


class TestExpiry:
    def test_an_unpaid_order_expires_after_30_minutes(self, customer: Customer, server: LiveServer) -> None:
        created = customer.post(
            "/api/v1/orders",
            json={"package_id": first_package(customer, "new_esim")["id"], "payment_method": "card"},
            headers={"Idempotency-Key": "expire-me"},
        ).json()
        clock = server.runtime.clock
        assert isinstance(clock, ShiftedClock)
        clock.advance(timedelta(minutes=29))
        assert customer.get(f"/api/v1/orders/{created['id']}").json()["status"] == "pending_payment"
        clock.advance(timedelta(minutes=2))
        expired = poll(
            lambda: customer.get(f"/api/v1/orders/{created['id']}").json(),
            lambda o: o["status"] == "expired",
            timeout=20,
        )
        assert expired["next_action"] is None
        # The cashier is closed at the provider too: the payer can no longer pay a dead order.
        cashier = poll(
            lambda: customer.client().post(f"/sandbox/pay/card/{created['payment']['reference']}/approve"),
            lambda r: r.status_code == 409,
            timeout=20,
        )
        assert cashier.status_code == 409


class TestLostNotification:
    def test_an_order_whose_notification_was_lost_is_settled_by_asking_the_provider(
        self, customer: Customer, server: LiveServer
    ) -> None:
        from sqlalchemy import update

        from crossbay.sandbox.card_models import SandboxCardIntent

        created = customer.post(
            "/api/v1/orders",
            json={"package_id": first_package(customer, "new_esim")["id"], "payment_method": "card"},
            headers={"Idempotency-Key": "lost-notification"},
        ).json()
        # The payer paid, but the provider's notification never arrived.
        with server.runtime.engine.begin() as connection:
            connection.execute(
                update(SandboxCardIntent)
                .where(SandboxCardIntent.id == created["payment"]["reference"])
                .values(status="succeeded")
            )
        clock = server.runtime.clock
        assert isinstance(clock, ShiftedClock)
        clock.advance(timedelta(minutes=6))
        wait_fulfilled(customer, created["id"])
