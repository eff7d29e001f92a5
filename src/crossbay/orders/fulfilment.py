"""Worker side of an order: fulfil (ES2+ then quota), expire, refund.

Each step commits before the next network call and is safe to repeat: the
ES2+ call ids are fixed on the eSIM row, the bundle is unique per order, and
every status change re-checks the state under a row lock.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from crossbay.catalog import service as catalog
from crossbay.db import transaction
from crossbay.errors import CrossbayError
from crossbay.esim import inventory
from crossbay.esim import service as esims
from crossbay.kyc.errors import IdentityQuotaExceeded, IdentityRequired
from crossbay.money import Money
from crossbay.orders import service as orders
from crossbay.orders import states
from crossbay.orders.models import Order
from crossbay.payments import service as payments
from crossbay.payments.checkout import close_checkout
from crossbay.payments.providers import REFUND_SUCCEEDED
from crossbay.payments.wallet import WALLET
from crossbay.promotions import service as promotions
from crossbay.runtime import Runtime
from crossbay.usage import service as usage

log = logging.getLogger("crossbay.fulfilment")


def fulfil_order(runtime: Runtime, payload: dict[str, Any]) -> None:
    order_id = str(payload["order_id"])
    with runtime.sessions() as session, transaction(session):
        order = orders.get_order(session, order_id, lock=True)
        if order.status == states.PAID:
            orders.transition(order, states.FULFILLING, now=runtime.clock.now())
        if order.status != states.FULFILLING:
            return  # already fulfilled, or failed meanwhile
        fresh = order.kind == orders.NEW_ESIM and order.esim_id is None
        if fresh and not _within_quota(runtime, session, order):
            return
        if order.kind == orders.NEW_ESIM:
            esim = esims.start_profile(
                session, customer_id=order.customer_id, order_id=order.id, now=runtime.clock.now()
            )
            order.esim_id = esim.id
            esim_id, iccid, matching_id = esim.id, esim.iccid, esim.matching_id
            download_call, confirm_call = esim.download_call_id, esim.confirm_call_id

    if order.kind == orders.NEW_ESIM:
        if iccid is None:
            iccid = runtime.es2plus.download_order(call_id=download_call)
            with runtime.sessions() as session, transaction(session):
                esims.record_iccid(session, esim_id=esim_id, iccid=iccid, now=runtime.clock.now())
                inventory.allocate(
                    session,
                    smdp=inventory.smdp_of(runtime.settings),
                    iccid=iccid,
                    esim_id=esim_id,
                    now=runtime.clock.now(),
                )
                orders.record_step(
                    orders.get_order(session, order_id, lock=True),
                    "profile_reserved",
                    now=runtime.clock.now(),
                )
        if matching_id is None:
            confirmed = runtime.es2plus.confirm_order(call_id=confirm_call, iccid=iccid, release_flag=True)
            with runtime.sessions() as session, transaction(session):
                esims.record_release(
                    session,
                    esim_id=esim_id,
                    matching_id=confirmed.matching_id,
                    smdp_address=confirmed.smdp_address,
                    now=runtime.clock.now(),
                )
                orders.record_step(
                    orders.get_order(session, order_id, lock=True),
                    "profile_released",
                    now=runtime.clock.now(),
                )

    with runtime.sessions() as session, transaction(session):
        now = runtime.clock.now()
        order = orders.get_order(session, order_id, lock=True)
        if order.status != states.FULFILLING or order.esim_id is None:
            return
        package = catalog.get_package(session, order.package_id)
        usage.add_bundle(session, esim_id=order.esim_id, order_id=order.id, package=package, now=now)
        payments.recognize_revenue(
            session, order_id=order.id, amount=Money(order.total, order.currency), now=now
        )
        promotions.book_discount(session, order=order, now=now)
        orders.transition(order, states.FULFILLED, now=now, step="quota_added")
    log.info("order fulfilled", extra={"order_id": order_id})


def _within_quota(runtime: Runtime, session: Session, order: Order) -> bool:
    """Checked again before the profile is ordered; a paid order over quota fails and is refunded.

    Runs inside fulfilment's first transaction, with the order row locked.
    """
    try:
        orders.recheck_identity_quota(session, order=order, quota=runtime.settings.identity_esim_quota)
    except (IdentityQuotaExceeded, IdentityRequired) as refused:
        orders.record_step(order, refused.code, now=runtime.clock.now())
        orders.fail_order(session, order_id=order.id, settings=runtime.settings, now=runtime.clock.now())
        log.warning("paid order refused at fulfilment: " + refused.code, extra={"order_id": order.id})
        return False
    return True


def give_up_fulfilment(runtime: Runtime, payload: dict[str, Any]) -> None:
    with runtime.sessions() as session, transaction(session):
        orders.fail_order(
            session, order_id=str(payload["order_id"]), settings=runtime.settings, now=runtime.clock.now()
        )
    log.warning("order failed after its last fulfilment attempt", extra={"order_id": payload["order_id"]})


def expire_order(runtime: Runtime, payload: dict[str, Any]) -> None:
    with runtime.sessions() as session, transaction(session):
        order = orders.expire_order(session, order_id=str(payload["order_id"]), now=runtime.clock.now())
        payment = payments.latest_payments(session, [order.id]).get(order.id)
        expired = order.status == states.EXPIRED
    if expired and payment is not None:
        close_checkout(runtime, payment)


def cancel_unused_profile(runtime: Runtime, payload: dict[str, Any]) -> None:
    with runtime.sessions() as session, transaction(session):
        esim = esims.get_esim(session, str(payload["esim_id"]))
    if esim is None or esim.iccid is None or esim.status != esims.TERMINATED:
        return
    runtime.es2plus.cancel_order(
        call_id=esims.cancel_call_id(esim), iccid=esim.iccid, final_profile_status="Available"
    )
    with runtime.sessions() as session, transaction(session):
        inventory.give_back(session, iccid=esim.iccid)
    log.info("unused profile handed back to the SM-DP+", extra={"esim_id": esim.id})


def reconcile_payment(runtime: Runtime, payload: dict[str, Any]) -> None:
    """Still unpaid after a few minutes: the provider's answer settles it as its notification would have."""
    with runtime.sessions() as session, transaction(session):
        order = orders.get_order(session, str(payload["order_id"]))
        payment = payments.latest_payments(session, [order.id]).get(order.id)
        waiting = order.status == states.PENDING_PAYMENT
    if not waiting or payment is None or payment.reference is None or payment.status != payments.PENDING:
        return
    notice = runtime.providers[payment.provider].query(reference=payment.reference, payment_id=payment.id)
    if notice is None:
        return
    with runtime.sessions() as session, transaction(session):
        orders.apply_payment_notice(session, notice, settings=runtime.settings, now=runtime.clock.now())
    log.info(
        "payment settled by asking the provider", extra={"order_id": order.id, "outcome": notice.outcome}
    )


