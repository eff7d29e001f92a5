from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crossbay.db import Base


class AuditEvent(Base):
    """One sensitive action. Rows are only ever inserted: no code path updates or deletes them, and on
    PostgreSQL a trigger refuses UPDATE and DELETE (migration 0006).

    No foreign keys: the record outlives what it talks about, and staff ids are not customers.
    """

    __tablename__ = "audit_events"
    # The test harness empties tables between tests; this one only with TRUNCATE (see tests/conftest.py).
    __table_args__ = (
        Index("ix_audit_events_customer_id_at", "customer_id", "at"),
        Index("ix_audit_events_actor_id_at", "actor_id", "at"),
        Index("ix_audit_events_action_at", "action", "at"),
        Index("ix_audit_events_at", "at"),
        {"info": {"append_only": True}},
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime]
    actor_kind: Mapped[str] = mapped_column(String(16))  # customer, staff, system
    actor_id: Mapped[str | None] = mapped_column(String(64))
    # The account the action concerns: whose activity page shows it.
    customer_id: Mapped[str | None] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    device: Mapped[str | None] = mapped_column(String(80))  # a coarse label, e.g. "Safari · iOS"
    details: Mapped[dict[str, Any]]


class KnownDevice(Base):
    """Devices a customer has signed in from, by keyed hash only: a sign-in from any other is news."""

    __tablename__ = "customer_devices"
    __table_args__ = (UniqueConstraint("customer_id", "device_hash"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(40))
    device_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(80))
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
