"""Real-name identity: validate, store encrypted with a keyed hash for look-ups, show masked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.audit import service as audit
from crossbay.audit.origin import NO_ORIGIN, Origin
from crossbay.clock import hk_date
from crossbay.kyc.documents import DocumentType, check_document, clean_full_name
from crossbay.kyc.errors import IdentityLocked, IdentityQuotaExceeded, IdentityRequired
from crossbay.kyc.masking import mask_document_number, mask_name
from crossbay.kyc.models import Identity
from crossbay.pii import PiiCipher

VERIFIED = "verified"


@dataclass(frozen=True)
class IdentityView:
    """What any read may show: masked fields only."""

    status: str
    document_type: str | None = None
    full_name_masked: str | None = None
    document_number_masked: str | None = None
    verified_at: datetime | None = None


def _context(customer_id: str, field: str) -> str:
    # Binds each ciphertext to its row and column: a value copied elsewhere will not decrypt.
    return f"identities:{customer_id}:{field}"


def record_identity(
    session: Session,
    *,
    customer_id: str,
    full_name: str,
    document_type: DocumentType,
    document_number: str,
    date_of_birth: date,
    holds_esims: bool,
    pii: PiiCipher,
    now: datetime,
    origin: Origin = NO_ORIGIN,
    actor: audit.Actor | None = None,
) -> IdentityView:
    """Check digits where they exist, 16 or over; a registered identity with eSIMs cannot be swapped."""
    name = clean_full_name(full_name)
    number = check_document(document_type, document_number, date_of_birth, today=hk_date(now), full_name=name)
    identity = session.get(Identity, customer_id, with_for_update=True)
    lookup = pii.lookup_hash(f"{document_type.value}:{number}")
    if identity is not None and identity.number_lookup != lookup and holds_esims:
        raise IdentityLocked()
    changes = _identity_changes(identity, customer_id, document_type, name, number, date_of_birth, pii)
    registered = identity is None
    if identity is None:
        identity = Identity(customer_id=customer_id, created_at=now)
        session.add(identity)
    identity.document_type = document_type.value
    identity.name_encrypted = pii.encrypt(name, context=_context(customer_id, "name"))
    identity.number_encrypted = pii.encrypt(number, context=_context(customer_id, "number"))
    identity.birth_date_encrypted = pii.encrypt(
        date_of_birth.isoformat(), context=_context(customer_id, "dob")
    )
    identity.number_lookup = lookup
    identity.status = VERIFIED
    identity.verified_at = now
    identity.updated_at = now
    if registered or changes:
        audit.record(
            session,
            action=audit.IDENTITY_REGISTERED if registered else audit.IDENTITY_CHANGED,
            actor=actor or audit.Actor.customer(customer_id),
            customer_id=customer_id,
            now=now,
            origin=origin,
            target=("identity", customer_id),
            changes=changes,
        )
    return _view(identity, name, number)


def _identity_changes(
    old: Identity | None,
    customer_id: str,
    document_type: DocumentType,
    name: str,
    number: str,
    date_of_birth: date,
    pii: PiiCipher,
) -> list[audit.Change]:
    """Which fields differ; the audit keeps only the document type's values, the rest by name only."""
    if old is None:
        return [
            audit.Change("document_type", None, document_type.value),
            *(audit.Change(field) for field in ("full_name", "document_number", "date_of_birth")),
        ]
    changes = []
    if old.document_type != document_type.value:
        changes.append(audit.Change("document_type", old.document_type, document_type.value))
    before = {
        "full_name": pii.decrypt(old.name_encrypted, context=_context(customer_id, "name")),
        "document_number": pii.decrypt(old.number_encrypted, context=_context(customer_id, "number")),
        "date_of_birth": pii.decrypt(old.birth_date_encrypted, context=_context(customer_id, "dob")),
    }
    after = {"full_name": name, "document_number": number, "date_of_birth": date_of_birth.isoformat()}
    changes += [audit.Change(field) for field in before if before[field] != after[field]]
    return changes


def _view(identity: Identity, name: str, number: str) -> IdentityView:
    doc_type = DocumentType(identity.document_type)
    return IdentityView(
        status=identity.status,
        document_type=doc_type.value,
        full_name_masked=mask_name(name),
        document_number_masked=mask_document_number(doc_type, number),
        verified_at=identity.verified_at,
    )


def get_identity_view(session: Session, *, customer_id: str, pii: PiiCipher) -> IdentityView:
    identity = session.get(Identity, customer_id)
    if identity is None:
        return IdentityView(status="none")
    name = pii.decrypt(identity.name_encrypted, context=_context(customer_id, "name"))
    number = pii.decrypt(identity.number_encrypted, context=_context(customer_id, "number"))
    return _view(identity, name, number)


def birth_date_of(session: Session, *, customer_id: str, pii: PiiCipher) -> date | None:
    """Only to refuse a payment PIN made of it; never shown."""
    identity = session.get(Identity, customer_id)
    if identity is None:
        return None
    return date.fromisoformat(
        pii.decrypt(identity.birth_date_encrypted, context=_context(customer_id, "dob"))
    )


def require_verified_identity(session: Session, *, customer_id: str) -> Identity:
    identity = session.get(Identity, customer_id)
    if identity is None or identity.status != VERIFIED:
        raise IdentityRequired()
    return identity


def lock_document_holders(session: Session, *, identity: Identity) -> list[str]:
    """Every account registered with this document, this one included, with their rows locked.

    The lock serializes two purchases under one document from different accounts.
    """
    return list(
        session.scalars(
            select(Identity.customer_id)
            .where(Identity.number_lookup == identity.number_lookup)
            .order_by(Identity.customer_id)
            .with_for_update()
        )
    )


def check_quota(held: int, quota: int) -> None:
    if held >= quota:
        raise IdentityQuotaExceeded(f"at most {quota} active eSIMs per identity document")
