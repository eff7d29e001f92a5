from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crossbay.db import Base


class Identity(Base):
    """A customer's real-name record. Name, number and birth date are stored encrypted only."""

    __tablename__ = "identities"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    document_type: Mapped[str] = mapped_column(String(24))
    name_encrypted: Mapped[str] = mapped_column(Text)
    number_encrypted: Mapped[str] = mapped_column(Text)
    birth_date_encrypted: Mapped[str] = mapped_column(Text)
    # Keyed hash of type + number: finds every account holding one document without decrypting.
    number_lookup: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
