"""The sandbox WeChat Pay's trade bill: built from its own transactions and refunds for one China day.

``GET /v3/bill/tradebill`` answers a ``download_url`` on the API host with a token that lives
30 seconds and the file's SHA-1; the download is a signed GET whose answer is not signed.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.money import Money
from crossbay.payments.wechatpay_statement import REFUND_STATE, SUCCESS, BillRow, write_bill
from crossbay.runtime import Runtime
from crossbay.sandbox.wechatpay_models import SandboxWechatPayRefund, SandboxWechatPayTransaction
from crossbay.sandbox.wechatpay_wire import CHINA_TIME

BILL_TYPES = frozenset({"ALL", "SUCCESS", "REFUND"})
LINK_LIFETIME = timedelta(seconds=30)


def bill_file(session: Session, day: date, bill_type: str) -> bytes | None:
    """The day's bill of ``bill_type``; None when it would have no line (WeChat Pay keeps none)."""
    start = datetime.combine(day, time.min, tzinfo=CHINA_TIME)
    end = start + timedelta(days=1)
    rows: list[BillRow] = []
    if bill_type in ("ALL", "SUCCESS"):
        paid = session.scalars(
            select(SandboxWechatPayTransaction).where(
                SandboxWechatPayTransaction.success_time >= start,
                SandboxWechatPayTransaction.success_time < end,
            )
        ).all()
        rows += [_row(t, t.success_time, SUCCESS, t.amount) for t in paid if t.success_time is not None]
    if bill_type in ("ALL", "REFUND"):
        refunds = session.scalars(
            select(SandboxWechatPayRefund).where(
                SandboxWechatPayRefund.success_time >= start, SandboxWechatPayRefund.success_time < end
            )
        ).all()
        for refund in refunds:
            paid_row = session.get(SandboxWechatPayTransaction, refund.out_trade_no)
            if paid_row is not None and refund.success_time is not None:
                rows.append(_row(paid_row, refund.success_time, REFUND_STATE, refund.amount, refund))
    if not rows:
        return None
    return write_bill(sorted(rows, key=lambda row: (row.at, row.out_trade_no, row.state)))


def _row(
    paid: SandboxWechatPayTransaction,
    at: datetime,
    state: str,
    amount: int,
    refund: SandboxWechatPayRefund | None = None,
) -> BillRow:
    return BillRow(
        at=at,
        appid=paid.appid,
        mchid=paid.mchid,
        transaction_id=paid.transaction_id or "",
        out_trade_no=paid.out_trade_no,
        trade_type="MWEB" if paid.trade_type == "H5" else paid.trade_type,
        state=state,
        amount=Money(amount, paid.currency),
        description=paid.description,
        refund_id=refund.refund_id if refund else "",
        out_refund_no=refund.out_refund_no if refund else "",
    )


def _token(runtime: Runtime, day: date, bill_type: str, expires: int) -> str:
    key = runtime.settings.secret("wechatpay_sandbox_platform_private_key").encode()
    return hmac.new(key, f"{day}|{bill_type}|{expires}".encode(), hashlib.sha256).hexdigest()


def download_url(runtime: Runtime, api: str, day: date, bill_type: str) -> str:
    expires = int((runtime.clock.now() + LINK_LIFETIME).timestamp())
    query = {
        "token": _token(runtime, day, bill_type, expires),
        "bill_date": day.isoformat(),
        "bill_type": bill_type,
        "expires": str(expires),
    }
    return f"{runtime.settings.base_url.rstrip('/')}{api}/billdownload/file?{urlencode(query)}"


def link_target(runtime: Runtime, params: dict[str, str]) -> tuple[date, str] | None:
    """The bill a download link names, or None if it is forged or has expired."""
    bill_type = params.get("bill_type", "")
    try:
        day = date.fromisoformat(params.get("bill_date", ""))
        expires = int(params.get("expires", ""))
    except ValueError:
        return None
    if bill_type not in BILL_TYPES:
        return None
    expected = _token(runtime, day, bill_type, expires)
    if (
        not hmac.compare_digest(expected, params.get("token", ""))
        or runtime.clock.now().timestamp() > expires
    ):
        return None
    return day, bill_type
