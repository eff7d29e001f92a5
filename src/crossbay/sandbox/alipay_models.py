"""The sandbox Alipay's own books: its trades and the refunds made on them.

They live in our database only so that several server processes see one Alipay;
no crossbay context reads them. Amounts are integer minor units; the wire has decimal strings.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crossbay.db import Base


class SandboxAlipayTrade(Base):
    __tablename__ = "sandbox_alipay_trades"

    trade_no: Mapped[str] = mapped_column(String(64), primary_key=True)  # Alipay's 28-digit number
    out_trade_no: Mapped[str] = mapped_column(String(64), unique=True)  # the merchant's
    app_id: Mapped[str] = mapped_column(String(32))
    seller_id: Mapped[str] = mapped_column(String(32))
    product_code: Mapped[str] = mapped_column(String(32))  # QUICK_WAP_PAY, FACE_TO_FACE_PAYMENT
    subject: Mapped[str] = mapped_column(String(256))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))  # trans_currency; Alipay's default is CNY
    # WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_FINISHED, TRADE_CLOSED
    status: Mapped[str] = mapped_column(String(24))
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    notify_url: Mapped[str | None] = mapped_column(String(256))
    return_url: Mapped[str | None] = mapped_column(String(256))
    quit_url: Mapped[str | None] = mapped_column(String(400))
    time_expire: Mapped[datetime | None]
    buyer_id: Mapped[str | None] = mapped_column(String(28))  # set once paid
    paid_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SandboxAlipayRefund(Base):
    """One ``out_request_no`` of one trade: the idempotency key of an ``alipay.trade.refund``."""

    __tablename__ = "sandbox_alipay_refunds"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    trade_no: Mapped[str] = mapped_column(ForeignKey("sandbox_alipay_trades.trade_no"), index=True)
    out_request_no: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("trade_no", "out_request_no"),)
