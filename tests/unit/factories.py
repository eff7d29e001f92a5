"""Small factories for unit tests that need rows.

Each one runs its own unit of work (``with transaction(session):``), so call it
outside any open transaction. Rows are made through the services where one
exists; customers have no public "create" use case (sign-in registers them), so
they are made from the model.
"""

from __future__ import annotations

import itertools
import re
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

import crossbay.models  # noqa: F401  (every table known before the first flush)
from crossbay.catalog import service as catalog
from crossbay.catalog.catalog_file import PackageKind, PackageSpec, ValidityStart
from crossbay.catalog.models import Package
from crossbay.db import new_id, transaction
from crossbay.esim import service as esims
from crossbay.esim.models import Esim
from crossbay.identity.models import Customer
from crossbay.jobs.models import Job
from crossbay.kyc import service as kyc
from crossbay.kyc.documents import DocumentType
from crossbay.kyc.models import Identity
from crossbay.orders.models import Order
from crossbay.pii import PiiCipher

# The same keys test_settings() configures, so rows written here read back through a Runtime too.
PII = PiiCipher({"k1": b"k" * 32}, "k1", b"l" * 32)
# A valid HKID (check digit 3) and a second one (check digit 9) for "another document".
HKID = "A1234563"
OTHER_HKID = "C1234569"

_serial = itertools.count(1)


def _next() -> int:
    return next(_serial)


def make_customer(session: Session, *, phone: str | None = None, now: datetime) -> Customer:
    customer = Customer(
        id=new_id("cus"), phone=phone or f"+8529{_next():07d}", language="zh-Hant", created_at=now
    )
    with transaction(session):
        session.add(customer)
    return customer


def make_package(
    session: Session,
    *,
    code: str | None = None,
    kind: PackageKind = "data",
    data_mb: int | None = 1024,
    voice_minutes: int | None = None,
    validity_days: int = 30,
    validity_starts: ValidityStart = "purchase",
    regions: tuple[str, ...] = ("hk",),
    for_new_esim: bool = True,
    for_topup: bool = True,
    price: int = 8800,
    currency: str = "HKD",
    now: datetime,
) -> Package:
    code = code or f"TEST-PKG-{_next()}"
    spec = PackageSpec(
        code=code,
        kind=kind,
        data_mb=data_mb,
        voice_minutes=voice_minutes,
        validity_days=validity_days,
        validity_starts=validity_starts,
        regions=regions,
        networks=("CMHK",),
        price_amount=price,
        currency=currency,
        for_new_esim=for_new_esim,
        for_topup=for_topup,
        fair_use=None,
        sort=_next(),
        names={"zh-Hant": f"{code} 套餐", "zh-Hans": f"{code} 套餐", "en": f"{code} pack"},
        descriptions={"zh-Hant": "測試", "zh-Hans": "测试", "en": "test"},
    )
    with transaction(session):
        catalog.load_packages(session, [spec], now=now)
        return session.scalars(select(Package).where(Package.code == code)).one()


def make_verified_identity(
    session: Session,
    customer_id: str,
    *,
    number: str = HKID,
    document_type: DocumentType = DocumentType.HKID,
    full_name: str = "Chan Tai Man",
    date_of_birth: date = date(1990, 1, 1),
    pii: PiiCipher = PII,
    now: datetime,
) -> Identity:
    with transaction(session):
        kyc.record_identity(
            session,
            customer_id=customer_id,
            full_name=full_name,
            document_type=document_type,
            document_number=number,
            date_of_birth=date_of_birth,
            holds_esims=False,
            pii=pii,
            now=now,
        )
        identity = session.get(Identity, customer_id)
        assert identity is not None
        return identity


def make_esim(
    session: Session, *, customer_id: str, order_id: str | None = None, released: bool = True, now: datetime
) -> Esim:
    """An eSIM as fulfilment leaves it: profile reserved (ICCID) and, unless ``released=False``, ready."""
    serial = _next()
    with transaction(session):
        esim = esims.start_profile(
            session, customer_id=customer_id, order_id=order_id or new_id("ord"), now=now
        )
        order = session.get(Order, order_id) if order_id else None
        if order is not None:
            order.esim_id = esim.id  # as fulfilment links them, in the same transaction
        esims.record_iccid(session, esim_id=esim.id, iccid=f"8985200{serial:012d}", now=now)
        if released:
            esims.record_release(
                session,
                esim_id=esim.id,
                matching_id=f"MATCH-{serial:06d}",
                smdp_address="smdp.example.test",
                now=now,
            )
    return esim


def code_sent_to(session: Session, phone: str) -> str:
    """The one-time code in the newest SMS queued for ``phone``: what its owner reads."""
    with transaction(session):
        bodies = [
            job.payload["body"]
            for job in session.scalars(select(Job).where(Job.kind == "notify.sms").order_by(Job.created_at))
            if job.payload["to"] == phone
        ]
    match = re.search(r"(?<![0-9])[0-9]{6}(?![0-9])", bodies[-1])
    assert match, "no code in the SMS"
    return match[0]


def make_packages(session: Session, *, prices: tuple[int, ...], now: datetime) -> list[Package]:
    """Several packages on sale at once (each ``make_package`` takes the ones before it off sale)."""
    made = [make_package(session, price=price, now=now) for price in prices]
    with transaction(session):
        for package in made:
            package.on_sale = True
            session.add(package)
    return made
