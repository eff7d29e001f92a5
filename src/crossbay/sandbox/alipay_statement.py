"""The sandbox Alipay's trade bill: built from its own trades and refunds for one China day.

``alipay.data.dataservice.bill.downloadurl.query`` answers an address carrying a token that
lives 30 seconds, as Alipay's does; the address serves the zip without any other credential.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.money import Money
from crossbay.payments.alipay_statement import REFUND_TYPE, TRADE, BillRow, write_bill
from crossbay.payments.alipay_wire import CHINA
from crossbay.runtime import Runtime
from crossbay.sandbox.alipay_models import SandboxAlipayRefund, SandboxAlipayTrade

DOWNLOAD_PATH = "/sandbox/alipay/bills/download"
LINK_LIFETIME = timedelta(seconds=30)


def china_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=CHINA)
    return start, start + timedelta(days=1)


def bill_rows(session: Session, day: date) -> list[BillRow]:
    """The day's paid trades and refunds, in the order they happened."""
    start, end = china_day_bounds(day)
    trades = session.scalars(
        select(SandboxAlipayTrade).where(
            SandboxAlipayTrade.paid_at >= start, SandboxAlipayTrade.paid_at < end
        )
    ).all()
    refunds = session.execute(
        select(SandboxAlipayRefund, SandboxAlipayTrade)
        .join(SandboxAlipayTrade, SandboxAlipayRefund.trade_no == SandboxAlipayTrade.trade_no)
        .where(SandboxAlipayRefund.created_at >= start, SandboxAlipayRefund.created_at < end)
    ).all()
    rows = [
        BillRow(
            trade_no=trade.trade_no,
            out_trade_no=trade.out_trade_no,
            kind=TRADE,
            subject=trade.subject,
            created_at=trade.created_at,
            finished_at=trade.paid_at,
            amount=Money(trade.amount, trade.currency),
        )
        for trade in trades
        if trade.paid_at is not None
    ]
    rows += [
        BillRow(
            trade_no=trade.trade_no,
            out_trade_no=trade.out_trade_no,
            kind=REFUND_TYPE,
            subject=trade.subject,
            created_at=refund.created_at,
            finished_at=refund.created_at,
            amount=Money(refund.amount, trade.currency),
            out_request_no=refund.out_request_no,
        )
        for refund, trade in refunds
    ]
    return sorted(rows, key=lambda row: (row.finished_at, row.trade_no, row.kind))


def account(runtime: Runtime) -> str:
    # Alipay names the bill's account by the merchant's PID with "0156" appended.
    return f"{runtime.settings.alipay_seller_id}0156"


def _token(runtime: Runtime, bill_date: str, expires: int) -> str:
    key = runtime.settings.secret("alipay_sandbox_private_key").encode()
    return hmac.new(key, f"trade|{bill_date}|{expires}".encode(), hashlib.sha256).hexdigest()


def download_url(runtime: Runtime, day: date) -> str:
    expires = int((runtime.clock.now() + LINK_LIFETIME).timestamp())
    query = {
        "bizType": "trade",
        "userId": account(runtime),
        "fileType": "csv.zip",
        "bizDates": f"{day:%Y%m%d}",
        "downloadFileName": f"{account(runtime)}_{day:%Y%m%d}.csv.zip",
        "timestamp": str(expires),
        "token": _token(runtime, day.isoformat(), expires),
    }
    return f"{runtime.settings.base_url.rstrip('/')}{DOWNLOAD_PATH}?{urlencode(query)}"


def day_of_link(runtime: Runtime, biz_dates: str, timestamp: str, token: str) -> date | None:
    """The bill day a download link is good for, or None if it is forged or has expired."""
    try:
        day = datetime.strptime(biz_dates, "%Y%m%d").date()
        expires = int(timestamp)
    except ValueError:
        return None
    expected = _token(runtime, day.isoformat(), expires)
    if not hmac.compare_digest(expected, token) or runtime.clock.now().timestamp() > expires:
        return None
    return day


def bill_archive(session: Session, runtime: Runtime, day: date) -> bytes:
    return write_bill(account(runtime), day, bill_rows(session, day), exported_at=runtime.clock.now())
