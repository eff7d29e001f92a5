"""The sandbox Alipay's payer side: its mobile cashier (three languages), payment and notifications.

The gateway (``crossbay.sandbox.alipay``) creates trades; here the payer approves or leaves,
and Alipay's signed form notifications go to the trade's ``notify_url`` at least once.
"""

from __future__ import annotations

import secrets
from html import escape
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.db import transaction
from crossbay.errors import NotFound
from crossbay.i18n import negotiate_language
from crossbay.money import Money
from crossbay.payments.alipay_wire import (
    SIGN_TYPE,
    WAP_PAY,
    alipay_time,
    compact_json,
    format_amount,
    notification_signing_string,
    rsa2_sign,
)
from crossbay.runtime import Runtime
from crossbay.sandbox import cashier_page as page_skeleton
from crossbay.sandbox.alipay_models import SandboxAlipayTrade
from crossbay.sandbox.notifier import deliver_at_least_once

WAITING, PAID, FINISHED, CLOSED = "WAIT_BUYER_PAY", "TRADE_SUCCESS", "TRADE_FINISHED", "TRADE_CLOSED"
MASKED_BUYER = "san***@sandbox.example"
Notice = tuple[str, dict[str, str]]  # (notify_url, unsigned notification parameters)
PAID_STATES = frozenset({PAID, FINISHED})

_TEXT: dict[str, dict[str, str]] = {
    "zh-Hant": {
        "title": "沙盒支付寶收銀台",
        "merchant": "商戶",
        "subject": "商品",
        "order": "訂單號",
        "amount": "金額",
        "account": "付款帳戶",
        "buyer": "沙盒買家（餘額充足）",
        "approve": "確認付款",
        "decline": "取消付款",
        "note": "這是測試環境，不會扣取真實款項。",
        "paid": "這筆交易已付款。",
        "closed": "這筆交易已關閉。",
        "back": "返回商戶",
        "missing": "交易不存在。",
        "error": "無法開啟收銀台",
    },
    "zh-Hans": {
        "title": "沙盒支付宝收银台",
        "merchant": "商户",
        "subject": "商品",
        "order": "订单号",
        "amount": "金额",
        "account": "付款账户",
        "buyer": "沙盒买家（余额充足）",
        "approve": "确认付款",
        "decline": "取消付款",
        "note": "这是测试环境，不会扣取真实款项。",
        "paid": "这笔交易已付款。",
        "closed": "这笔交易已关闭。",
        "back": "返回商户",
        "missing": "交易不存在。",
        "error": "无法打开收银台",
    },
    "en": {
        "title": "Sandbox Alipay cashier",
        "merchant": "Merchant",
        "subject": "Item",
        "order": "Order number",
        "amount": "Amount",
        "account": "Paying account",
        "buyer": "Sandbox buyer (funded)",
        "approve": "Confirm payment",
        "decline": "Cancel payment",
        "note": "This is a test environment; no real money moves.",
        "paid": "This trade is paid.",
        "closed": "This trade is closed.",
        "back": "Back to the merchant",
        "missing": "No such trade.",
        "error": "The cashier cannot open",
    },
}

_STYLE = (
    "body{font-family:system-ui,-apple-system,'PingFang HK','Noto Sans CJK TC',sans-serif;margin:0;"
    "background:#f5f5f5;color:#1f2937}header{background:#1677ff;color:#fff;padding:1rem 1.25rem;"
    "font-weight:600}main{max-width:26rem;margin:1.5rem auto;padding:1.5rem;background:#fff;"
    "border-radius:.75rem;box-shadow:0 1px 4px #0002}.amount{font-size:2rem;font-weight:600;"
    "text-align:center;margin:.5rem 0 1rem}dl{display:grid;grid-template-columns:auto 1fr;gap:.5rem 1rem}"
    "dt{color:#6b7280}dd{margin:0;word-break:break-all}form{margin-top:1rem}button{width:100%;"
    "padding:.8rem;font-size:1rem;border:0;border-radius:.5rem;cursor:pointer}"
    ".ok{background:#1677ff;color:#fff}.no{background:#e5e7eb;color:#1f2937}"
    ".note{font-size:.85rem;color:#6b7280}.notice{background:#fef3c7;padding:.5rem;border-radius:.4rem}"
)


def _page(language: str, body: str) -> str:
    return page_skeleton.page(
        language=language, title=_TEXT[language]["title"], style=_STYLE, body=body, banner=True
    )


