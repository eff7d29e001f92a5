from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crossbay.db import Base


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), index=True)
    # What the money pays for: an order, or stored value (a wallet top-up).
    order_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id"), index=True)
    topup_id: Mapped[str | None] = mapped_column(ForeignKey("wallet_topups.id"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    # What the provider knows the payment by (payment intent id, out_trade_no).
    reference: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24))  # created, pending, succeeded, failed, canceled, refunded
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    redirect_url: Mapped[str | None] = mapped_column(Text)  # a signed provider URL can be long
    # Each refund attempt has its own id at the provider (refund-<payment>, refund-<payment>-2, …):
    # a refund that failed for good is asked for again under a new one, never replayed.
    refund_attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("provider", "reference"),)


class WalletTopup(Base):
    """Stored value bought with a provider payment; the wallet itself is a ledger account."""

    __tablename__ = "wallet_topups"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    status: Mapped[str] = mapped_column(String(24))  # pending_payment, completed, failed, expired
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    payment_method: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_wallet_topups_customer_id_created_at", "customer_id", "created_at"),)


class ProviderEvent(Base):
    """A provider notification applied once: its (provider, event id) can be inserted only once."""

    __tablename__ = "provider_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    payment_id: Mapped[str | None] = mapped_column(String(40))
    received_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("provider", "event_id"),)
