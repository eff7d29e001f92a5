"""Every job kind the worker knows, and what to do when one gives up."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from crossbay.catalog import price_changes
from crossbay.db import transaction
from crossbay.esim import stock_watch
from crossbay.esim.jobs import release_terminated_profile
from crossbay.esim.lifecycle import RELEASE_PROFILE_JOB
from crossbay.jobs.worker import JobKind
from crossbay.notify import jobs as notify_jobs
from crossbay.orders import fulfilment
from crossbay.orders.service import (
    CANCEL_PROFILE_JOB,
    CHECK_REFUND_JOB,
    EXPIRE_JOB,
    FULFIL_JOB,
    RECONCILE_JOB,
    REFUND_JOB,
)
from crossbay.payments import service as payments
from crossbay.payments import wallet
from crossbay.payments.checkout import close_checkout
from crossbay.payments.reconciliation import RECONCILE_DAY_JOB, reconcile_yesterday
from crossbay.runtime import Runtime
from crossbay.support import watch as support_watch
from crossbay.usage import jobs as usage_jobs


def expire_topup(runtime: Runtime, payload: dict[str, Any]) -> None:
    with runtime.sessions() as session, transaction(session):
        topup = wallet.expire_topup(session, topup_id=str(payload["topup_id"]), now=runtime.clock.now())
        payment = payments.latest_topup_payment(session, topup.id) if topup else None
        expired = topup is not None and topup.status == wallet.EXPIRED
    if expired and payment is not None:
        close_checkout(runtime, payment)


def send_sms(runtime: Runtime, payload: dict[str, Any]) -> None:
    runtime.sms.send(to=str(payload["to"]), body=str(payload["body"]))


JOB_KINDS: dict[str, JobKind] = {
    "notify.sms": JobKind(send_sms),
    notify_jobs.EMAIL_JOB: JobKind(notify_jobs.send_email),
    notify_jobs.REMINDERS_JOB: JobKind(notify_jobs.sweep_reminders, every=notify_jobs.SWEEP_EVERY),
    FULFIL_JOB: JobKind(fulfilment.fulfil_order, give_up=fulfilment.give_up_fulfilment),
    EXPIRE_JOB: JobKind(fulfilment.expire_order),
    REFUND_JOB: JobKind(fulfilment.refund_payment),
    RECONCILE_JOB: JobKind(fulfilment.reconcile_payment),
    CHECK_REFUND_JOB: JobKind(fulfilment.check_refund, give_up=fulfilment.refund_check_gave_up),
    CANCEL_PROFILE_JOB: JobKind(fulfilment.cancel_unused_profile),
    wallet.EXPIRE_TOPUP_JOB: JobKind(expire_topup),
    support_watch.WATCH_JOB: JobKind(support_watch.watch_late_orders, every=support_watch.SWEEP_EVERY),
    RECONCILE_DAY_JOB: JobKind(reconcile_yesterday, every=timedelta(hours=1)),
    RELEASE_PROFILE_JOB: JobKind(release_terminated_profile),
    stock_watch.STOCK_WATCH_JOB: JobKind(stock_watch.watch_profile_stock, every=stock_watch.SWEEP_EVERY),
    usage_jobs.EXPIRE_BUNDLES_JOB: JobKind(usage_jobs.expire_bundles, every=timedelta(minutes=1)),
    price_changes.APPLY_JOB: JobKind(price_changes.apply_price_changes, every=timedelta(minutes=1)),
    usage_jobs.CLOSE_ABANDONED_JOB: JobKind(usage_jobs.close_abandoned_sessions, every=timedelta(minutes=1)),
}
