"""The full identity, for the back office only: a staff member checking a caller, with a stated reason.

Recording who looked, and why, is the caller's job (the back office audits every reveal in the
same transaction); nothing here is ever logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from crossbay.errors import NotFound
from crossbay.kyc.models import Identity
from crossbay.kyc.service import _context
from crossbay.pii import PiiCipher


@dataclass(frozen=True)
class RevealedIdentity:
    document_type: str
    full_name: str
    document_number: str
    date_of_birth: date


def reveal_identity(session: Session, *, customer_id: str, pii: PiiCipher) -> RevealedIdentity:
    identity = session.get(Identity, customer_id)
    if identity is None:
        raise NotFound("no identity registered")
    return RevealedIdentity(
        document_type=identity.document_type,
        full_name=pii.decrypt(identity.name_encrypted, context=_context(customer_id, "name")),
        document_number=pii.decrypt(identity.number_encrypted, context=_context(customer_id, "number")),
        date_of_birth=date.fromisoformat(
            pii.decrypt(identity.birth_date_encrypted, context=_context(customer_id, "dob"))
        ),
    )
