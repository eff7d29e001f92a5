"""Bundles: the quota a package puts on an eSIM, its expiry, and what customers see of it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.catalog.models import Package
from crossbay.clock import hk_date
from crossbay.db import new_id
from crossbay.esim import service as esims
from crossbay.notify.preferences import first_alert_percent
from crossbay.usage.balances import emit_events
from crossbay.usage.models import Bundle, UsageDaily
from crossbay.usage.rating import ACTIVE, ALERT_LEVELS, EXHAUSTED, EXPIRED, QUEUED, bundle_expiry
from crossbay.usage.regions import area_mask

MB = 1024 * 1024
__all__ = ["ACTIVE", "EXHAUSTED", "EXPIRED", "MB", "QUEUED", "bundle_expiry"]

_KBPS = re.compile(r"(\d+)\s*kbps", re.IGNORECASE)


def fair_use_kbps(fair_use: str | None) -> int | None:
    """The throttled speed a package's fair-use note promises ("… reduced to 384 kbps …"), if any.

    No note, or a note without a speed: the policy is to stop when the quota is gone.
    """
    match = _KBPS.search(fair_use or "")
    return int(match[1]) if match else None


def add_bundle(session: Session, *, esim_id: str, order_id: str, package: Package, now: datetime) -> Bundle:
    """Put a package's quota on an eSIM, once per order (a retried fulfilment finds the first one)."""
    existing = session.scalar(select(Bundle).where(Bundle.order_id == order_id))
    if existing is not None:
        return existing
    starts_now = package.validity_starts == "purchase"
    data = package.data_mb * MB if package.data_mb is not None else None
    voice = package.voice_minutes * 60 if package.voice_minutes is not None else None
    bundle = Bundle(
        id=new_id("bdl"),
        esim_id=esim_id,
        order_id=order_id,
        package_id=package.id,
        # A first-use bundle waits (queued) until usage first needs it; then its clock starts.
        status=ACTIVE if starts_now else QUEUED,
        data_total_bytes=data,
        data_remaining_bytes=data,
        voice_total_seconds=voice,
        voice_remaining_seconds=voice,
        starts_at=now if starts_now else None,
        expires_at=bundle_expiry(now, package.validity_days) if starts_now else None,
        created_at=now,
        area_mask=area_mask(package.regions),
        validity_days=package.validity_days,
        throttle_kbps=fair_use_kbps(package.fair_use),
        data_reserved_bytes=0,
        voice_reserved_seconds=0,
        # The customer's own low-quota level (reminders), else the default first level.
        next_alert_percent=first_alert_percent(session, esim_id) or ALERT_LEVELS[0],
    )
    session.add(bundle)
    return bundle


def withdraw_bundle(session: Session, *, order_id: str, now: datetime) -> None:
    """The order that paid for a bundle was refunded: its quota ends now."""
    bundle = session.scalar(select(Bundle).where(Bundle.order_id == order_id).with_for_update())
    if bundle is not None and bundle.status in (ACTIVE, QUEUED):
        bundle.status = EXPIRED
        bundle.expires_at = now
        bundle.data_remaining_bytes = 0 if bundle.data_total_bytes is not None else None
        bundle.voice_remaining_seconds = 0 if bundle.voice_total_seconds is not None else None
        # Open credit sessions lose their grant with it (their commit finds nothing left to take).
        bundle.data_reserved_bytes = 0
        bundle.voice_reserved_seconds = 0


def set_next_alert(session: Session, *, bundle_id: str, used_percent: int | None) -> None:
    """Move the used percentage at which a bundle's next ``threshold`` event fires (reminders' hook)."""
    bundle = session.get(Bundle, bundle_id, with_for_update=True)
    if bundle is not None:
        bundle.next_alert_percent = used_percent


def expire_bundles(session: Session, *, now: datetime, limit: int = 1000) -> int:
    """Active bundles past 23:59:59 of their last day expire; returns how many did (at most ``limit``).

    Rows another transaction holds (a rating batch) are skipped and caught on the next round.
    """
    due = list(
        session.scalars(
            select(Bundle)
            .where(Bundle.status == ACTIVE, Bundle.expires_at < now)
            .order_by(Bundle.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    events = []
    for bundle in due:
        bundle.status = EXPIRED
        used = bundle_used_percent(bundle)
        events.append(("expired", bundle.esim_id, bundle.id, used))
    emit_events(session, events, now=now)
    return len(due)


def bundle_used_percent(bundle: Bundle) -> int:
    percents = [
        (total - (remaining or 0)) * 100 // total
        for total, remaining in (
            (bundle.data_total_bytes, bundle.data_remaining_bytes),
            (bundle.voice_total_seconds, bundle.voice_remaining_seconds),
        )
        if total
    ]
    return max(percents, default=0)


def bundles_for(session: Session, esim_ids: list[str]) -> dict[str, list[Bundle]]:
    """All bundles of several eSIMs in one query."""
    grouped: dict[str, list[Bundle]] = {esim_id: [] for esim_id in esim_ids}
    if esim_ids:
        for bundle in session.scalars(
            select(Bundle).where(Bundle.esim_id.in_(esim_ids)).order_by(Bundle.created_at, Bundle.id)
        ):
            grouped[bundle.esim_id].append(bundle)
    return grouped


@dataclass(frozen=True)
class Quota:
    """What is left across the bundles that can still be used (active and waiting for first use)."""

    data_total_bytes: int
    data_remaining_bytes: int
    voice_total_seconds: int
    voice_remaining_seconds: int


def quota_of_customer(session: Session, customer_id: str) -> Quota:
    return quota_of(session, [e.id for e in esims.list_esims(session, customer_id=customer_id)])


def quota_of(session: Session, esim_ids: list[str]) -> Quota:
    data_total = data_left = voice_total = voice_left = 0
    for group in bundles_for(session, esim_ids).values():
        for bundle in group:
            if bundle.status not in (ACTIVE, QUEUED):
                continue
            data_total += bundle.data_total_bytes or 0
            data_left += bundle.data_remaining_bytes or 0
            voice_total += bundle.voice_total_seconds or 0
            voice_left += bundle.voice_remaining_seconds or 0
    return Quota(data_total, data_left, voice_total, voice_left)


@dataclass(frozen=True)
class DailyUsage:
    day: date
    data_bytes: int
    voice_seconds: int


def daily_usage(session: Session, *, esim_id: str, days: int, now: datetime) -> list[DailyUsage]:
    """The last ``days`` Hong Kong days up to today, oldest first, days without usage as zero."""
    today = hk_date(now)
    first = today - timedelta(days=days - 1)
    found = {
        row.day: row
        for row in session.scalars(
            select(UsageDaily).where(
                UsageDaily.esim_id == esim_id, UsageDaily.day >= first, UsageDaily.day <= today
            )
        )
    }
    result = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = found.get(day)
        result.append(DailyUsage(day, row.data_bytes if row else 0, row.voice_seconds if row else 0))
    return result
