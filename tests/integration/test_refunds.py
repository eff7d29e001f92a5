"""Provider refunds end on the provider's word: pending until notified, failed refunds asked for again."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crossbay.clock import ShiftedClock
from crossbay.db import new_id, transaction
from crossbay.jobs.models import Job
from crossbay.ledger import service as ledger
from crossbay.money import Money
from crossbay.orders import service as orders
from crossbay.payments import service as payments
from crossbay.payments.errors import RefundBeforePayment
from crossbay.payments.models import Payment, ProviderEvent
from crossbay.payments.service import PaymentNotice
from crossbay.payments.wechatpay import WechatPayProvider
from crossbay.runtime import Runtime
from crossbay.sandbox.wechatpay_models import SandboxWechatPayRefund, SandboxWechatPayTransaction
from tests.conftest import LiveServer
from tests.support.journey import Customer, first_package, poll, wait_fulfilled


def buy_with_wechatpay(customer: Customer, *, payer_account: str = "ok") -> dict[str, Any]:
    body = {"package_id": first_package(customer, "new_esim")["id"], "payment_method": "wechatpay"}
    placed = customer.post("/api/v1/orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}).json()
    reference = placed["payment"]["reference"]
    approved = customer.client().post(
        f"/sandbox/pay/wechatpay/{reference}/approve?payer_account={payer_account}"
    )
    assert approved.status_code == 200, approved.text
    return wait_fulfilled(customer, placed["id"])


def staff_refund(server: LiveServer, order_id: str) -> None:
    runtime = server.runtime
    with runtime.sessions() as session, transaction(session):
        orders.refund_order(
            session,
            order_id=order_id,
            settings=runtime.settings,
            now=runtime.clock.now(),
            reason="customer asked",
        )


def payment_of(server: LiveServer, order_id: str) -> Payment:
    with server.runtime.sessions() as session, transaction(session):
        return session.scalars(select(Payment).where(Payment.order_id == order_id)).one()


def steps(customer: Customer, order_id: str) -> list[str | None]:
    return [entry.get("step") for entry in customer.get(f"/api/v1/orders/{order_id}").json()["timeline"]]


def test_a_processing_refund_ends_refunded_when_wechat_pay_notifies_success(
    customer: Customer, server: LiveServer
) -> None:
    order = buy_with_wechatpay(customer)
    staff_refund(server, order["id"])

    refunded = poll(
        lambda: customer.get(f"/api/v1/orders/{order['id']}").json(), lambda o: o["status"] == "refunded"
    )

    assert refunded["payment"]["status"] == "refunded"
    assert "refund_pending" in steps(
        customer, order["id"]
    )  # the answer was PROCESSING, the notice settled it
    texts = poll(
        lambda: (
            customer.client().get("/sandbox/sms/messages", params={"phone": customer.phone}).json()["items"]
        ),
        lambda items: any("refund" in m["body"] or "退款" in m["body"] for m in items),
    )
    assert any("88" in m["body"] or "48" in m["body"] for m in texts)
    inbox = customer.get("/api/v1/me/notifications").json()["items"]
    assert [n["kind"] for n in inbox].count("order_refunded") == 1  # and in the app's inbox, once
    with server.runtime.sessions() as session, transaction(session):
        assert ledger.check_ledger(session).ok


def test_a_refund_that_fails_at_the_provider_can_be_asked_for_again(
    customer: Customer, server: LiveServer
) -> None:
    order = buy_with_wechatpay(customer, payer_account="closed")
    staff_refund(server, order["id"])

    poll(lambda: payment_of(server, order["id"]).status, lambda s: s == payments.REFUND_FAILED)
    assert customer.get(f"/api/v1/orders/{order['id']}").json()["status"] == "fulfilled"
    assert "refund_failed" in steps(customer, order["id"])
    reference = payment_of(server, order["id"]).reference
    with server.runtime.sessions() as session, transaction(session):
        assert ledger.check_ledger(session).ok
        # The payer's account works again (support sorted it out with them): staff ask once more.
        session.execute(
            update(SandboxWechatPayTransaction)
            .where(SandboxWechatPayTransaction.out_trade_no == reference)
            .values(payer_account="ok")
        )
    staff_refund(server, order["id"])
    staff_refund(server, order["id"])  # asked twice: still one new attempt

    poll(lambda: customer.get(f"/api/v1/orders/{order['id']}").json()["status"], lambda s: s == "refunded")
    payment = payment_of(server, order["id"])
    with server.runtime.sessions() as session, transaction(session):
        attempts = session.scalars(
            select(SandboxWechatPayRefund.out_refund_no).where(
                SandboxWechatPayRefund.out_trade_no == payment.reference
            )
        ).all()
        assert sorted(attempts) == [f"refund-{payment.id}", f"refund-{payment.id}-2"]
        refunds = [tx for tx in ledger.postings_for(session, payment.id) if tx.kind == "payment.refunded"]
        assert len(refunds) == 1
        assert ledger.check_ledger(session).ok


def pending_payment(session: Session, runtime: Runtime, status: str) -> Payment:
    now = runtime.clock.now()
    payment = Payment(
        id=new_id("pay"),
        provider="wechatpay",
        reference=new_id("pay"),
        status=status,
        amount=8800,
        currency="HKD",
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    return payment


def notice(payment: Payment, *, kind: str, outcome: str) -> PaymentNotice:
    return PaymentNotice(
        "wechatpay", str(uuid.uuid4()), kind, str(payment.reference), Money(8800, "HKD"), outcome
    )


def test_a_refund_notice_before_the_payment_is_captured_is_refused_unrecorded(server: LiveServer) -> None:
    runtime = server.runtime
    with runtime.sessions() as session, transaction(session):
        payment = pending_payment(session, runtime, payments.PENDING)
    early = notice(payment, kind=payments.REFUND_NOTICE, outcome=payments.REFUNDED_OUTCOME)

    with pytest.raises(RefundBeforePayment), runtime.sessions() as session, transaction(session):
        payments.record_notice(session, early, now=runtime.clock.now())

    with runtime.sessions() as session, transaction(session):
        assert session.scalar(select(func.count()).select_from(ProviderEvent)) == 0
        assert session.get(Payment, payment.id).status == payments.PENDING  # type: ignore[union-attr]
        assert ledger.check_ledger(session).transactions == 0


def test_money_that_arrives_after_the_payment_was_canceled_is_captured_and_refunded(
    customer: Customer, server: LiveServer
) -> None:
    body = {"package_id": first_package(customer, "new_esim")["id"], "payment_method": "card"}
    placed = customer.post("/api/v1/orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}).json()
    assert customer.post(f"/api/v1/orders/{placed['id']}/cancel").json()["status"] == "cancelled"
    payment, runtime = payment_of(server, placed["id"]), server.runtime

    def notice_of(event_id: str, kind: str, outcome: str) -> PaymentNotice:
        amount = Money(payment.amount, payment.currency)
        return PaymentNotice("card", event_id, kind, str(payment.reference), amount, outcome)

    # The provider says canceled; then the payer's success, which crossed our close, arrives.
    for verified in (
        notice_of("evt_canceled", "payment_intent.canceled", "canceled"),
        notice_of("evt_late_success", "payment_intent.succeeded", "succeeded"),
    ):
        with runtime.sessions() as session, transaction(session):
            orders.apply_payment_notice(session, verified, settings=runtime.settings, now=runtime.clock.now())

    with runtime.sessions() as session, transaction(session):
        kinds = [tx.kind for tx in ledger.postings_for(session, payment.id)]
        assert kinds[0] == "payment.captured"
        refund_jobs = session.scalar(
            select(func.count()).select_from(Job).where(Job.dedupe_key == f"refund:{payment.id}")
        )
        assert refund_jobs == 1
        assert ledger.check_ledger(session).ok
    # The provider's refund notice, twice (at least once is its promise): the order stays cancelled,
    # and the customer is told once that the money is back.
    for _ in range(2):
        with runtime.sessions() as session, transaction(session):
            refunded = notice_of("evt_refunded", payments.REFUND_NOTICE, payments.REFUNDED_OUTCOME)
            orders.apply_payment_notice(session, refunded, settings=runtime.settings, now=runtime.clock.now())
    assert payment_of(server, placed["id"]).status == payments.REFUNDED
    inbox = customer.get("/api/v1/me/notifications").json()["items"]
    assert [n["kind"] for n in inbox].count("order_refunded") == 1
    assert customer.get(f"/api/v1/orders/{placed['id']}").json()["status"] == "cancelled"


def test_a_pending_refund_whose_notification_is_lost_is_settled_by_asking(
    customer: Customer, server: LiveServer
) -> None:
    order = buy_with_wechatpay(customer)
    provider = server.runtime.providers["wechatpay"]
    assert isinstance(provider, WechatPayProvider)
    notify_url, provider.refund_notify_url = provider.refund_notify_url, None  # WeChat Pay then tells nobody
    try:
        staff_refund(server, order["id"])
        poll(lambda: payment_of(server, order["id"]).status, lambda s: s == payments.REFUND_PENDING)
    finally:
        provider.refund_notify_url = notify_url
    assert customer.get(f"/api/v1/orders/{order['id']}").json()["status"] == "fulfilled"

    clock = server.runtime.clock
    assert isinstance(clock, ShiftedClock)
    clock.offset += timedelta(seconds=server.runtime.settings.refund_check_after_seconds + 1)

    poll(lambda: customer.get(f"/api/v1/orders/{order['id']}").json()["status"], lambda s: s == "refunded")
    with server.runtime.sessions() as session, transaction(session):
        assert ledger.check_ledger(session).ok