def cashier_page_html(trade: SandboxAlipayTrade, language: str) -> str:
    text = _TEXT[language]
    amount = Money(trade.amount, trade.currency).format(language)
    parts = [
        f'<p class="amount">{escape(amount)}</p>',
        f"<dl><dt>{escape(text['merchant'])}</dt><dd>crossbay sandbox</dd>"
        f"<dt>{escape(text['subject'])}</dt><dd>{escape(trade.subject)}</dd>"
        f"<dt>{escape(text['order'])}</dt><dd>{escape(trade.out_trade_no)}</dd>",
    ]
    if trade.status != WAITING:
        parts.append("</dl>")
        notice = text["paid"] if trade.status in PAID_STATES else text["closed"]
        parts.append(f'<p class="notice">{escape(notice)}</p>')
        back = trade.return_url or trade.quit_url
        if back and back.startswith(("https://", "http://")):
            parts.append(f'<p><a href="{escape(back)}">{escape(text["back"])}</a></p>')
        return _page(language, "".join(parts))
    base = f"/sandbox/pay/alipay/{escape(trade.out_trade_no)}"
    parts.append(
        f"<dt>{escape(text['account'])}</dt><dd>{escape(text['buyer'])}</dd></dl>"
        f'<form method="post" action="{base}/approve"><button class="ok" type="submit">'
        f"{escape(text['approve'])}</button></form>"
        f'<form method="post" action="{base}/decline"><button class="no" type="submit">'
        f"{escape(text['decline'])}</button></form>"
        f'<p class="note">{escape(text["note"])}</p>'
    )
    return _page(language, "".join(parts))


def missing_page(language: str) -> str:
    return _page(language, f"<p>{escape(_TEXT[language]['missing'])}</p>")


def error_page(language: str, sub_code: str, sub_msg: str) -> str:
    """What Alipay shows instead of its cashier when the signed link is refused."""
    text = _TEXT[language]
    return _page(
        language,
        f'<p class="notice">{escape(text["error"])}</p><dl><dt>sub_code</dt><dd>{escape(sub_code)}</dd>'
        f"<dt>sub_msg</dt><dd>{escape(sub_msg)}</dd></dl>",
    )


CASHIER_HEADERS = page_skeleton.headers(_STYLE)


def sandbox_only(runtime: RuntimeDep) -> None:
    if not runtime.settings.sandbox:
        raise NotFound()


cashier_router = APIRouter(tags=["sandbox"], dependencies=[Depends(sandbox_only)])


# --- trades as the payer meets them ------------------------------------------------------------------


def locked_trade(
    session: Session, *, out_trade_no: str | None = None, trade_no: str | None = None
) -> SandboxAlipayTrade | None:
    query = select(SandboxAlipayTrade).with_for_update()
    if trade_no:
        query = query.where(SandboxAlipayTrade.trade_no == trade_no)
    else:
        query = query.where(SandboxAlipayTrade.out_trade_no == out_trade_no)
    return session.scalars(query).one_or_none()


def expire_if_due(trade: SandboxAlipayTrade, runtime: Runtime, notices: list[Notice]) -> None:
    """Close an unpaid trade whose ``time_expire`` has passed, as Alipay does (checked when touched)."""
    now = runtime.clock.now()
    if trade.status == WAITING and trade.time_expire is not None and now >= trade.time_expire:
        trade.status, trade.updated_at = CLOSED, now
        if trade.notify_url:  # Alipay tells of an unpaid trade closed by its timeout
            notices.append((trade.notify_url, notification(trade)))


def trade_amount(trade: SandboxAlipayTrade) -> str:
    return format_amount(Money(trade.amount, trade.currency))


def cashier_url(runtime: Runtime, out_trade_no: str) -> str:
    return f"{runtime.settings.base_url.rstrip('/')}/sandbox/pay/alipay/{quote(out_trade_no, safe='')}"


# --- notifications -----------------------------------------------------------------------------------


def notification(trade: SandboxAlipayTrade) -> dict[str, str]:
    """A ``trade_status_sync`` for the trade as it is now, before its time stamp and signature."""
    amount = trade_amount(trade)
    params = {
        "notify_type": "trade_status_sync",
        # One id per notification, kept across every retry of it, as Alipay does.
        "notify_id": secrets.token_hex(17),
        "app_id": trade.app_id,
        "auth_app_id": trade.app_id,
        "charset": "utf-8",
        "version": "1.0",
        "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        "seller_id": trade.seller_id,
        "subject": trade.subject,
        "trade_status": trade.status,
        "total_amount": amount,
        "trans_currency": trade.currency,
        "gmt_create": alipay_time(trade.created_at),
    }
    if trade.paid_at is not None and trade.buyer_id is not None:
        params.update(
            buyer_id=trade.buyer_id,
            buyer_logon_id=MASKED_BUYER,
            gmt_payment=alipay_time(trade.paid_at),
            receipt_amount=amount,
            buyer_pay_amount=amount,
            invoice_amount=amount,
            point_amount="0.00",
            fund_bill_list=compact_json([{"amount": amount, "fundChannel": "ALIPAYACCOUNT"}]),
        )
    if trade.status == CLOSED:
        params["gmt_close"] = alipay_time(trade.updated_at)
    return params


def send(runtime: Runtime, notices: list[Notice]) -> None:
    for notify_url, params in notices:
        deliver(runtime, notify_url, params, first_now=False)


