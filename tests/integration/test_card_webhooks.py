"""POST /webhooks/card: only a verified, matching, first delivery changes anything."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from crossbay.db import transaction
from crossbay.esim.models import Esim
from crossbay.ledger.models import LedgerTransaction
from crossbay.ledger.service import account_balance, trial_balance
from crossbay.payments.card import sign_webhook
from crossbay.payments.models import Payment, ProviderEvent
from tests.conftest import LiveServer, problem
from tests.support.journey import Customer, first_package, poll, register_identity, sign_in, wait_fulfilled


@pytest.fixture(autouse=True)
def _catalog(seeded: None) -> None:
    """Every test here orders from the demo catalog."""


@pytest.fixture
def order(http: httpx.Client) -> tuple[Customer, dict[str, Any]]:
    customer = sign_in([http])
    register_identity(customer)
    package = first_package(customer, "new_esim")
    created = customer.post(
        "/api/v1/orders",
        json={"package_id": package["id"], "payment_method": "card"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert created.status_code == 201
    return customer, created.json()


def event(
    order: dict[str, Any],
    *,
    amount: int | None = None,
    reference: str | None = None,
    event_type: str = "payment_intent.succeeded",
    event_id: str | None = None,
) -> bytes:
    intent = {
        "id": reference or order["payment"]["reference"],
        "object": "payment_intent",
        "amount": order["total"]["amount"] if amount is None else amount,
        "currency": "hkd",
        "status": "succeeded",
        "metadata": {},
    }
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": intent},
        }
    ).encode()


def deliver(
    http: httpx.Client,
    server: LiveServer,
    payload: bytes,
    *,
    secret: str | None = None,
    at: int | None = None,
) -> httpx.Response:
    header = sign_webhook(
        payload,
        secret or server.runtime.settings.card_webhook_secret or "",
        at if at is not None else int(time.time()),
    )
    return http.post(
        "/webhooks/card",
        content=payload,
        headers={"Stripe-Signature": header, "content-type": "application/json"},
    )


def counts(server: LiveServer) -> tuple[int, int, int, int]:
    with server.runtime.engine.connect() as c:
        return (
            int(c.scalar(select(func.count()).select_from(ProviderEvent)) or 0),
            int(c.scalar(select(func.count()).select_from(LedgerTransaction)) or 0),
            int(c.scalar(select(func.count()).select_from(Esim)) or 0),
            int(c.scalar(select(func.count()).where(Payment.status == "succeeded")) or 0),
        )


class TestRefusedNotices:
    @pytest.mark.parametrize("case", ["forged", "stale", "wrong_amount", "unknown_order", "no_header"])
    def test_changes_nothing(
        self, case: str, http: httpx.Client, server: LiveServer, order: tuple[Customer, dict[str, Any]]
    ) -> None:
        customer, created = order
        payload = event(
            created,
            amount=created["total"]["amount"] - 1 if case == "wrong_amount" else None,
            reference="pi_unknown" if case == "unknown_order" else None,
        )
        if case == "no_header":
            response = http.post(
                "/webhooks/card", content=payload, headers={"content-type": "application/json"}
            )
        else:
            response = deliver(
                http,
                server,
                payload,
                secret="whsec_forged" if case == "forged" else None,
                at=int(time.time()) - 301 if case == "stale" else None,
            )
        assert response.status_code in (400, 401)
        assert problem(response)["code"] in {
            "invalid_signature",
            "stale_timestamp",
            "amount_mismatch",
            "unknown_payment",
        }
        assert counts(server) == (0, 0, 0, 0)
        assert customer.get(f"/api/v1/orders/{created['id']}").json()["status"] == "pending_payment"


class TestGoodNotice:
    def test_three_deliveries_make_one_payment_one_posting_one_profile(
        self, http: httpx.Client, server: LiveServer, order: tuple[Customer, dict[str, Any]]
    ) -> None:
        customer, created = order
        payload = event(created)
        answers = [deliver(http, server, payload) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200]
        wait_fulfilled(customer, created["id"])
        events, postings, esims, succeeded = counts(server)
        # One capture and one revenue recognition: two balanced postings for one order.
        assert (events, postings, esims, succeeded) == (1, 2, 1, 1)

    def test_a_different_event_for_a_paid_order_changes_nothing(
        self, http: httpx.Client, server: LiveServer, order: tuple[Customer, dict[str, Any]]
    ) -> None:
        customer, created = order
        assert deliver(http, server, event(created)).status_code == 200
        wait_fulfilled(customer, created["id"])
        before = counts(server)
        assert deliver(http, server, event(created)).status_code == 200
        assert counts(server)[1:] == before[1:]

    def test_sandbox_cashier_delivers_and_repeats(
        self, http: httpx.Client, server: LiveServer, order: tuple[Customer, dict[str, Any]]
    ) -> None:
        customer, created = order
        page = http.get(created["next_action"]["url"].removeprefix(server.url))
        assert page.status_code == 200 and created["total"]["formatted"].replace("HK$", "") in page.text
        http.post(f"/sandbox/pay/card/{created['payment']['reference']}/approve")
        wait_fulfilled(customer, created["id"])
        assert counts(server)[1:] == (2, 1, 1)

    def test_late_payment_for_a_cancelled_order_is_refunded(
        self, http: httpx.Client, server: LiveServer, order: tuple[Customer, dict[str, Any]]
    ) -> None:
        customer, created = order
        assert customer.post(f"/api/v1/orders/{created['id']}/cancel").json()["status"] == "cancelled"
        # The payer still had the cashier open and pays after all.
        http.post(f"/sandbox/pay/card/{created['payment']['reference']}/approve")

        def payment_status() -> str:
            with server.runtime.engine.connect() as c:
                return str(c.scalar(select(Payment.status).where(Payment.order_id == created["id"])))

        assert poll(payment_status, lambda s: s == "refunded", timeout=20)
        assert customer.get(f"/api/v1/orders/{created['id']}").json()["status"] == "cancelled"
        with server.runtime.sessions() as session, transaction(session):
            assert trial_balance(session) == {"HKD": 0}
            assert account_balance(session, "clearing:card", "HKD").amount == 0
