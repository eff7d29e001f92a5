"""Bundles: the quota a package puts on an eSIM."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.catalog.models import Package
from crossbay.clock import add_days, hk_date, hk_end_of_day
from crossbay.db import new_id
from crossbay.usage.models import Bundle

MB = 1024 * 1024
ACTIVE, QUEUED, EXHAUSTED, EXPIRED = "active", "queued", "exhausted", "expired"


def bundle_expiry(starts_at: datetime, validity_days: int) -> datetime:
    """Validity counts Hong Kong calendar days, the first included; it ends at 23:59:59 HK time."""
    # Bought within a day's last second, a one-day bundle still may not end before it starts.
    return max(hk_end_of_day(add_days(hk_date(starts_at), validity_days - 1)), starts_at)


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
        # A first-use bundle waits for the network's first session to start its clock.
        status=ACTIVE if starts_now else QUEUED,
        data_total_bytes=data,
        data_remaining_bytes=data,
        voice_total_seconds=voice,
        voice_remaining_seconds=voice,
        starts_at=now if starts_now else None,
        expires_at=bundle_expiry(now, package.validity_days) if starts_now else None,
        created_at=now,
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


def bundles_for(session: Session, esim_ids: list[str]) -> dict[str, list[Bundle]]:
    """All bundles of several eSIMs in one query."""
    grouped: dict[str, list[Bundle]] = {esim_id: [] for esim_id in esim_ids}
    if esim_ids:
        for bundle in session.scalars(
            select(Bundle).where(Bundle.esim_id.in_(esim_ids)).order_by(Bundle.created_at, Bundle.id)
        ):
            grouped[bundle.esim_id].append(bundle)
    return grouped
