"""Reminders: low quota, a pack used up, a pack about to end, a low wallet; each goes out once.

The reminder sweep reads the bundle events usage writes (``usage_events``: threshold, exhausted,
expired) and marks them processed in the same transaction as what they cause, scans for packs
ending within the customer's notice, and checks wallets that moved since the last run. Every
reminder claims a unique key first (kind, bundle, level), so however often a sweep runs or
repeats, none goes out twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crossbay.catalog.models import Package
from crossbay.clock import hk_date
from crossbay.db import new_id
from crossbay.esim.models import Esim
from crossbay.identity.models import Customer
from crossbay.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from crossbay.money import Money
from crossbay.notify import auto_renew, messages
from crossbay.notify.delivery import deliver
from crossbay.notify.models import NotifyCursor, ReminderSent
from crossbay.notify.preferences import Preferences, check_preferences, preferences_of, settings_row
from crossbay.payments import wallet
from crossbay.settings import Settings
from crossbay.usage import service as usage
from crossbay.usage.models import Bundle, UsageEvent

log = logging.getLogger("crossbay.notify")

THRESHOLD, EXHAUSTED, EXPIRED = "threshold", "exhausted", "expired"
LOW_BALANCE_CURSOR = "low_balance"
# Wallet movements are looked at again for this long: a posting stamped before the last run may
# commit after it. Re-reading is harmless (the armed flag makes each drop remind once).
WALLET_OVERLAP = timedelta(minutes=10)
MAX_EXPIRY_NOTICE = timedelta(days=8)


def claim(
    session: Session, *, key: str, kind: str, customer_id: str, bundle_id: str | None, now: datetime
) -> bool:
    """True the first time a reminder key is claimed; False ever after (or if a racer won)."""
    if session.scalar(select(ReminderSent.id).where(ReminderSent.key == key)) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(
                ReminderSent(
                    id=new_id("rms"), key=key, kind=kind, customer_id=customer_id, bundle_id=bundle_id, at=now
                )
            )
    except IntegrityError:
        return False
    return True


# --- settings --------------------------------------------------------------------------------------


def update_preferences(
    session: Session,
    *,
    customer: Customer,
    low_data_percent: int,
    expiry_days_before: int,
    low_balance: Money,
    channels: list[str],
    now: datetime,
) -> Preferences:
    """Save the customer's reminder choices; a new threshold applies to levels their packs have not passed."""
    prefs = check_preferences(
        low_data_percent=low_data_percent,
        expiry_days_before=expiry_days_before,
        low_balance=low_balance,
        channels=channels,
    )
    row = settings_row(session, customer.id, now=now)
    row.low_data_percent = prefs.low_data_percent
    row.expiry_days_before = prefs.expiry_days_before
    if (row.low_balance_amount, row.low_balance_currency) != (low_balance.amount, low_balance.currency):
        row.low_balance_armed = False  # re-armed by the next sweep if the wallet holds enough
    row.low_balance_amount = prefs.low_balance.amount
    row.low_balance_currency = prefs.low_balance.currency
    row.channels = list(prefs.channels)
    row.updated_at = now
    esim_ids = list(session.scalars(select(Esim.id).where(Esim.customer_id == customer.id)))
    for bundles in usage.bundles_for(session, esim_ids).values():
        for bundle in bundles:
            if bundle.status in (usage.ACTIVE, usage.QUEUED):
                _rearm(session, bundle.id, prefs)
    return prefs


def _rearm(session: Session, bundle_id: str, prefs: Preferences) -> None:
    """Point the bundle's next threshold event at the customer's next level above what it has used."""
    bundle = session.get(Bundle, bundle_id, with_for_update=True)
    if bundle is None:
        return
    live = bundle.status in (usage.ACTIVE, usage.QUEUED)
    level = prefs.next_level(usage.bundle_used_percent(bundle)) if live else None
    if bundle.next_alert_percent != level:
        usage.set_next_alert(session, bundle_id=bundle.id, used_percent=level)


# --- bundle events -----------------------------------------------------------------------------------


def pending_events(session: Session, *, limit: int) -> list[str]:
    return list(
        session.scalars(
            select(UsageEvent.id)
            .where(UsageEvent.processed_at.is_(None))
            .order_by(UsageEvent.at, UsageEvent.id)
            .limit(limit)
        )
    )


def process_event(session: Session, event_id: str, *, settings: Settings, now: datetime) -> bool:
    """Act on one bundle event and mark it processed; False if another worker has it or had it."""
    event = session.scalar(
        select(UsageEvent)
        .where(UsageEvent.id == event_id, UsageEvent.processed_at.is_(None))
        .with_for_update(skip_locked=True)
    )
    if event is None:
        return False
    event.processed_at = now
    bundle = session.get(Bundle, event.bundle_id)
    esim = session.get(Esim, event.esim_id)
    customer = session.get(Customer, esim.customer_id) if esim is not None else None
    if bundle is None or esim is None or customer is None:
        return True
    prefs = preferences_of(session, customer.id)
    package = session.get(Package, bundle.package_id)
    names = dict(package.names) if package is not None else {}
    if event.kind == THRESHOLD:
        _low_data(session, customer, bundle, names, prefs, event.used_percent, now=now)
    elif event.kind == EXHAUSTED and claim(
        session,
        key=f"exhausted:{bundle.id}",
        kind=messages.DATA_EXHAUSTED,
        customer_id=customer.id,
        bundle_id=bundle.id,
        now=now,
    ):
        deliver(
            session,
            customer=customer,
            kind=messages.DATA_EXHAUSTED,
            values={"package": names},
            channels=prefs.channels,
            now=now,
        )
    if event.kind in (EXHAUSTED, EXPIRED):
        auto_renew.renew_if_due(
            session, esim=esim, customer=customer, ended=bundle, settings=settings, now=now
        )
    return True