def deliver(runtime: Runtime, notify_url: str, params: dict[str, str], *, first_now: bool) -> None:
    deliver_at_least_once(
        runtime, lambda: _post(runtime, notify_url, params), label=params["notify_id"], first_now=first_now
    )


def _post(runtime: Runtime, notify_url: str, params: dict[str, str]) -> bool:
    # Stamped and signed at each attempt, so a late retry carries the time it was sent.
    signed = {**params, "notify_time": alipay_time(runtime.clock.now()), "sign_type": SIGN_TYPE}
    key = runtime.settings.secret("alipay_sandbox_private_key")
    signed["sign"] = rsa2_sign(notification_signing_string(signed), key)
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    try:
        response = runtime.http.post(notify_url, content=urlencode(signed).encode(), headers=headers)
    except (httpx.HTTPError, RuntimeError):  # RuntimeError: the runtime closed while we were waiting
        return False
    # Alipay takes nothing but the exact body "success" as an answer; anything else is retried.
    return response.is_success and response.content == b"success"


def _return_query(trade: SandboxAlipayTrade, runtime: Runtime) -> dict[str, str]:
    """The signed parameters Alipay adds to ``return_url`` when it sends the payer back."""
    params = {
        "charset": "utf-8",
        "method": f"{WAP_PAY}.return",
        "app_id": trade.app_id,
        "auth_app_id": trade.app_id,
        "seller_id": trade.seller_id,
        "out_trade_no": trade.out_trade_no,
        "trade_no": trade.trade_no,
        "total_amount": trade_amount(trade),
        "timestamp": alipay_time(runtime.clock.now()),
        "version": "1.0",
        "sign_type": SIGN_TYPE,
    }
    key = runtime.settings.secret("alipay_sandbox_private_key")
    params["sign"] = rsa2_sign(notification_signing_string(params), key)
    return params


# --- the cashier -------------------------------------------------------------------------------------


def _language(request: Request) -> str:
    return negotiate_language(request.headers.get("accept-language"), request.query_params.get("lang"))


def _touched(
    session: Session, runtime: Runtime, out_trade_no: str, notices: list[Notice]
) -> SandboxAlipayTrade | None:
    """The payer's trade, locked, and closed first if its time ran out."""
    trade = locked_trade(session, out_trade_no=out_trade_no)
    if trade is not None:
        expire_if_due(trade, runtime, notices)
    return trade


def _html(page: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(page, status_code=status, headers=CASHIER_HEADERS)


@cashier_router.get("/sandbox/pay/alipay/{out_trade_no}", response_class=HTMLResponse)
def cashier_page(
    out_trade_no: str, request: Request, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    language, notices = _language(request), list[Notice]()
    with transaction(session):
        trade = _touched(session, runtime, out_trade_no, notices)
        page = cashier_page_html(trade, language) if trade is not None else None
    send(runtime, notices)
    return _html(page) if page is not None else _html(missing_page(language), 404)


@cashier_router.post("/sandbox/pay/alipay/{out_trade_no}/approve")
def approve_payment(
    out_trade_no: str, request: Request, session: SessionDep, runtime: RuntimeDep
) -> Response:
    language, notices = _language(request), list[Notice]()
    paid: dict[str, str] | None = None
    with transaction(session):
        trade = _touched(session, runtime, out_trade_no, notices)
        if trade is None:
            return _html(missing_page(language), 404)
        if trade.status == WAITING:
            now = runtime.clock.now()
            trade.status, trade.paid_at, trade.updated_at = PAID, now, now
            trade.buyer_id = f"2088{secrets.randbelow(10**12):012d}"
            paid = notification(trade)
        page, notify_url, return_url = cashier_page_html(trade, language), trade.notify_url, trade.return_url
        back = _return_query(trade, runtime) if paid is not None else None
    send(runtime, notices)
    if paid is None:
        return _html(page, 409)
    if notify_url:
        # Delivered before answering, so the payer lands on an order that already knows it is paid.
        deliver(runtime, notify_url, paid, first_now=True)
    if return_url and back is not None:
        return RedirectResponse(_with_query(return_url, back), status_code=303)
    return JSONResponse({"out_trade_no": out_trade_no, "trade_status": PAID})


@cashier_router.post("/sandbox/pay/alipay/{out_trade_no}/decline")
def decline_payment(
    out_trade_no: str, request: Request, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """The payer leaves the cashier: wap payments notify nothing, and the trade stays payable."""
    language, notices = _language(request), list[Notice]()
    with transaction(session):
        trade = _touched(session, runtime, out_trade_no, notices)
        if trade is None:
            return _html(missing_page(language), 404)
        status, page, back = (
            trade.status,
            cashier_page_html(trade, language),
            trade.quit_url or trade.return_url,
        )
    send(runtime, notices)
    if status != WAITING:
        return _html(page, 409)
    if back:
        return RedirectResponse(back, status_code=303)
    return JSONResponse({"out_trade_no": out_trade_no, "trade_status": WAITING})


def _with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *extra.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))
