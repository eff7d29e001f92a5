from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crossbay.db import Base


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(16))  # new_esim, topup
    package_id: Mapped[str] = mapped_column(ForeignKey("packages.id"))
    esim_id: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(24), index=True)
    payment_method: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    lines: Mapped[list[OrderLine]] = relationship(
        order_by="OrderLine.position", lazy="selectin", cascade="all, delete-orphan"
    )
    events: Mapped[list[OrderEvent]] = relationship(
        order_by="OrderEvent.seq", lazy="selectin", cascade="all, delete-orphan"
    )

    __table_args__ = (Index("ix_orders_customer_id_created_at", "customer_id", "created_at"),)


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    position: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    descriptions: Mapped[dict[str, str]] = mapped_column(JSON)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))


class OrderEvent(Base):
    """The order timeline: every status change and fulfilment step, with its time."""

    __tablename__ = "order_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    seq: Mapped[int]
    status: Mapped[str] = mapped_column(String(24))
    step: Mapped[str | None] = mapped_column(String(48))
    at: Mapped[datetime]
