from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crossbay.db import Base


class Ticket(Base):
    __tablename__ = "support_tickets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    order_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id"), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32))  # open, waiting_for_customer, resolved
    origin: Mapped[str] = mapped_column(String(16))  # customer, late_order
    # One ticket per thing a watch noticed ("late_order:<order id>"): a second sweep cannot open another.
    watch_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    # A staff identifier; there is no staff account table yet.
    assignee: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_support_tickets_customer_id_created_at", "customer_id", "created_at"),
        Index("ix_support_tickets_status_updated_at", "status", "updated_at"),
    )


class TicketMessage(Base):
    """One message of a ticket's thread. A ``system`` message's body is an English message id."""

    __tablename__ = "support_messages"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("support_tickets.id"))
    seq: Mapped[int]
    author_kind: Mapped[str] = mapped_column(String(16))  # customer, staff, system
    author_id: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("ticket_id", "seq"),)
