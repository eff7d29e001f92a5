"""Orders: quote, place, pay, cancel, expire, and the status changes that payments and fulfilment cause."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crossbay.catalog import service as catalog
from crossbay.catalog.models import Package
from crossbay.db import new_id
from crossbay.errors import Conflict, FieldProblem, ValidationFailed
from crossbay.esim import inventory
from crossbay.esim import service as esims
from crossbay.identity import pins
from crossbay.identity.models import Customer
from crossbay.jobs import service as jobs
from crossbay.kyc import service as kyc
from crossbay.money import Money
from crossbay.notify import delivery, messages
from crossbay.notify.preferences import IN_APP, SMS
from crossbay.orders import states
from crossbay.orders.errors import (
    OrderNotCancellable,
    OrderNotFound,
    OrderNotPayable,
    PaymentMethodUnavailable,
)
from crossbay.orders.models import Order, OrderEvent, OrderLine
from crossbay.paging import Cursor, newest_first
from crossbay.payments import service as payments
from crossbay.payments import wallet
from crossbay.payments.models import Payment
from crossbay.payments.service import PaymentNotice
from crossbay.promotions import service as promotions
from crossbay.promotions.rules import Pricing
from crossbay.settings import Settings
from crossbay.usage import service as usage

log = logging.getLogger("crossbay.orders")

NEW_ESIM, TOPUP = "new_esim", "topup"
# Methods this build can take; the API names all four so clients need not change when more arrive.
SUPPORTED_METHODS = frozenset({"card", "alipay", "wechatpay", "wallet"})
FULFIL_JOB, EXPIRE_JOB, REFUND_JOB = "orders.fulfil", "orders.expire", "orders.refund"
CANCEL_PROFILE_JOB = "esim.cancel_unused_profile"
RECONCILE_JOB = "orders.reconcile_payment"
CHECK_REFUND_JOB = "orders.check_refund"


@dataclass(frozen=True)
class QuoteLine:
    kind: str
    descriptions: dict[str, str]
    amount: Money


@dataclass(frozen=True)
class Quote:
    purpose: str
    package: Package
    lines: list[QuoteLine]
    subtotal: Money
    discount: Money
    total: Money
    pricing: Pricing | None = None  # the promotions applied; place_order redeems its coupon


def quote(
    session: Session,
    *,
    customer_id: str,
    package_id: str,
    esim_id: str | None,
    currency: str | None = None,
    coupon_code: str | None = None,
    now: datetime,
) -> Quote:
    """Price lines for a package: new eSIM without esim_id, top-up of one of the customer's eSIMs with it.

    In HKD unless another currency is asked for and the operator priced the package in it.
    Promotions follow the one stacking rule in crossbay.promotions.rules; a coupon that cannot
    apply raises its coupon error.
    """
    purpose = TOPUP if esim_id else NEW_ESIM
    package = catalog.get_package_for_sale(session, package_id, purpose=purpose)
    if esim_id is not None:
        esims.require_topup_allowed(esims.get_owned_esim(session, customer_id=customer_id, esim_id=esim_id))
    price = catalog.price_of(package, currency)
    pricing = promotions.price(
        session, customer_id=customer_id, package=package, subtotal=price, coupon_code=coupon_code, now=now
    )
    lines = [QuoteLine("package", dict(package.names), price)]
    lines += [QuoteLine("discount", d.descriptions, -d.amount) for d in pricing.discounts]
    total = Money(max(pricing.total.amount, 0), price.currency)
    return Quote(purpose, package, lines, price, pricing.discount, total, pricing)


def place_order(
    session: Session,
    *,
    customer_id: str,
    package_id: str,
    esim_id: str | None,
    payment_method: str,
    settings: Settings,
    now: datetime,
    currency: str | None = None,
    coupon_code: str | None = None,
) -> Order:
    """A new eSIM needs a verified identity with quota left; a top-up needs a live eSIM of this customer.

    The order is booked in the currency it is paid in: the ledger never converts.
    """
    if payment_method not in SUPPORTED_METHODS:
        raise PaymentMethodUnavailable(f"{payment_method} is not available yet; use card")
    priced = quote(
        session,
        customer_id=customer_id,
        package_id=package_id,
        esim_id=esim_id,
        currency=currency,
        coupon_code=coupon_code,
        now=now,
    )
    if payment_method == wallet.WALLET and priced.total.currency != wallet.CURRENCY:
        raise PaymentMethodUnavailable(
            f"the wallet holds {wallet.CURRENCY}; pay in {wallet.CURRENCY} or by another method"
        )
    if priced.purpose == NEW_ESIM:
        _check_identity_quota(session, customer_id=customer_id, quota=settings.identity_esim_quota)
        _check_profile_stock(session, settings=settings)
    order = Order(
        id=new_id("ord"),
        customer_id=customer_id,
        kind=priced.purpose,
        package_id=priced.package.id,
        esim_id=esim_id,
        status=states.PENDING_PAYMENT,
        payment_method=payment_method,
        currency=priced.total.currency,
        subtotal=priced.subtotal.amount,
        discount=priced.discount.amount,
        total=priced.total.amount,
        created_at=now,
        updated_at=now,
        expires_at=now + timedelta(seconds=settings.order_ttl_seconds),
    )
    session.add(order)
    for position, line in enumerate(priced.lines):
        order.lines.append(
            OrderLine(
                id=new_id("oln"),
                position=position,
                kind=line.kind,
                descriptions=line.descriptions,
                amount=line.amount.amount,
                currency=line.amount.currency,
            )
        )
    _record(order, states.PENDING_PAYMENT, None, now)
    if priced.pricing is not None:
        promotions.redeem(
            session, pricing=priced.pricing, order_id=order.id, customer_id=customer_id, now=now
        )
    payments.create_payment(
        session,
        customer_id=customer_id,
        order_id=order.id,
        provider=payment_method,
        amount=priced.total,
        now=now,
    )
    jobs.enqueue(
        session,
        EXPIRE_JOB,
        {"order_id": order.id},
        now=now,
        run_at=order.expires_at,
        max_attempts=settings.job_max_attempts,
        dedupe_key=f"expire:{order.id}",
    )
    if payment_method != wallet.WALLET:
        # A notification can be lost: a few minutes on, ask the provider instead of waiting for it.
        jobs.enqueue(
            session,
            RECONCILE_JOB,
            {"order_id": order.id},
            now=now,
            run_at=now + timedelta(seconds=settings.payment_reconcile_after_seconds),
            max_attempts=settings.job_max_attempts,
            dedupe_key=f"reconcile:{order.id}",
        )
    return order


def _check_identity_quota(
    session: Session, *, customer_id: str, quota: int, excluding: str | None = None
) -> None:
    identity = kyc.require_verified_identity(session, customer_id=customer_id)
    holders = kyc.lock_document_holders(session, identity=identity)
    held = esims.count_live_esims(session, customer_ids=holders)
    pending = session.scalar(
        select(func.count()).where(
            Order.customer_id.in_(holders),
            Order.kind == NEW_ESIM,
            Order.status.in_(states.OPEN),
            # Once fulfilment has created the eSIM row, the eSIM itself is counted above.
            Order.esim_id.is_(None),
            Order.id != (excluding or ""),
        )
    )
    kyc.check_quota(held + int(pending or 0), quota)


def recheck_identity_quota(session: Session, *, order: Order, quota: int) -> None:
    """At fulfilment, before the eSIM exists: this paid order must still fit its document's quota
    (the quota may have been lowered, or the identity changed, since it was placed)."""
    _check_identity_quota(session, customer_id=order.customer_id, quota=quota, excluding=order.id)


def _check_profile_stock(session: Session, *, settings: Settings) -> None:
    """Fail before payment when every profile we hold at the SM-DP+ is promised to an order on its way.

    Only for an SM-DP+ whose stock is loaded here; fulfilment stays the authority (a race past this
    check ends in the SM-DP+'s answer, and a refusal there is refunded).
    """
    available = inventory.available_profiles(session, smdp=inventory.smdp_of(settings))
    if available is None:
        return
    awaiting = session.scalar(
        select(func.count()).where(
            Order.kind == NEW_ESIM, Order.status.in_(states.OPEN), Order.esim_id.is_(None)
        )
    )
    inventory.require_stock(available=available, awaiting=int(awaiting or 0))


def holds_or_awaits_esim(session: Session, *, customer_id: str) -> bool:
    """A live eSIM, or a new one on its way: the identity it is registered under must not change."""
    if esims.count_live_esims(session, customer_ids=[customer_id]):
        return True
    return bool(
        session.scalar(
            select(func.count()).where(
                Order.customer_id == customer_id, Order.kind == NEW_ESIM, Order.status.in_(states.OPEN)
            )
        )
    )


def _record(order: Order, status: str, step: str | None, now: datetime) -> None:
    order.events.append(OrderEvent(id=new_id("oev"), seq=len(order.events), status=status, step=step, at=now))


def transition(order: Order, new_status: str, *, now: datetime, step: str | None = None) -> None:
    states.check_transition(order.status, new_status)
    order.status = new_status
    order.updated_at = now
    _record(order, new_status, step, now)


def record_step(order: Order, step: str, *, now: datetime) -> None:
    """A fulfilment step inside the current status, kept on the timeline."""
    if not any(event.step == step for event in order.events):
        _record(order, order.status, step, now)


def count_by_status(session: Session) -> dict[str, int]:
    return {
        status: count
        for status, count in session.execute(select(Order.status, func.count()).group_by(Order.status))
    }


def get_order(session: Session, order_id: str, *, lock: bool = False) -> Order:
    order = session.get(Order, order_id, with_for_update=lock)
    if order is None:
        raise OrderNotFound()
    return order


def get_owned_order(session: Session, *, customer_id: str, order_id: str) -> Order:
    order = session.get(Order, order_id)
    if order is None or order.customer_id != customer_id:
        raise OrderNotFound()
    return order


def list_orders(session: Session, *, customer_id: str, limit: int, before: Cursor | None) -> list[Order]:
    query = select(Order).where(Order.customer_id == customer_id)
    return list(session.scalars(newest_first(query, Order.created_at, Order.id, before=before, limit=limit)))


def cancel_order(session: Session, *, customer_id: str, order_id: str, now: datetime) -> Order:
    """Only an unpaid order can be cancelled."""
    order = get_owned_order(session, customer_id=customer_id, order_id=order_id)
    session.refresh(order, with_for_update=True)
    if order.status != states.PENDING_PAYMENT:
        raise OrderNotCancellable()
    transition(order, states.CANCELLED, now=now)
    promotions.release_for_order(session, order_id=order.id, now=now)
    return order


def expire_order(session: Session, *, order_id: str, now: datetime) -> Order:
    """Unpaid after its time: expired. Paid or gone elsewhere meanwhile: nothing to do."""
    order = get_order(session, order_id, lock=True)
    if order.status == states.PENDING_PAYMENT and order.expires_at <= now:
        transition(order, states.EXPIRED, now=now)
        promotions.release_for_order(session, order_id=order.id, now=now)
    return order


def apply_payment_notice(
    session: Session, notice: PaymentNotice, *, settings: Settings, now: datetime
) -> Payment:
    """A verified provider notice: a first success pays its order (or completes its wallet top-up).

    Money that arrives for an order that can no longer be paid (cancelled,
    expired) is refunded, never kept. A refund notice finishes a pending refund,
    or marks it failed for staff to ask again.
    """
    result = payments.record_notice(session, notice, now=now)
    if result.newly_refunded:
        _refund_done(session, result.payment, now=now)
    elif result.refund_failed:
        _refund_failed(session, result.payment, now=now)
    if not result.newly_succeeded:
        return result.payment
    if result.payment.order_id is None:
        if not wallet.complete_topup(session, payment=result.payment, now=now):
            enqueue_refund(
                session,
                payment_id=result.payment.id,
                settings=settings,
                now=now,
                reason="paid after the top-up expired",
            )
        return result.payment
    _settle_order(session, result.payment, settings=settings, now=now)
    return result.payment


def pay_with_wallet(
    session: Session, *, customer: Customer, order_id: str, pin: str | None, settings: Settings, now: datetime
) -> Order:
    """Stored value pays the order at once, after the payment PIN; paying twice never takes money twice."""
    order = get_owned_order(session, customer_id=customer.id, order_id=order_id)
    session.refresh(order, with_for_update=True)
    if order.status != states.PENDING_PAYMENT or order.payment_method != wallet.WALLET:
        raise OrderNotPayable()
    if pin is None:
        raise ValidationFailed(errors=[FieldProblem("pin", "missing", "Enter your 6-digit payment PIN")])
    session.refresh(customer, with_for_update=True)  # wrong PINs are counted one at a time
    pins.check_payment_pin(customer, pin=pin, now=now)
    payment = payments.latest_payments(session, [order.id])[order.id]
    wallet.pay_from_wallet(session, payment=payment, customer_id=customer.id, now=now)
    _settle_order(session, payment, settings=settings, now=now)
    return order


def pay_by_standing_instruction(
    session: Session, *, customer_id: str, order_id: str, settings: Settings, now: datetime
) -> Order:
    """Stored value pays without a PIN for an instruction the customer authorised with one (auto-renew)."""
    order = get_owned_order(session, customer_id=customer_id, order_id=order_id)
    session.refresh(order, with_for_update=True)
    if order.status != states.PENDING_PAYMENT or order.payment_method != wallet.WALLET:
        raise OrderNotPayable()
    payment = payments.latest_payments(session, [order.id])[order.id]
    wallet.pay_from_wallet(session, payment=payment, customer_id=customer_id, now=now)
    _settle_order(session, payment, settings=settings, now=now)
    return order


def _settle_order(session: Session, payment: Payment, *, settings: Settings, now: datetime) -> None:
    """Paid: fulfil it, or, if it can no longer be fulfilled, give the money back."""
    assert payment.order_id is not None
    order = get_order(session, payment.order_id, lock=True)
    if order.status == states.PENDING_PAYMENT:
        transition(order, states.PAID, now=now)
        jobs.enqueue(
            session,
            FULFIL_JOB,
            {"order_id": order.id},
            now=now,
            max_attempts=settings.job_max_attempts,
            dedupe_key=f"fulfil:{order.id}",
        )
    else:
        enqueue_refund(session, payment_id=payment.id, settings=settings, now=now)


def enqueue_refund(
    session: Session, *, payment_id: str, settings: Settings, now: datetime, reason: str = "order failed"
) -> None:
    """Give a captured payment back, once per attempt however often this is called.

    A refund the provider could not carry out is asked for again as a new attempt,
    with its own refund id at the provider.
    """
    payment = session.get(Payment, payment_id, with_for_update=True)
    assert payment is not None
    if payment.status == payments.REFUND_FAILED:
        payment.refund_attempts += 1
        payment.status = payments.SUCCEEDED  # the money is still ours until the new attempt is done
        payment.updated_at = now
    jobs.enqueue(
        session,
        REFUND_JOB,
        {"payment_id": payment_id, "reason": reason},
        now=now,
        max_attempts=settings.job_max_attempts,
        dedupe_key=refund_id_of(payment).replace("refund-", "refund:", 1),  # one job per attempt
    )


def refund_id_of(payment: Payment) -> str:
    """Our id for the payment's current refund attempt: the provider's idempotency key for it."""
    attempt = f"-{payment.refund_attempts + 1}" if payment.refund_attempts else ""
    return f"refund-{payment.id}{attempt}"


def fail_order(session: Session, *, order_id: str, settings: Settings, now: datetime) -> Order:
    """Fulfilment gave up: the order fails and its money goes back."""
    order = get_order(session, order_id, lock=True)
    if order.status in (states.PAID, states.FULFILLING):
        transition(order, states.FAILED, now=now)
        # Only the eSIM this order was creating is abandoned: a failed top-up leaves the eSIM alone.
        if order.kind == NEW_ESIM and order.esim_id is not None:
            esim = esims.abandon_unfinished(session, esim_id=order.esim_id, now=now)
            if esim.iccid is not None:
                # The SM-DP+ reserved a profile for us: hand it back so it is neither billed nor lost.
                jobs.enqueue(
                    session,
                    CANCEL_PROFILE_JOB,
                    {"esim_id": esim.id},
                    now=now,
                    max_attempts=settings.job_max_attempts,
                    dedupe_key=f"cancel-profile:{esim.id}",
                )
        payment = payments.latest_payments(session, [order.id]).get(order.id)
        if payment is not None and payment.status == payments.SUCCEEDED:
            enqueue_refund(session, payment_id=payment.id, settings=settings, now=now)
    return order


class NotRefundable(Conflict):
    code = "order_not_refundable"


def refund_order(session: Session, *, order_id: str, settings: Settings, now: datetime, reason: str) -> Order:
    """Staff give the money back for a paid order: delivered quota is withdrawn, then the payment refunded."""
    order = get_order(session, order_id, lock=True)
    payment = payments.latest_payments(session, [order.id]).get(order.id)
    if order.status not in (states.FULFILLED, states.FAILED) or payment is None:
        raise NotRefundable(f"an order that is {order.status} cannot be refunded")
    if payment.status not in payments.REFUNDABLE:
        raise NotRefundable(f"its payment is {payment.status}: nothing to refund now")
    if order.status == states.FULFILLED:
        usage.withdraw_bundle(session, order_id=order.id, now=now)
        payments.reverse_revenue(
            session, order_id=order.id, amount=Money(order.total, order.currency), now=now
        )
        promotions.reverse_discount(session, order=order, now=now)
        record_step(order, "refund_requested", now=now)
    enqueue_refund(session, payment_id=payment.id, settings=settings, now=now, reason=reason)
    return order


def mark_refunded(session: Session, *, payment_id: str, now: datetime) -> None:
    """The provider (or the wallet) gave the money back."""
    payment, newly = payments.record_refund(session, payment_id=payment_id, now=now)
    if newly:
        _refund_done(session, payment, now=now)


def mark_refund_pending(session: Session, *, payment_id: str, settings: Settings, now: datetime) -> None:
    """The provider took the refund; its refund notification will finish it, or, if that is lost, asking."""
    payment = payments.record_refund_pending(session, payment_id=payment_id, now=now)
    if payment.order_id is not None:
        record_step(get_order(session, payment.order_id, lock=True), "refund_pending", now=now)
    jobs.enqueue(
        session,
        CHECK_REFUND_JOB,
        {"payment_id": payment.id},
        now=now,
        run_at=now + timedelta(seconds=settings.refund_check_after_seconds),
        max_attempts=settings.job_max_attempts,
        dedupe_key=f"check-{refund_id_of(payment)}",
    )


def _refund_done(session: Session, payment: Payment, *, now: datetime) -> None:
    """An order's money is back with the customer (called once per refund): the order says so, and
    they are told, also when it was money that came after the order was cancelled or expired."""
    if payment.order_id is None:
        return
    order = get_order(session, payment.order_id, lock=True)
    if order.status in (states.FAILED, states.FULFILLED):
        transition(order, states.REFUNDED, now=now)
        promotions.release_for_order(session, order_id=order.id, now=now)
    _tell_customer_refunded(session, order, payment, now=now)


def _refund_failed(session: Session, payment: Payment, *, now: datetime) -> None:
    """Staff must act (ask again, or pay the customer another way); the log line is their alert."""
    log.warning(
        "refund failed at the provider", extra={"payment_id": payment.id, "provider": payment.provider}
    )
    if payment.order_id is not None:
        record_step(get_order(session, payment.order_id, lock=True), "refund_failed", now=now)


def _tell_customer_refunded(session: Session, order: Order, payment: Payment, *, now: datetime) -> None:
    """By SMS and in the inbox whatever the reminder settings: this is about their money, not a reminder."""
    customer = session.get(Customer, order.customer_id)
    if customer is None:
        return
    delivery.deliver(
        session,
        customer=customer,
        kind=messages.ORDER_REFUNDED,
        values={"amount": {"amount": payment.amount, "currency": payment.currency}, "order_id": order.id},
        channels=(SMS, IN_APP),
        now=now,
    )