def refund_payment(runtime: Runtime, payload: dict[str, Any]) -> None:
    payment_id = str(payload["payment_id"])
    with runtime.sessions() as session, transaction(session):
        payment = payments.get_payment(session, payment_id)
    if payment is None or payment.status != payments.SUCCEEDED or payment.reference is None:
        return
    if payment.provider == WALLET:
        result = REFUND_SUCCEEDED  # stored value goes straight back
    else:  # providers are asked first; the books change only on their answer
        result = runtime.providers[payment.provider].refund(
            reference=payment.reference,
            refund_id=orders.refund_id_of(payment),
            amount=Money(payment.amount, payment.currency),
        )
    with runtime.sessions() as session, transaction(session):
        if result == REFUND_SUCCEEDED:
            orders.mark_refunded(session, payment_id=payment_id, now=runtime.clock.now())
        else:
            orders.mark_refund_pending(
                session, payment_id=payment_id, settings=runtime.settings, now=runtime.clock.now()
            )
    log.info("payment refund " + result.status, extra={"payment_id": payment_id})


class RefundStillPending(CrossbayError):
    """The provider is still working on the refund: ask again later (the job retries with backoff)."""

    code = "refund_still_pending"
    retryable: ClassVar[bool] = True


def check_refund(runtime: Runtime, payload: dict[str, Any]) -> None:
    """A pending refund whose notification never came: ask the provider how it ended."""
    payment_id = str(payload["payment_id"])
    with runtime.sessions() as session, transaction(session):
        payment = payments.get_payment(session, payment_id)
    if payment is None or payment.status != payments.REFUND_PENDING or payment.reference is None:
        return  # the notification came first
    notice = runtime.providers[payment.provider].query_refund(
        reference=payment.reference,
        refund_id=orders.refund_id_of(payment),
        amount=Money(payment.amount, payment.currency),
    )
    if notice is None:
        raise RefundStillPending()
    with runtime.sessions() as session, transaction(session):
        orders.apply_payment_notice(session, notice, settings=runtime.settings, now=runtime.clock.now())
    log.info(
        "refund settled by asking the provider", extra={"payment_id": payment_id, "outcome": notice.outcome}
    )


def refund_check_gave_up(runtime: Runtime, payload: dict[str, Any]) -> None:
    log.warning(
        "refund still pending at the provider: staff to follow up",
        extra={"payment_id": payload["payment_id"]},
    )
