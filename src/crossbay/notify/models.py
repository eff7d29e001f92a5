"""In-app notifications, reminder settings and the once-only keys of reminders and auto-renewals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from crossbay.db import Base


class Notification(Base):
    """One message in the customer's in-app inbox.

    The words are not stored: ``kind`` and ``values`` are, and each reader sees them in their own
    language (the API's Accept-Language, the page's language).
    """

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_customer_id_at", "customer_id", "at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(32))
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime]
    read_at: Mapped[datetime | None]


class ReminderSettings(Base):
    """A customer's reminder choices; no row means the defaults (notify.reminders.DEFAULTS)."""

    __tablename__ = "reminder_settings"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    low_data_percent: Mapped[int]
    expiry_days_before: Mapped[int]
    low_balance_amount: Mapped[int] = mapped_column(BigInteger)
    low_balance_currency: Mapped[str] = mapped_column(String(3))
    channels: Mapped[list[str]] = mapped_column(JSON)
    # Armed once the wallet holds at least the amount; a drop below it reminds once and disarms.
    low_balance_armed: Mapped[bool]
    updated_at: Mapped[datetime]


class ReminderSent(Base):
    """A reminder that went out: ``key`` (kind, bundle, level) is unique, so none goes out twice."""

    __tablename__ = "reminders_sent"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(String(40))
    bundle_id: Mapped[str | None] = mapped_column(String(40), index=True)
    at: Mapped[datetime]


class AutoRenewal(Base):
    """What auto-renew did when a bundle ended: one row per ended bundle, so never twice for one expiry."""

    __tablename__ = "auto_renewals"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    esim_id: Mapped[str] = mapped_column(ForeignKey("esims.id"), index=True)
    bundle_id: Mapped[str] = mapped_column(String(40), unique=True)
    package_id: Mapped[str] = mapped_column(String(40))
    # "ordered" (order_id set) or "failed" (reason: an error code such as insufficient_balance).
    outcome: Mapped[str] = mapped_column(String(16))
    order_id: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(String(48))
    at: Mapped[datetime]


class NotifyCursor(Base):
    """How far a sweep has read a stream it does not own (wallet movements in the ledger)."""

    __tablename__ = "notify_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime]
