from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from crossbay.db import Base


def byte_ordered(length: int) -> TypeEngine[str]:
    """A machine id compared as bytes on PostgreSQL (migration 0015): cheaper B-tree inserts."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class Bundle(Base):
    """Quota a package put on an eSIM."""

    __tablename__ = "bundles"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    esim_id: Mapped[str] = mapped_column(ForeignKey("esims.id"), index=True)
    # One bundle per order: fulfilment retried after a crash cannot add quota twice.
    order_id: Mapped[str] = mapped_column(String(40), unique=True)
    package_id: Mapped[str] = mapped_column(ForeignKey("packages.id"))
    status: Mapped[str] = mapped_column(String(16))
    data_total_bytes: Mapped[int | None] = mapped_column(BigInteger)
    data_remaining_bytes: Mapped[int | None] = mapped_column(BigInteger)
    voice_total_seconds: Mapped[int | None]
    voice_remaining_seconds: Mapped[int | None]
    starts_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # What was bought is copied from the package, so a later catalog edit never changes a bought pack.
    # Areas as a bit mask (usage.regions) so rating tests coverage with one AND, in Python or SQL.
    area_mask: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    validity_days: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Fair use: once the quota is gone, data carries on at this speed until expiry (None: service stops).
    throttle_kbps: Mapped[int | None]
    # Outstanding credit-control grants: never more than what remains.
    data_reserved_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    voice_reserved_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The used percentage at which the next "threshold" event fires (reminders may move it).
    next_alert_percent: Mapped[int | None]


class UsageRecord(Base):
    """One usage record from the network, kept whatever became of it (rated, over quota, unknown ICCID).

    No foreign key and a single index (the primary key): records arrive by the million through COPY.
    """

    __tablename__ = "usage_records"

    record_id: Mapped[str] = mapped_column(byte_ordered(128), primary_key=True)
    iccid: Mapped[str] = mapped_column(String(22))
    esim_id: Mapped[str | None] = mapped_column(String(40))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime]
    region: Mapped[str] = mapped_column(String(16))
    network: Mapped[str] = mapped_column(String(64))
    data_bytes: Mapped[int] = mapped_column(BigInteger)
    voice_seconds: Mapped[int] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(String(16))
    charged_data_bytes: Mapped[int] = mapped_column(BigInteger)
    charged_voice_seconds: Mapped[int] = mapped_column(Integer)
    # [[bundle_id, data_bytes, voice_seconds], ...]: which bundle paid for what.
    charges: Mapped[list[Any]] = mapped_column(JSON)
    received_at: Mapped[datetime]


class UsageDaily(Base):
    """Usage per eSIM and Hong Kong day: the usage view reads one indexed range."""

    __tablename__ = "usage_daily"

    esim_id: Mapped[str] = mapped_column(byte_ordered(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    data_bytes: Mapped[int] = mapped_column(BigInteger)
    voice_seconds: Mapped[int] = mapped_column(BigInteger)


class UsageEvent(Base):
    """A bundle crossed an alert threshold, ran out or expired: written in the rating transaction.

    Reminders and auto-renew consume these (``processed_at`` is theirs to set).
    """

    __tablename__ = "usage_events"
    __table_args__ = (Index("ix_usage_events_processed_at_at", "processed_at", "at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    esim_id: Mapped[str] = mapped_column(String(40))
    bundle_id: Mapped[str] = mapped_column(String(40))
    used_percent: Mapped[int]
    at: Mapped[datetime]
    processed_at: Mapped[datetime | None]


class CreditSession(Base):
    """A Gy-style credit-control session: at most one outstanding grant, from one bundle."""

    __tablename__ = "credit_sessions"
    __table_args__ = (Index("ix_credit_sessions_status_expires_at", "status", "expires_at"),)

    # The network's Session-Id: a retried CCR-I finds the session it already opened.
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    esim_id: Mapped[str] = mapped_column(String(40), index=True)
    service: Mapped[str] = mapped_column(String(8))
    region: Mapped[str] = mapped_column(String(16))
    area: Mapped[int]
    status: Mapped[str] = mapped_column(String(8))
    close_reason: Mapped[str | None] = mapped_column(String(16))
    bundle_id: Mapped[str | None] = mapped_column(String(40))
    granted: Mapped[int] = mapped_column(BigInteger)
    throttled: Mapped[bool]
    used_total: Mapped[int] = mapped_column(BigInteger)
    charged_total: Mapped[int] = mapped_column(BigInteger)
    # {bundle_id: units}: which bundle paid for this session's usage.
    charges: Mapped[dict[str, Any]] = mapped_column(JSON)
    request_number: Mapped[int]
    # Replayed when the network retransmits the same request number.
    last_answer: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    expires_at: Mapped[datetime]
