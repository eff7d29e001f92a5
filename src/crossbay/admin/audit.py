"""Every staff action goes on the audit record, in the same transaction as the change it records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from crossbay.admin.models import StaffAccount
from crossbay.audit import service as audit
from crossbay.audit.origin import Origin

Change = audit.Change
Scalar = audit.Scalar

# Action codes of the back office (the audit context's own codes cover what customers do).
STAFF_SIGNED_IN = "staff.signed_in"
STAFF_SIGNED_OUT = "staff.signed_out"
PACKAGE_SALE_CHANGED = "package.sale_changed"
PRICE_SCHEDULED = "price.scheduled"
PRICE_CHANGE_CANCELLED = "price.change_cancelled"
IDENTITY_REVEALED = "identity.revealed"
ORDER_REFUNDED = "order.refund_requested"
ORDER_FULFILMENT_RETRIED = "order.fulfilment_retried"
ESIM_SUSPENDED = "esim.suspended"
ESIM_RESUMED = "esim.resumed"
ESIM_TERMINATED = "esim.terminated"


@dataclass(frozen=True)
class StaffActor:
    staff: StaffAccount
    ip: str | None


def record(
    session: Session,
    actor: StaffActor,
    *,
    action: str,
    target: tuple[str, str],
    now: datetime,
    customer_id: str | None = None,
    changes: Sequence[Change] = (),
    context: Mapping[str, Scalar] | None = None,
) -> None:
    """``changes`` and ``context`` say what changed (ids, amounts, statuses, reasons), never personal data."""
    audit.record(
        session,
        action=action,
        actor=audit.Actor.staff(actor.staff.id),
        customer_id=customer_id,
        now=now,
        origin=Origin(ip=actor.ip),
        target=target,
        changes=changes,
        context=context,
    )