def _low_data(
    session: Session,
    customer: Customer,
    bundle: Bundle,
    names: dict[str, str],
    prefs: Preferences,
    used_percent: int,
    *,
    now: datetime,
) -> None:
    # One jump may pass several levels (80% and 90% in one record): one reminder, for the highest.
    fresh = [
        level
        for level in prefs.data_levels()
        if level <= used_percent
        and claim(
            session,
            key=f"low_data:{bundle.id}:{level}",
            kind=messages.LOW_DATA,
            customer_id=customer.id,
            bundle_id=bundle.id,
            now=now,
        )
    ]
    if fresh:
        deliver(
            session,
            customer=customer,
            kind=messages.LOW_DATA,
            values={"package": names, "percent": max(0, 100 - used_percent)},
            channels=prefs.channels,
            now=now,
        )
    _rearm(session, bundle.id, prefs)


# --- packs ending soon ---------------------------------------------------------------------------


def remind_expiring(session: Session, *, now: datetime, limit: int = 1000) -> int:
    """Packs ending within each customer's notice (N Hong Kong days before the last day), once per pack.

    A pack bought on or after its reminder day gets none: its buyer has just seen when it ends.
    """
    sent = ReminderSent
    rows = session.execute(
        select(Bundle, Esim.customer_id)
        .join(Esim, Esim.id == Bundle.esim_id)
        .outerjoin(sent, and_(sent.bundle_id == Bundle.id, sent.kind == messages.EXPIRY_SOON))
        .where(
            Bundle.status == usage.ACTIVE,
            Bundle.expires_at > now,
            Bundle.expires_at <= now + MAX_EXPIRY_NOTICE,
            sent.id.is_(None),
        )
        .order_by(Bundle.expires_at)
        .limit(limit)
    ).all()
    done = 0
    today = hk_date(now)
    for bundle, customer_id in rows:
        assert bundle.expires_at is not None
        prefs = preferences_of(session, customer_id)
        due = hk_date(bundle.expires_at) - timedelta(days=prefs.expiry_days_before)
        started = hk_date(bundle.starts_at or bundle.created_at)
        if today < due or started >= due:
            continue
        if not claim(
            session,
            key=f"expiry:{bundle.id}",
            kind=messages.EXPIRY_SOON,
            customer_id=customer_id,
            bundle_id=bundle.id,
            now=now,
        ):
            continue
        customer = session.get(Customer, customer_id)
        package = session.get(Package, bundle.package_id)
        if customer is None:
            continue
        deliver(
            session,
            customer=customer,
            kind=messages.EXPIRY_SOON,
            values={
                "package": dict(package.names) if package else {},
                "date": hk_date(bundle.expires_at).isoformat(),
            },
            channels=prefs.channels,
            now=now,
        )
        done += 1
    return done


# --- low wallet balance --------------------------------------------------------------------------


def remind_low_balance(session: Session, *, now: datetime) -> int:
    """Wallets that moved since the last run: a drop below the customer's amount reminds once.

    The reminder re-arms when the wallet holds the amount again (a top-up), so the next drop
    reminds again: once per crossing, never once per payment.
    """
    cursor = session.get(NotifyCursor, LOW_BALANCE_CURSOR, with_for_update=True)
    if cursor is None:
        cursor = NotifyCursor(name=LOW_BALANCE_CURSOR, at=now - WALLET_OVERLAP)
        session.add(cursor)
    since = cursor.at - WALLET_OVERLAP
    cursor.at = now
    prefix = f"{wallet.WALLET}:"
    codes = session.scalars(
        select(LedgerAccount.code)
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(LedgerAccount.code.startswith(prefix), LedgerTransaction.created_at > since)
        .distinct()
    ).all()
    reminded = 0
    for customer_id in sorted(code.removeprefix(prefix) for code in codes):
        reminded += _check_wallet(session, customer_id, now=now)
    return reminded


def _check_wallet(session: Session, customer_id: str, *, now: datetime) -> int:
    customer = session.get(Customer, customer_id)
    if customer is None:
        return 0
    row = settings_row(session, customer_id, now=now)
    threshold = Money(row.low_balance_amount, row.low_balance_currency)
    if threshold.amount <= 0:
        return 0
    balance = wallet.balance(session, customer_id)
    if balance.amount >= threshold.amount:
        row.low_balance_armed = True
        return 0
    if not row.low_balance_armed:
        return 0
    row.low_balance_armed = False
    prefs = preferences_of(session, customer_id)
    deliver(
        session,
        customer=customer,
        kind=messages.LOW_BALANCE,
        values={
            "balance": {"amount": balance.amount, "currency": balance.currency},
            "threshold": {"amount": threshold.amount, "currency": threshold.currency},
        },
        channels=prefs.channels,
        now=now,
    )
    return 1
