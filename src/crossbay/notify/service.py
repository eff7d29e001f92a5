"""The in-app inbox (list, unread count, mark read) and the customer's email address."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crossbay.audit import service as audit
from crossbay.audit.origin import NO_ORIGIN, Origin
from crossbay.errors import FieldProblem
from crossbay.identity.models import Customer
from crossbay.notify.errors import InvalidEmail, NotificationNotFound
from crossbay.notify.models import Notification
from crossbay.paging import Cursor, newest_first

EMAIL_CHANGED = "email.changed"
# Deliberately plain: one @, a dotted domain, no spaces or angle brackets; 254 characters at most.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_EMAIL = re.compile(rf"[a-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+")
INVALID_EMAIL = "Enter an email address like name@example.com"


def normalize_email(value: str) -> str:
    """A well-formed address in lower case, or ``invalid_email``."""
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.fullmatch(email) or ".." in email:
        raise InvalidEmail(errors=[FieldProblem("email", "invalid_email", INVALID_EMAIL)])
    return email


def set_email(
    session: Session, *, customer: Customer, email: str | None, now: datetime, origin: Origin = NO_ORIGIN
) -> str | None:
    """Set or clear the address reminders are emailed to; a change is recorded (never the address itself)."""
    new = normalize_email(email) if email else None
    before = customer.email
    customer.email = new
    if before != new:
        audit.record(
            session,
            action=EMAIL_CHANGED,
            actor=audit.Actor.customer(customer.id),
            customer_id=customer.id,
            now=now,
            origin=origin,
            target=("customer", customer.id),
            changes=[audit.Change("email")],
            context={"set": new is not None},
        )
    return new


def list_notifications(
    session: Session, *, customer_id: str, limit: int, before: Cursor | None
) -> list[Notification]:
    """Newest first; ``before`` is the (at, id) of the last one seen."""
    query = select(Notification).where(Notification.customer_id == customer_id)
    return list(
        session.scalars(newest_first(query, Notification.at, Notification.id, before=before, limit=limit))
    )


def unread_count(session: Session, *, customer_id: str) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                Notification.customer_id == customer_id, Notification.read_at.is_(None)
            )
        )
        or 0
    )


def mark_read(session: Session, *, customer_id: str, notification_id: str, now: datetime) -> Notification:
    """Another customer's notification is indistinguishable from a missing one; reading twice is fine."""
    found = session.get(Notification, notification_id)
    if found is None or found.customer_id != customer_id:
        raise NotificationNotFound()
    if found.read_at is None:
        found.read_at = now
    return found


def mark_all_read(session: Session, *, customer_id: str, now: datetime) -> int:
    result = session.execute(
        update(Notification)
        .where(Notification.customer_id == customer_id, Notification.read_at.is_(None))
        .values(read_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)
