"""Record sensitive actions in the caller's transaction, and read them back (customer page, back office).

There is deliberately no function here that changes or removes a record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crossbay.audit.models import AuditEvent, KnownDevice
from crossbay.audit.origin import NO_ORIGIN, Origin
from crossbay.db import new_id
from crossbay.paging import Cursor, newest_first

CUSTOMER, STAFF, SYSTEM = "customer", "staff", "system"

# Action codes: stable strings, shown to customers through audit.wording.
SIGNIN_NEW_DEVICE = "signin.new_device"
PASSWORD_SET = "password.set"  # noqa: S105 - an action name
PASSWORD_CHANGED = "password.changed"  # noqa: S105 - an action name
PIN_SET = "payment_pin.set"
PIN_CHANGED = "payment_pin.changed"
IDENTITY_REGISTERED = "identity.registered"
IDENTITY_CHANGED = "identity.changed"
PREFERRED_PAYMENT_CHANGED = "preferred_payment.changed"
TICKET_ASSIGNED = "ticket.assigned"
TICKET_REPLIED = "ticket.replied"
TICKET_STATUS_CHANGED = "ticket.status_changed"

# Fields whose values never enter a record: only that they changed.
SECRET_FIELDS = frozenset(
    {
        "password",
        "pin",
        "payment_pin",
        "code",
        "otp",
        "token",
        "access_token",
        "refresh_token",
        "document_number",
        "full_name",
        "date_of_birth",
        "phone",
    }
)


@dataclass(frozen=True)
class Actor:
    kind: str
    id: str | None

    @classmethod
    def customer(cls, customer_id: str) -> Actor:
        return cls(CUSTOMER, customer_id)

    @classmethod
    def staff(cls, staff_id: str) -> Actor:
        return cls(STAFF, staff_id)


SYSTEM_ACTOR = Actor(SYSTEM, None)


@dataclass(frozen=True)
class Change:
    """One field's change. Values of secret fields are dropped whatever the caller passes."""

    field: str
    before: str | None = None
    after: str | None = None

    def as_json(self) -> dict[str, str | None]:
        if self.field in SECRET_FIELDS:
            return {"field": self.field}
        return {"field": self.field, "before": self.before, "after": self.after}


Scalar = str | int | bool | None


def record(
    session: Session,
    *,
    action: str,
    actor: Actor,
    customer_id: str | None,
    now: datetime,
    origin: Origin = NO_ORIGIN,
    target: tuple[str, str] | None = None,
    changes: Sequence[Change] = (),
    context: Mapping[str, Scalar] | None = None,
) -> AuditEvent:
    """Append one record to the caller's transaction: it exists exactly when the change it records does."""
    extra = dict(context or {})
    leaked = SECRET_FIELDS & extra.keys()
    if leaked:
        raise ValueError(f"secret fields in audit context: {sorted(leaked)}")
    details: dict[str, Any] = {**extra, "changes": [change.as_json() for change in changes]}
    event = AuditEvent(
        id=new_id("aud"),
        at=now,
        actor_kind=actor.kind,
        actor_id=actor.id,
        customer_id=customer_id,
        action=action,
        target_type=target[0] if target else None,
        target_id=target[1] if target else None,
        ip=origin.ip[:64] if origin.ip else None,
        device=origin.device[:80] if origin.device else None,
        details=details,
    )
    session.add(event)
    return event


def note_sign_in(
    session: Session, *, customer_id: str, origin: Origin, method: str, new_customer: bool, now: datetime
) -> bool:
    """Remember the device; a sign-in from one this customer never used is recorded. True if it was new."""
    if origin.device_hash is None:
        return False  # nothing says which device: nothing to compare
    known = session.scalar(
        select(KnownDevice).where(
            KnownDevice.customer_id == customer_id, KnownDevice.device_hash == origin.device_hash
        )
    )
    if known is not None:
        known.last_seen_at = now
        return False
    try:
        with session.begin_nested():  # two first sign-ins from one device may race
            session.add(
                KnownDevice(
                    id=new_id("dev"),
                    customer_id=customer_id,
                    device_hash=origin.device_hash,
                    label=origin.device,
                    first_seen_at=now,
                    last_seen_at=now,
                )
            )
    except IntegrityError:
        return False
    record(
        session,
        action=SIGNIN_NEW_DEVICE,
        actor=Actor.customer(customer_id),
        customer_id=customer_id,
        now=now,
        origin=origin,
        target=("customer", customer_id),
        context={"method": method, "new_customer": new_customer},
    )
    return True


def list_for_customer(
    session: Session, *, customer_id: str, limit: int, before: Cursor | None
) -> list[AuditEvent]:
    """The customer's own activity, newest first; ``before`` is the (at, id) of the last one seen."""
    return list_events(session, customer_id=customer_id, limit=limit, before=before)


def list_events(
    session: Session,
    *,
    limit: int,
    before: Cursor | None = None,
    customer_id: str | None = None,
    actor_kind: str | None = None,
    actor_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditEvent]:
    """For the back office: every record, filtered by actor, action (a code, or a prefix ending in
    ``.``) and a time range [since, until), newest first."""
    query = select(AuditEvent)
    if customer_id is not None:
        query = query.where(AuditEvent.customer_id == customer_id)
    if actor_kind is not None:
        query = query.where(AuditEvent.actor_kind == actor_kind)
    if actor_id is not None:
        query = query.where(AuditEvent.actor_id == actor_id)
    if action is not None:
        if action.endswith("."):
            query = query.where(AuditEvent.action.startswith(action, autoescape=True))
        else:
            query = query.where(AuditEvent.action == action)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    return list(
        session.scalars(newest_first(query, AuditEvent.at, AuditEvent.id, before=before, limit=limit))
    )
