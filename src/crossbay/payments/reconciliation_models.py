"""Daily reconciliation results: one run per provider and Hong Kong day, and every difference it found."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crossbay.db import Base


class ReconciliationRun(Base):
    """The latest comparison of one provider's statement with our books for one day (a rerun replaces it)."""

    __tablename__ = "reconciliation_runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    day: Mapped[date]
    status: Mapped[str] = mapped_column(String(16))  # clean, differences
    matched_payments: Mapped[int] = mapped_column(Integer)
    matched_refunds: Mapped[int] = mapped_column(Integer)
    difference_count: Mapped[int] = mapped_column(Integer)
    # {"HKD": {"provider_payments": 8800, "booked_payments": 8800, "provider_refunds": 0, …}}
    totals: Mapped[dict[str, Any]]
    ran_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("provider", "day"),)


class ReconciliationDifference(Base):
    __tablename__ = "reconciliation_differences"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("reconciliation_runs.id"), index=True)
    # missing_in_books, missing_at_provider, amount_mismatch, currency_mismatch, booked_on_other_day
    kind: Mapped[str] = mapped_column(String(32))
    line_kind: Mapped[str] = mapped_column(String(16))  # payment, refund
    reference: Mapped[str] = mapped_column(String(64))  # the provider's name for our payment
    payment_id: Mapped[str | None] = mapped_column(String(40))
    refund_no: Mapped[str | None] = mapped_column(String(64))
    provider_amount: Mapped[int | None] = mapped_column(BigInteger)
    provider_currency: Mapped[str | None] = mapped_column(String(3))
    booked_amount: Mapped[int | None] = mapped_column(BigInteger)
    booked_currency: Mapped[str | None] = mapped_column(String(3))
    other_day: Mapped[date | None]  # where the other side has it, for booked_on_other_day
