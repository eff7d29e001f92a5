"""The sandbox card provider's own books: its intents, refunds and idempotency records.

They live in our database only so that several server processes see one provider;
no crossbay context reads them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crossbay.db import Base


class SandboxCardIntent(Base):
    __tablename__ = "sandbox_card_intents"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # pi_…
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))  # lower-case, as on the wire
    description: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(32))
    return_url: Mapped[str | None] = mapped_column(String(2048))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    client_secret: Mapped[str] = mapped_column(String(80))
    last_payment_error: Mapped[dict[str, Any] | None]
    latest_charge: Mapped[str | None] = mapped_column(String(40))  # ch_…, once paid
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    cancellation_reason: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SandboxCardRequest(Base):
    """The first answer given to an ``Idempotency-Key``, replayed for its retries."""

    __tablename__ = "sandbox_card_requests"

    idempotency_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # sha256 of method, path and form parameters: a reuse with anything else is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class SandboxCardRefund(Base):
    __tablename__ = "sandbox_card_refunds"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # re_…
    intent_id: Mapped[str] = mapped_column(ForeignKey("sandbox_card_intents.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]


class SandboxCardBalanceTransaction(Base):
    """Funds moving through the sandbox provider's balance: what its statement lists."""

    __tablename__ = "sandbox_card_balance_transactions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # txn_…
    type: Mapped[str] = mapped_column(String(24))  # charge, refund
    source_id: Mapped[str] = mapped_column(String(40))  # ch_… or re_…
    intent_id: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)  # negative for money leaving the balance
    fee: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))  # lower-case, as on the wire
    created_at: Mapped[datetime] = mapped_column(index=True)
