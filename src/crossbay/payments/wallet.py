"""Stored value (HKD): top-ups bought with a provider, spent on orders with the payment PIN.

The wallet is the ledger account ``wallet:<customer>``; its balance is the
customer's money we hold, and it never goes below zero.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crossbay.clock import HONG_KONG
from crossbay.db import new_id
from crossbay.errors import CrossbayError, FieldProblem, NotFound
from crossbay.jobs import service as jobs
from crossbay.ledger import service as ledger
from crossbay.ledger.service import Line
from crossbay.money import Money
from crossbay.payments import service as payments
from crossbay.payments.models import Payment, WalletTopup
from crossbay.settings import Settings

WALLET = "wallet"
CURRENCY = "HKD"
PENDING_PAYMENT, COMPLETED, FAILED, EXPIRED = "pending_payment", "completed", "failed", "expired"
EXPIRE_TOPUP_JOB = "wallet.expire_topup"


class InsufficientBalance(CrossbayError):
    code = "insufficient_balance"
    status = 402


class AmountOutOfRange(CrossbayError):
    code = "amount_out_of_range"
    status = 422


class MonthlyLimitExceeded(CrossbayError):
    code = "monthly_limit_exceeded"
    status = 422


def account_of(customer_id: str) -> str:
    return f"{WALLET}:{customer_id}"


def balance(session: Session, customer_id: str) -> Money:
    return ledger.wallet_balance(session, customer_id, CURRENCY)


def _month_start(now: datetime) -> datetime:
    local = now.astimezone(HONG_KONG)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def start_topup(
    session: Session, *, customer_id: str, amount: Money, method: str, settings: Settings, now: datetime
) -> tuple[WalletTopup, Payment]:
    """HK$50–1,000 a time and HK$3,000 a calendar month (Hong Kong time), counting top-ups still unpaid."""
    if (
        amount.currency != CURRENCY
        or not settings.wallet_topup_min <= amount.amount <= settings.wallet_topup_max
    ):
        low, high = Money(settings.wallet_topup_min, CURRENCY), Money(settings.wallet_topup_max, CURRENCY)
        raise AmountOutOfRange(
            f"between {low.format('en')} and {high.format('en')}",
            errors=[FieldProblem("amount", "amount_out_of_range", "Choose an amount within the limits")],
        )
    this_month = session.scalar(
        select(func.coalesce(func.sum(WalletTopup.amount), 0)).where(
            WalletTopup.customer_id == customer_id,
            WalletTopup.status.in_((PENDING_PAYMENT, COMPLETED)),
            WalletTopup.created_at >= _month_start(now),
        )
    )
    if int(this_month or 0) + amount.amount > settings.wallet_topup_monthly_max:
        raise MonthlyLimitExceeded(
            f"at most {Money(settings.wallet_topup_monthly_max, CURRENCY).format('en')} a month"
        )
    topup = WalletTopup(
        id=new_id("wtu"),
        customer_id=customer_id,
        status=PENDING_PAYMENT,
        amount=amount.amount,
        currency=amount.currency,
        payment_method=method,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.order_ttl_seconds),
    )
    session.add(topup)
    session.flush()  # the payment row refers to the top-up
    payment = payments.create_payment(
        session, customer_id=customer_id, provider=method, amount=amount, now=now, topup_id=topup.id
    )
    jobs.enqueue(
        session,
        EXPIRE_TOPUP_JOB,
        {"topup_id": topup.id},
        now=now,
        run_at=topup.expires_at,
        max_attempts=settings.job_max_attempts,
        dedupe_key=f"expire:{topup.id}",
    )
    return topup, payment


def get_owned_topup(session: Session, *, customer_id: str, topup_id: str) -> WalletTopup:
    topup = session.get(WalletTopup, topup_id)
    if topup is None or topup.customer_id != customer_id:
        raise NotFound()
    return topup


def complete_topup(session: Session, *, payment: Payment, now: datetime) -> bool:
    """The provider took the money (record_notice booked it): the top-up is done.

    A payment that arrives after the top-up expired completes nothing (False): record_notice held
    the money apart and the caller refunds it, so late payments cannot exceed the monthly limit.
    """
    topup = session.get(WalletTopup, payment.topup_id, with_for_update=True)
    assert topup is not None
    if topup.status == EXPIRED:
        return False
    if topup.status != COMPLETED:
        topup.status = COMPLETED
        topup.completed_at = now
    return True


def expire_topup(session: Session, *, topup_id: str, now: datetime) -> WalletTopup | None:
    topup = session.get(WalletTopup, topup_id, with_for_update=True)
    if topup is not None and topup.status == PENDING_PAYMENT and topup.expires_at <= now:
        topup.status = EXPIRED
    return topup


def pay_from_wallet(session: Session, *, payment: Payment, customer_id: str, now: datetime) -> None:
    """Spend stored value; the wallet row lock makes concurrent spends queue up, never overdraw."""
    amount = Money(payment.amount, payment.currency)
    ledger.lock_account(session, account_of(customer_id), amount.currency, now)
    if balance(session, customer_id).amount < amount.amount:
        raise InsufficientBalance()
    ledger.post(
        session,
        kind="payment.captured",
        reference=payment.id,
        now=now,
        lines=[Line(account_of(customer_id), amount), Line("unearned:orders", -amount)],
    )
    payments.mark_succeeded(session, payment=payment, reference=payment.id, now=now)
