"""Auto-renew: a standing instruction to buy a pack when the eSIM's last pack of that kind ends.

The customer authorises it once, with their payment PIN or login password, when they set it
(``set_auto_renew``); each renewal is then paid from the wallet without a PIN, within the wallet's
rules (never overdrawn). If the wallet is short, the bound preferred method would be charged only
if it could be charged without the payer present; none of the providers here can (each needs
the payer at its cashier), so the customer is told and no order is made. Success and failure are
both notified, and an ``auto_renewals`` row per ended bundle (unique) means never twice for one
exhaustion or expiry.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.audit import service as audit
from crossbay.audit.origin import NO_ORIGIN, Origin
from crossbay.catalog import service as catalog
from crossbay.db import new_id
from crossbay.errors import CrossbayError, FieldProblem, ValidationFailed
from crossbay.esim import service as esims
from crossbay.esim.models import Esim
from crossbay.identity import pins
from crossbay.identity import service as identity
from crossbay.identity.models import Customer
from crossbay.notify import messages
from crossbay.notify.delivery import deliver
from crossbay.notify.models import AutoRenewal
from crossbay.notify.preferences import IN_APP, preferences_of
from crossbay.orders import service as orders
from crossbay.payments import wallet
from crossbay.settings import Settings
from crossbay.usage import service as usage
from crossbay.usage.models import Bundle

log = logging.getLogger("crossbay.notify")

AUTO_RENEW_CHANGED = "auto_renew.changed"
ORDERED, FAILED = "ordered", "failed"


def set_auto_renew(
    session: Session,
    *,
    customer: Customer,
    esim_id: str,
    package_id: str | None,
    pin: str | None,
    password: str | None,
    settings: Settings,
    now: datetime,
    origin: Origin = NO_ORIGIN,
) -> Esim:
    """Turn auto-renew on (a top-up pack on sale, for a live eSIM, authorised by PIN or password) or off."""
    esim = esims.get_owned_esim(session, customer_id=customer.id, esim_id=esim_id)
    session.refresh(esim, with_for_update=True)
    before = esim.auto_renew_package_id
    proof = None
    if package_id is not None:
        catalog.get_package_for_sale(session, package_id, purpose=orders.TOPUP)
        esims.require_topup_allowed(esim)
        session.refresh(customer, with_for_update=True)  # wrong PINs are counted one at a time
        if pin is not None:
            pins.check_payment_pin(customer, pin=pin, now=now)
            proof = "pin"
        elif password is not None:
            identity.check_password(
                session,
                phone=customer.phone,
                customer=customer,
                password=password,
                settings=settings,
                now=now,
            )
            proof = "password"
        else:
            raise ValidationFailed(
                errors=[FieldProblem("pin", "missing", "Confirm with your payment PIN or login password")]
            )
    esim.auto_renew_package_id = package_id
    esim.updated_at = now
    if before != package_id:
        audit.record(
            session,
            action=AUTO_RENEW_CHANGED,
            actor=audit.Actor.customer(customer.id),
            customer_id=customer.id,
            now=now,
            origin=origin,
            target=("esim", esim.id),
            changes=[audit.Change("auto_renew_package_id", before, package_id)],
            context={"proof": proof} if proof else None,
        )
    return esim


def renew_if_due(
    session: Session, *, esim: Esim, customer: Customer, ended: Bundle, settings: Settings, now: datetime
) -> AutoRenewal | None:
    """A bundle ran out or expired: buy the auto-renew pack if it was the eSIM's last live one of its kind."""
    package_id = esim.auto_renew_package_id
    if package_id is None:
        return None
    packages = catalog.get_packages(session, [package_id, ended.package_id])
    wanted, ended_package = packages.get(package_id), packages.get(ended.package_id)
    if wanted is None or ended_package is None or wanted.kind != ended_package.kind:
        return None
    for bundle in usage.bundles_for(session, [esim.id])[esim.id]:
        same_kind = packages.get(bundle.package_id) or catalog.get_package(session, bundle.package_id)
        live = bundle.status in (usage.ACTIVE, usage.QUEUED)
        if bundle.id != ended.id and live and same_kind.kind == wanted.kind:
            return None  # another pack of this kind carries on
    if session.scalar(select(AutoRenewal.id).where(AutoRenewal.bundle_id == ended.id)) is not None:
        return None  # exhausted, then expired: one renewal for the pair
    renewal = AutoRenewal(
        id=new_id("arn"), esim_id=esim.id, bundle_id=ended.id, package_id=package_id, at=now, outcome=FAILED
    )
    names = dict(wanted.names)
    price = catalog.price_of(wanted)
    try:
        with session.begin_nested():  # a refusal leaves no order behind
            order = orders.place_order(
                session,
                customer_id=customer.id,
                package_id=package_id,
                esim_id=esim.id,
                payment_method=wallet.WALLET,
                settings=settings,
                now=now,
            )
            orders.pay_by_standing_instruction(
                session, customer_id=customer.id, order_id=order.id, settings=settings, now=now
            )
    except CrossbayError as error:
        renewal.reason = error.code
        balance = wallet.balance(session, customer.id)
        values = {
            "package": names,
            "reason": error.code,
            "amount": {"amount": price.amount, "currency": price.currency},
            "balance": {"amount": balance.amount, "currency": balance.currency},
        }
        kind = messages.AUTO_RENEW_FAILED
        log.info("auto-renew failed", extra={"esim_id": esim.id, "code": error.code})
    else:
        renewal.outcome, renewal.order_id = ORDERED, order.id
        total = {"amount": order.total, "currency": order.currency}
        values, kind = {"package": names, "amount": total}, messages.AUTO_RENEW_SUCCEEDED
        log.info("auto-renew ordered", extra={"esim_id": esim.id, "order_id": order.id})
    session.add(renewal)
    # Money moved, or the line is about to go dark: always in the inbox, and on the chosen channels.
    channels = {*preferences_of(session, customer.id).channels, IN_APP}
    deliver(session, customer=customer, kind=kind, values=values, channels=channels, now=now)
    return renewal
