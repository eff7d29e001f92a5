"""Payments as we record them, and provider notices applied exactly once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crossbay.db import new_id
from crossbay.ledger import service as ledger
from crossbay.ledger.service import Line
from crossbay.money import Money
from crossbay.payments.errors import AmountMismatch, RefundBeforePayment, UnknownPayment
from crossbay.payments.models import Payment, ProviderEvent, WalletTopup

CREATED, PENDING, SUCCEEDED, FAILED, CANCELED, REFUNDED = (
    "created",
    "pending",
    "succeeded",
    "failed",
    "canceled",
    "refunded",
)
# A refund the provider accepted and will confirm by notification; or one it could not carry out
# (the payer's account closed, say), which staff may ask for again.
REFUND_PENDING, REFUND_FAILED = "refund_pending", "refund_failed"
REFUNDABLE = (SUCCEEDED, REFUND_FAILED)
TOPUP_EXPIRED = "expired"  # WalletTopup.status, as payments.wallet names it
SUCCEEDED_OUTCOME, FAILED_OUTCOME, CANCELED_OUTCOME = "succeeded", "failed", "canceled"
# PaymentNotice.kind of a provider's word on a refund, and its outcomes.
REFUND_NOTICE = "refund"
REFUNDED_OUTCOME, REFUND_FAILED_OUTCOME = "refunded", "refund_failed"


@dataclass(frozen=True)
class PaymentNotice:
    """A verified provider notification, reduced to what our books need."""

    provider: str
    event_id: str
    kind: str
    reference: str
    amount: Money
    outcome: str  # succeeded, failed, canceled


@dataclass(frozen=True)
class NoticeResult:
    payment: Payment
    duplicate: bool
    newly_succeeded: bool
    newly_refunded: bool = False
    refund_failed: bool = False


def create_payment(
    session: Session,
    *,
    customer_id: str,
    provider: str,
    amount: Money,
    now: datetime,
    order_id: str | None = None,
    topup_id: str | None = None,
) -> Payment:
    """A payment for an order or for a wallet top-up (exactly one of them)."""
    assert (order_id is None) != (topup_id is None)
    payment = Payment(
        id=new_id("pay"),
        customer_id=customer_id,
        order_id=order_id,
        topup_id=topup_id,
        provider=provider,
        status=CREATED,
        amount=amount.amount,
        currency=amount.currency,
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    return payment


def _credit_account(session: Session, payment: Payment) -> str:
    """Where captured money is owed: to the order until it is delivered, or into the customer's wallet.

    Money for a top-up that had already expired is held apart, never spendable, until it is refunded:
    crediting it would let late payments carry a month past its top-up limit.
    """
    if payment.topup_id is None:
        return "unearned:orders"
    topup = session.get(WalletTopup, payment.topup_id)
    if topup is not None and topup.status == TOPUP_EXPIRED:
        return "unearned:topups"
    return f"wallet:{payment.customer_id}"


def _funding_account(payment: Payment) -> str:
    """Where the money came from, and where a refund sends it back."""
    return f"wallet:{payment.customer_id}" if payment.provider == "wallet" else f"clearing:{payment.provider}"


def mark_succeeded(session: Session, *, payment: Payment, reference: str, now: datetime) -> None:
    payment.status = SUCCEEDED
    payment.reference = reference
    payment.updated_at = now


def attach_provider_session(
    session: Session, *, payment_id: str, reference: str, redirect_url: str | None, now: datetime
) -> Payment:
    """The provider accepted the payment: remember its reference and where to send the payer."""
    payment = session.get(Payment, payment_id, with_for_update=True)
    assert payment is not None
    if payment.status == CREATED:
        payment.status = PENDING
    payment.reference = reference
    payment.redirect_url = redirect_url
    payment.updated_at = now
    return payment


def latest_payments(session: Session, order_ids: Iterable[str]) -> dict[str, Payment]:
    """Each order's most recent payment, in one query."""
    ids = list(order_ids)
    found: dict[str, Payment] = {}
    if ids:
        for payment in session.scalars(
            select(Payment).where(Payment.order_id.in_(ids)).order_by(Payment.created_at, Payment.id)
        ):
            found[str(payment.order_id)] = payment
    return found


def latest_topup_payment(session: Session, topup_id: str) -> Payment | None:
    return session.scalars(
        select(Payment).where(Payment.topup_id == topup_id).order_by(Payment.created_at.desc()).limit(1)
    ).first()


def get_payment(session: Session, payment_id: str) -> Payment | None:
    return session.get(Payment, payment_id)


