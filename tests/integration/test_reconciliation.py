"""Daily reconciliation against each sandbox provider's statement, over HTTP, on both databases."""

from __future__ import annotations

import logging
import os
import subprocess
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from crossbay.clock import hk_date, hk_day_start
from crossbay.db import transaction
from crossbay.money import Money
from crossbay.orders import service as orders
from crossbay.payments.reconciliation import (
    AMOUNT_MISMATCH,
    CURRENCY_MISMATCH,
    MISSING_IN_BOOKS,
    differences_of,
    get_run,
    reconcile_day,
    reconcile_yesterday,
)
from crossbay.payments.statements import PAYMENT, REFUND
from crossbay.sandbox.alipay_models import SandboxAlipayTrade
from crossbay.sandbox.card_models import SandboxCardBalanceTransaction
from crossbay.sandbox.wechatpay_models import SandboxWechatPayTransaction
from tests.conftest import LiveServer
from tests.support.journey import Customer, first_package, poll, wait_fulfilled
from tests.support.keys import secret_values
from tests.support.servers import CROSSBAY

PROVIDERS = ("alipay", "card", "wechatpay")


def order(customer: Customer, method: str, *, approve: bool = True) -> dict[str, Any]:
    """A new eSIM paid with ``method``: the payer opens the cashier and, unless told not to, pays."""
    created = customer.post(
        "/api/v1/orders",
        json={"package_id": first_package(customer, "new_esim")["id"], "payment_method": method},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    assert customer.client().get(body["next_action"]["url"], follow_redirects=True).status_code == 200
    if approve:
        approved = customer.client().post(f"/sandbox/pay/{method}/{body['payment']['reference']}/approve")
        assert approved.status_code in (200, 303), approved.text
        return wait_fulfilled(customer, body["id"])
    return body


def today(server: LiveServer) -> date:
    return hk_date(server.runtime.clock.now())


def cli(server: LiveServer, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROSSBAY_")}
    env.update({f"CROSSBAY_{name.upper()}": value for name, value in secret_values().items()})
    env.update(
        CROSSBAY_DATABASE_URL=server.runtime.settings.database_url,
        CROSSBAY_SANDBOX="1",
        CROSSBAY_BASE_URL=server.url,
        CROSSBAY_VAR_DIR=str(tmp_path),
    )
    return subprocess.run(
        [CROSSBAY, "reconcile", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_day_of_card_alipay_and_wechat_pay_with_a_refund_reconciles_clean(
    customer: Customer, server: LiveServer, tmp_path: Path
) -> None:
    paid = {method: order(customer, method) for method in PROVIDERS}
    refunded = paid["card"]
    with server.runtime.sessions() as session, transaction(session):
        orders.refund_order(
            session,
            order_id=refunded["id"],
            settings=server.runtime.settings,
            now=server.runtime.clock.now(),
            reason="customer asked",
        )
    poll(lambda: customer.get(f"/api/v1/orders/{refunded['id']}").json()["status"], lambda s: s == "refunded")

    reports = {p: reconcile_day(server.runtime, provider=p, day=today(server)) for p in PROVIDERS}

    assert all(report.clean for report in reports.values()), {p: r.differences for p, r in reports.items()}
    assert (reports["card"].matched_payments, reports["card"].matched_refunds) == (1, 1)
    assert (reports["alipay"].matched_payments, reports["wechatpay"].matched_payments) == (1, 1)
    total = Money(paid["alipay"]["total"]["amount"], paid["alipay"]["total"]["currency"])
    assert reports["alipay"].totals[total.currency]["provider_payments"] == total.amount
    with server.runtime.sessions() as session, transaction(session):
        run = get_run(session, provider="card", day=today(server))
        assert run is not None and (run.status, run.difference_count) == ("clean", 0)

    # The card statement pages as Stripe's list does: newest first, one object at a time here.
    key = {"Authorization": f"Bearer {server.runtime.settings.secret('card_secret_key')}"}
    first = customer.client().get("/sandbox/card/v1/balance_transactions", params={"limit": 1}, headers=key)
    after = first.json()["data"][0]["id"]
    second = customer.client().get(
        "/sandbox/card/v1/balance_transactions", params={"limit": 1, "starting_after": after}, headers=key
    )
    assert (first.json()["has_more"], second.json()["has_more"]) == (True, False)
    assert [first.json()["data"][0]["type"], second.json()["data"][0]["type"]] == ["refund", "charge"]

    result = cli(server, tmp_path, "--date", today(server).isoformat())
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"card {today(server).isoformat()}: clean" in result.stdout
    assert "matched: 1 payments, 1 refunds" in result.stdout
    assert customer.phone not in result.stdout + result.stderr


def test_every_kind_of_difference_is_reported_and_a_rerun_replaces_it(
    customer: Customer, server: LiveServer, tmp_path: Path
) -> None:
    card, wechat, alipay = order(customer, "card"), order(customer, "wechatpay"), order(customer, "alipay")
    unnotified = order(customer, "alipay", approve=False)
    runtime, now = server.runtime, server.runtime.clock.now()
    with runtime.sessions() as session, transaction(session):
        # Alipay took the money but its notification never reached us.
        session.execute(
            update(SandboxAlipayTrade)
            .where(SandboxAlipayTrade.out_trade_no == unnotified["payment"]["reference"])
            .values(status="TRADE_SUCCESS", paid_at=now, buyer_id="2088000000000001")
        )
        # WeChat Pay captured a cent more than we booked; the card provider settled in another currency.
        session.execute(
            update(SandboxWechatPayTransaction)
            .where(SandboxWechatPayTransaction.out_trade_no == wechat["payment"]["reference"])
            .values(amount=SandboxWechatPayTransaction.amount + 1)
        )
        session.execute(
            update(SandboxCardBalanceTransaction)
            .where(SandboxCardBalanceTransaction.intent_id == card["payment"]["reference"])
            .values(currency="cny")
        )
    # A refund made at Alipay itself (its merchant console), which our books never saw.
    total = Money(alipay["total"]["amount"], alipay["total"]["currency"])
    runtime.providers["alipay"].client.refund(alipay["payment"]["reference"], total, "console-1")

    reports = {p: reconcile_day(runtime, provider=p, day=today(server)) for p in PROVIDERS}

    found = {
        p: sorted((d.kind, d.line_kind, d.reference) for d in report.differences)
        for p, report in reports.items()
    }
    assert found == {
        "alipay": sorted(
            [
                (MISSING_IN_BOOKS, PAYMENT, unnotified["payment"]["reference"]),
                (MISSING_IN_BOOKS, REFUND, alipay["payment"]["reference"]),
            ]
        ),
        "card": [(CURRENCY_MISMATCH, PAYMENT, card["payment"]["reference"])],
        "wechatpay": [(AMOUNT_MISMATCH, PAYMENT, wechat["payment"]["reference"])],
    }
    [mismatch] = reports["wechatpay"].differences
    assert mismatch.provider_amount is not None and mismatch.booked_amount is not None
    assert mismatch.provider_amount.amount == mismatch.booked_amount.amount + 1
    [console] = [d for d in reports["alipay"].differences if d.line_kind == REFUND]
    assert console.refund_no == "console-1" and console.provider_amount == total
    assert reports["alipay"].matched_payments == 1

    result = cli(server, tmp_path, "--date", today(server).isoformat(), "--provider", "alipay")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "alipay" in result.stdout and "DIFFERENCES" in result.stdout
    assert f"missing_in_books refund {alipay['payment']['reference']} refund_no=console-1" in result.stdout
    assert "card" not in result.stdout

    with runtime.sessions() as session, transaction(session):
        first = get_run(session, provider="wechatpay", day=today(server))
        assert first is not None and first.difference_count == 1
        assert [d.kind for d in differences_of(session, first.id)] == [AMOUNT_MISMATCH]
        session.execute(
            update(SandboxWechatPayTransaction)
            .where(SandboxWechatPayTransaction.out_trade_no == wechat["payment"]["reference"])
            .values(amount=SandboxWechatPayTransaction.amount - 1)
        )
    assert reconcile_day(runtime, provider="wechatpay", day=today(server)).clean
    with runtime.sessions() as session, transaction(session):
        again = get_run(session, provider="wechatpay", day=today(server))
        assert again is not None and again.id == first.id
        assert (again.status, again.difference_count, differences_of(session, again.id)) == ("clean", 0, [])


def test_the_daily_sweep_reconciles_yesterday_and_warns(
    customer: Customer, server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    wechat = order(customer, "wechatpay")
    with server.runtime.sessions() as session, transaction(session):
        session.execute(
            update(SandboxWechatPayTransaction)
            .where(SandboxWechatPayTransaction.out_trade_no == wechat["payment"]["reference"])
            .values(currency="CNY")
        )
    # Tomorrow at 08:00 Hong Kong time the bills are not out yet; at noon the sweep reconciles today.
    tomorrow = hk_day_start(server.runtime.clock.now()) + timedelta(days=1)
    reconcile_yesterday(server.runtime, {"period": (tomorrow + timedelta(hours=8)).isoformat()})
    with server.runtime.sessions() as session, transaction(session):
        assert all(get_run(session, provider=p, day=today(server)) is None for p in PROVIDERS)

    with caplog.at_level(logging.WARNING, logger="crossbay.reconciliation"):
        reconcile_yesterday(server.runtime, {"period": (tomorrow + timedelta(hours=12)).isoformat()})
        reconcile_yesterday(server.runtime, {"period": (tomorrow + timedelta(hours=13)).isoformat()})

    [warning] = [r for r in caplog.records if r.getMessage() == "reconciliation found differences"]
    assert warning.__dict__["provider"] == "wechatpay" and warning.__dict__["differences"] == 1
    with server.runtime.sessions() as session, transaction(session):
        runs = {p: get_run(session, provider=p, day=today(server)) for p in PROVIDERS}
        assert {p: run.status if run else None for p, run in runs.items()} == {
            "alipay": "clean",
            "card": "clean",
            "wechatpay": "differences",
        }
        wechat_run = runs["wechatpay"]
        assert wechat_run is not None
        [difference] = differences_of(session, wechat_run.id)
        assert (difference.kind, difference.provider_currency) == (CURRENCY_MISMATCH, "CNY")
