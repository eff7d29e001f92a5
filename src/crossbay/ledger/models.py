from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crossbay.db import Base


class LedgerAccount(Base):
    """One account per code and currency: ``clearing:card`` in HKD and in CNY are two accounts."""

    __tablename__ = "ledger_accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    code: Mapped[str] = mapped_column(String(96))
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(16))  # asset, liability, revenue, expense
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("code", "currency"),)


class LedgerTransaction(Base):
    """A balanced posting. (kind, reference) is unique, so a business event posts at most once."""

    __tablename__ = "ledger_transactions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(48))
    reference: Mapped[str] = mapped_column(String(96))
    # By time: the low-wallet sweep asks what moved since its last run, and histories page newest first.
    created_at: Mapped[datetime] = mapped_column(index=True)
    entries: Mapped[list[LedgerEntry]] = relationship(back_populates="transaction", lazy="selectin")

    __table_args__ = (UniqueConstraint("kind", "reference"),)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    # Debits positive, credits negative; each transaction's entries sum to zero per currency.
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries")