def record_notice(session: Session, notice: PaymentNotice, *, now: datetime) -> NoticeResult:
    """Check the notice against our payment, then apply it at most once.

    Nothing is written unless the payment exists and the amount and currency
    match exactly: a forged or mistaken notice leaves no trace but a log line.
    """
    payment = session.scalar(
        select(Payment)
        .where(Payment.provider == notice.provider, Payment.reference == notice.reference)
        .with_for_update()
    )
    if payment is None:
        raise UnknownPayment()
    if notice.amount != Money(payment.amount, payment.currency):
        raise AmountMismatch()
    if notice.kind == REFUND_NOTICE and payment.status not in (
        SUCCEEDED,
        REFUND_PENDING,
        REFUND_FAILED,
        REFUNDED,
    ):
        # Nothing of ours to refund yet: refused unrecorded, so the provider's retry is applied later.
        raise RefundBeforePayment()
    try:
        with session.begin_nested():
            session.add(
                ProviderEvent(
                    id=new_id("pev"),
                    provider=notice.provider,
                    event_id=notice.event_id,
                    kind=notice.kind,
                    payment_id=payment.id,
                    received_at=now,
                )
            )
    except IntegrityError:
        return NoticeResult(payment, duplicate=True, newly_succeeded=False)

    if notice.kind == REFUND_NOTICE:
        return _apply_refund_notice(session, payment, notice, now=now)
    # Money that arrives after we closed the payment (payer and close crossed) is still money:
    # it is captured here and the order, no longer payable, refunds it.
    if notice.outcome == SUCCEEDED_OUTCOME and payment.status in (CREATED, PENDING, FAILED, CANCELED):
        payment.status = SUCCEEDED
        payment.updated_at = now
        amount = Money(payment.amount, payment.currency)
        ledger.post(
            session,
            kind="payment.captured",
            reference=payment.id,
            now=now,
            lines=[Line(_funding_account(payment), amount), Line(_credit_account(session, payment), -amount)],
        )
        return NoticeResult(payment, duplicate=False, newly_succeeded=True)
    if notice.outcome == FAILED_OUTCOME and payment.status in (CREATED, PENDING):
        # The payer may try again from the same cashier; the order stays payable.
        payment.status = FAILED
        payment.updated_at = now
    elif notice.outcome == CANCELED_OUTCOME and payment.status in (CREATED, PENDING, FAILED):
        payment.status = CANCELED
        payment.updated_at = now
    return NoticeResult(payment, duplicate=False, newly_succeeded=False)


def _apply_refund_notice(
    session: Session, payment: Payment, notice: PaymentNotice, *, now: datetime
) -> NoticeResult:
    if notice.outcome == REFUNDED_OUTCOME and payment.status != REFUNDED:
        _book_refund(session, payment, now=now)
        return NoticeResult(payment, duplicate=False, newly_succeeded=False, newly_refunded=True)
    if notice.outcome == REFUND_FAILED_OUTCOME and payment.status == REFUND_PENDING:
        payment.status = REFUND_FAILED
        payment.updated_at = now
        return NoticeResult(payment, duplicate=False, newly_succeeded=False, refund_failed=True)
    return NoticeResult(payment, duplicate=False, newly_succeeded=False)


def record_refund(session: Session, *, payment_id: str, now: datetime) -> tuple[Payment, bool]:
    """The provider has refunded a captured payment: reverse the capture, once (True: it was now)."""
    payment = session.get(Payment, payment_id, with_for_update=True)
    assert payment is not None
    if payment.status in (SUCCEEDED, REFUND_PENDING, REFUND_FAILED):
        _book_refund(session, payment, now=now)
        return payment, True
    return payment, False


def record_refund_pending(session: Session, *, payment_id: str, now: datetime) -> Payment:
    """The provider took the refund and will say when it is done; until then the money is still ours."""
    payment = session.get(Payment, payment_id, with_for_update=True)
    assert payment is not None
    if payment.status in REFUNDABLE:
        payment.status = REFUND_PENDING
        payment.updated_at = now
    return payment


def _book_refund(session: Session, payment: Payment, *, now: datetime) -> None:
    amount = Money(payment.amount, payment.currency)
    ledger.post(
        session,
        kind="payment.refunded",
        reference=payment.id,
        now=now,
        lines=[Line(_credit_account(session, payment), amount), Line(_funding_account(payment), -amount)],
    )
    payment.status = REFUNDED
    payment.updated_at = now


def reverse_revenue(session: Session, *, order_id: str, amount: Money, now: datetime) -> None:
    """A delivered order is being refunded: its revenue is owed back before the money goes."""
    ledger.post(
        session,
        kind="order.refund_revenue",
        reference=order_id,
        now=now,
        lines=[Line("revenue:sales", amount), Line("unearned:orders", -amount)],
    )


def recognize_revenue(session: Session, *, order_id: str, amount: Money, now: datetime) -> None:
    """Delivered: what was owed to the customer becomes ours."""
    ledger.post(
        session,
        kind="order.fulfilled",
        reference=order_id,
        now=now,
        lines=[Line("unearned:orders", amount), Line("revenue:sales", -amount)],
    )
