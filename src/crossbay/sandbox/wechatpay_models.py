"""The sandbox WeChat Pay's own books: its transactions and refunds.

They live in our database only so that several server processes see one provider;
no crossbay context reads them. The sandbox serves one merchant (``wechatpay_mchid``),
so an ``out_trade_no`` or ``out_refund_no`` alone names a row, as it does within one
merchant at WeChat Pay.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from crossbay.db import Base


class SandboxWechatPayTransaction(Base):
    __tablename__ = "sandbox_wechatpay_transactions"

    out_trade_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    mchid: Mapped[str] = mapped_column(String(32))
    appid: Mapped[str] = mapped_column(String(32))
    trade_type: Mapped[str] = mapped_column(String(16))  # H5, NATIVE
    description: Mapped[str] = mapped_column(String(127))
    notify_url: Mapped[str] = mapped_column(String(256))
    amount: Mapped[int] = mapped_column(BigInteger)  # fen / cents
    currency: Mapped[str] = mapped_column(String(3))
    # sha256 of what makes two order requests "the same": a reuse with anything else is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    prepay_id: Mapped[str] = mapped_column(String(64))
    trade_state: Mapped[str] = mapped_column(String(16))  # NOTPAY, SUCCESS, REFUND, CLOSED
    transaction_id: Mapped[str | None] = mapped_column(String(32), index=True)
    # The notification of this payment keeps its id over every repeat, as WeChat Pay's does.
    notification_id: Mapped[str | None] = mapped_column(String(64))
    success_time: Mapped[datetime | None]
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    # "ok", or "closed": the payer's account is gone and refunds to it end ABNORMAL.
    payer_account: Mapped[str] = mapped_column(String(16), default="ok")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SandboxWechatPayRefund(Base):
    __tablename__ = "sandbox_wechatpay_refunds"

    out_refund_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    refund_id: Mapped[str] = mapped_column(String(32), unique=True)
    # No foreign key: its conventional name would pass PostgreSQL's 63-character limit.
    out_trade_no: Mapped[str] = mapped_column(String(32), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))  # SUCCESS
    reason: Mapped[str | None] = mapped_column(String(80))
    notify_url: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime]
    success_time: Mapped[datetime | None]
