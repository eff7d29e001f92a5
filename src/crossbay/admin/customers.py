"""Customers as support sees them: found by phone, with orders, eSIMs and wallet; identity masked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.admin import audit
from crossbay.admin.audit import StaffActor
from crossbay.admin.errors import ReasonRequired
from crossbay.errors import CrossbayError, FieldProblem, NotFound
from crossbay.esim import service as esims
from crossbay.esim.models import Esim
from crossbay.identity.models import Customer
from crossbay.identity.phones import mask_phone, normalize_phone
from crossbay.kyc import service as kyc
from crossbay.kyc.reveal import RevealedIdentity, reveal_identity
from crossbay.ledger import service as ledger
from crossbay.money import Money
from crossbay.orders.models import Order
from crossbay.pii import PiiCipher

WALLET_CURRENCY = "HKD"
MIN_REASON = 8


@dataclass(frozen=True)
class CustomerSummary:
    id: str
    phone_masked: str
    language: str
    created_at: datetime


@dataclass(frozen=True)
class CustomerFile:
    customer: CustomerSummary
    identity: kyc.IdentityView
    wallet: Money
    orders: list[Order]
    esims: list[Esim]


def _summary(customer: Customer) -> CustomerSummary:
    return CustomerSummary(customer.id, mask_phone(customer.phone), customer.language, customer.created_at)


def find_by_phone(session: Session, *, phone: str) -> CustomerSummary | None:
    """Phones are kept in E.164, so any way staff type one (with or without +852) finds it."""
    try:
        normalized = normalize_phone(phone)
    except CrossbayError:
        return None
    customer = session.scalar(select(Customer).where(Customer.phone == normalized))
    return _summary(customer) if customer else None


def find_by_id(session: Session, *, customer_id: str) -> CustomerSummary | None:
    customer = session.get(Customer, customer_id)
    return _summary(customer) if customer else None


def customer_file(
    session: Session, *, customer_id: str, pii: PiiCipher, order_limit: int = 50
) -> CustomerFile:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound()
    orders = list(
        session.scalars(
            select(Order)
            .where(Order.customer_id == customer_id)
            .order_by(Order.created_at.desc())
            .limit(order_limit)
        )
    )
    return CustomerFile(
        customer=_summary(customer),
        identity=kyc.get_identity_view(session, customer_id=customer_id, pii=pii),
        wallet=ledger.wallet_balance(session, customer_id, WALLET_CURRENCY),
        orders=orders,
        esims=esims.list_esims(session, customer_id=customer_id),
    )


def reveal(
    session: Session, actor: StaffActor, *, customer_id: str, reason: str, pii: PiiCipher, now: datetime
) -> RevealedIdentity:
    """The full identity, only with a reason, and never without the audit record of who looked and why."""
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON:
        raise ReasonRequired(
            errors=[FieldProblem("reason", "reason_required", "Say why you need to see the full identity")]
        )
    if session.get(Customer, customer_id) is None:
        raise NotFound()
    revealed = reveal_identity(session, customer_id=customer_id, pii=pii)
    audit.record(
        session,
        actor,
        action=audit.IDENTITY_REVEALED,
        target=("identity", customer_id),
        customer_id=customer_id,
        now=now,
        context={"reason": reason[:200]},
    )
    return revealed
