"""Rows for usage tests: an eSIM with an ICCID, and bundles bought on it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from crossbay.catalog.catalog_file import ValidityStart
from crossbay.catalog.models import Package
from crossbay.db import new_id, transaction
from crossbay.esim.models import Esim
from crossbay.usage import service as usage
from crossbay.usage.models import Bundle
from tests.unit.factories import make_customer, make_esim, make_package

MB = 1024 * 1024


def esim_with_iccid(session: Session, *, now: datetime) -> Esim:
    customer = make_customer(session, now=now)
    return make_esim(session, customer_id=customer.id, now=now)


def package(
    session: Session,
    *,
    regions: tuple[str, ...] = ("hk",),
    data_mb: int | None = 100,
    voice_minutes: int | None = None,
    validity_days: int = 30,
    starts: ValidityStart = "purchase",
    fair_use: str | None = None,
    now: datetime,
) -> Package:
    made = make_package(
        session,
        regions=regions,
        data_mb=data_mb,
        voice_minutes=voice_minutes,
        validity_days=validity_days,
        validity_starts=starts,
        kind="data" if voice_minutes is None else "bundle",
        now=now,
    )
    if fair_use is not None:
        with transaction(session):
            made.fair_use = fair_use
            session.add(made)
    return made


def buy(session: Session, esim: Esim, bought: Package, *, now: datetime) -> Bundle:
    with transaction(session):
        return usage.add_bundle(session, esim_id=esim.id, order_id=new_id("ord"), package=bought, now=now)


def reload(session: Session, bundle: Bundle) -> Bundle:
    with transaction(session):
        fresh = session.get(Bundle, bundle.id, populate_existing=True)
        assert fresh is not None
        return fresh
