"""An Alipay speaking OpenAPI v2 (RSA2), mounted in our own app for the demo and tests.

It answers ``AlipayClient`` (and python-alipay-sdk, unchanged) at ``/sandbox/alipay/gateway.do``,
shows its mobile cashier at ``/sandbox/pay/alipay/{out_trade_no}``, and sends signed form
notifications to each trade's ``notify_url`` at least once, as Alipay does. Its state is in the
database so that several server processes behave as one Alipay.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.db import new_id, transaction
from crossbay.i18n import negotiate_language
from crossbay.money import Money, money_from_decimal_string
from crossbay.payments.alipay_statement import BILL_DOWNLOAD_URL_QUERY, BILL_NOT_EXIST
from crossbay.payments.alipay_wire import (
    CHINA,
    CLOSE,
    PRECREATE,
    QUERY,
    REFUND,
    REFUND_QUERY,
    SIGN_TYPE,
    SUCCESS_CODE,
    WAP_PAY,
    alipay_time,
    format_amount,
    parse_alipay_time,
    request_signing_string,
    response_key,
    rsa2_verify,
    signed_response_body,
)
from crossbay.runtime import Runtime
from crossbay.sandbox.alipay_cashier import (
    CASHIER_HEADERS,
    CLOSED,
    FINISHED,
    MASKED_BUYER,
    PAID,
    WAITING,
    Notice,
    cashier_router,
    cashier_url,
    error_page,
    expire_if_due,
    locked_trade,
    notification,
    sandbox_only,
    send,
    trade_amount,
)
from crossbay.sandbox.alipay_models import SandboxAlipayRefund, SandboxAlipayTrade
from crossbay.sandbox.alipay_statement import (
    DOWNLOAD_PATH,
    bill_archive,
    bill_rows,
    day_of_link,
    download_url,
)
from crossbay.settings import public_key_pem

_OUT_NO = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_MAX_AMOUNT = Decimal("100000000")
_REQUIRED = {
    "app_id": "isv.missing-app-id",
    "method": "isv.missing-method",
    "sign": "isv.missing-signature",
    "sign_type": "isv.missing-signature-type",
    "timestamp": "isv.missing-timestamp",
    "version": "isv.missing-version",
    "biz_content": "isv.missing-biz-content",
}


router = APIRouter(tags=["sandbox"], dependencies=[Depends(sandbox_only)])


async def _gateway_items(request: Request) -> list[tuple[str, str]]:
    # Callers put parameters in the query (python-alipay-sdk, the wap redirect), the form, or both.
    items = list(request.query_params.multi_items())
    if request.method == "POST":
        form = await request.form()
        items += [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
    return items


GatewayItems = Annotated[list[tuple[str, str]], Depends(_gateway_items)]


class _Refused(Exception):
    """Answered with Alipay's error object; nothing was changed."""

    def __init__(self, code: str, msg: str, sub_code: str, sub_msg: str) -> None:
        self.content = {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}


def _invalid(sub_code: str, sub_msg: str) -> _Refused:
    return _Refused("40002", "Invalid Arguments", sub_code, sub_msg)


def _business(sub_code: str, sub_msg: str) -> _Refused:
    return _Refused("40004", "Business Failed", sub_code, sub_msg)


@dataclass
class _Answer:
    content: dict[str, Any]
    notices: list[Notice] = field(default_factory=list)


# --- the gateway -----------------------------------------------------------------------------------


def gateway(items: GatewayItems, request: Request, session: SessionDep, runtime: RuntimeDep) -> Response:
    params = dict(items)
    method = params.get("method", "")
    try:
        if len(params) != len(items):
            raise _invalid("isv.invalid-parameter", "参数重复")
        biz = _verified_biz(params, runtime)
        if method == WAP_PAY:
            return _open_wap_cashier(session, runtime, params, biz)
        operation = _OPERATIONS[method]
        answer = _run(session, lambda: operation(session, runtime, params, biz))
    except _Refused as refused:
        if method == WAP_PAY:  # a browser on a refused link sees Alipay's error page, not JSON
            language = negotiate_language(request.headers.get("accept-language"))
            page = error_page(language, refused.content["sub_code"], refused.content["sub_msg"])
            return HTMLResponse(page, status_code=400, headers=CASHIER_HEADERS)
        return _signed_answer(runtime, method if method in _OPERATIONS else None, refused.content)
    send(runtime, answer.notices)
    return _signed_answer(runtime, method, answer.content)


# Alipay takes both; one route per method keeps each its own OpenAPI operation id.
for _method in ("GET", "POST"):
    router.add_api_route("/sandbox/alipay/gateway.do", gateway, methods=[_method], summary="Alipay gateway")


def _verified_biz(params: dict[str, str], runtime: Runtime) -> dict[str, Any]:
    for name, sub_code in _REQUIRED.items():
        if not params.get(name):
            raise _Refused("40001", "Missing Required Arguments", sub_code, f"缺少{name}参数")
    settings = runtime.settings
    if params["app_id"] != settings.alipay_app_id:
        raise _invalid("isv.invalid-app-id", "无效的AppID参数")
    if params["method"] not in (WAP_PAY, *_OPERATIONS):
        raise _invalid("isv.invalid-method", "不存在的方法名")
    if params["sign_type"] != SIGN_TYPE:
        raise _invalid("isv.invalid-signature-type", "无效的签名类型")
    if params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        raise _invalid("isv.invalid-charset", "字符集错误")
    if params.get("format", "JSON").upper() != "JSON" or params["version"] != "1.0":
        raise _invalid("isv.invalid-parameter", "format或version参数无效")
    try:
        parse_alipay_time(params["timestamp"])
    except ValueError:
        raise _invalid("isv.invalid-timestamp", "非法的时间戳参数") from None
    merchant_key = _merchant_public_key(settings.secret("alipay_private_key"))
    if not rsa2_verify(request_signing_string(params), params["sign"], merchant_key):
        raise _invalid("isv.invalid-signature", "验签出错")
    for name in ("notify_url", "return_url"):
        url = params.get(name)
        if url is not None and not (url.startswith(("https://", "http://")) and len(url) <= 256):
            raise _invalid("isv.invalid-parameter", f"{name}无效")
    try:
        biz = json.loads(params["biz_content"])
    except ValueError:
        biz = None
    if not isinstance(biz, dict):
        raise _invalid("isv.invalid-parameter", "biz_content不是JSON对象")
    return biz


@lru_cache(maxsize=4)
def _merchant_public_key(private_pem: str) -> str:
    return public_key_pem(private_pem)


def _run(session: Session, operation: Callable[[], _Answer]) -> _Answer:
    try:
        with transaction(session):
            return operation()
    except IntegrityError:
        # Another process stored the same trade or refund between our read and our write: its row wins.
        with transaction(session):
            return operation()


def _signed_answer(runtime: Runtime, method: str | None, content: dict[str, Any]) -> Response:
    key = response_key(method) if method else "error_response"
    body = signed_response_body(key, content, runtime.settings.secret("alipay_sandbox_private_key"))
    return Response(body, media_type="application/json;charset=utf-8")


def _success(trade: SandboxAlipayTrade, **extra: str) -> dict[str, Any]:
    return {
        "code": SUCCESS_CODE,
        "msg": "Success",
        "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        **extra,
    }


# --- trades ----------------------------------------------------------------------------------------


def _money(value: Any, currency: str, name: str) -> Money:
    # Merchants send amounts as strings; python-alipay-sdk callers often pass numbers.
    text = str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else ""
    try:
        money = money_from_decimal_string(text, currency)
    except ValueError:
        raise _business("ACQ.INVALID_PARAMETER", f"参数无效: {name}") from None
    if money.amount <= 0 or money.to_decimal() > _MAX_AMOUNT:
        raise _business("ACQ.INVALID_PARAMETER", f"参数无效: {name}")
    return money


def _text(biz: dict[str, Any], name: str, *, limit: int) -> str:
    value = biz.get(name)
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise _business("ACQ.INVALID_PARAMETER", f"参数无效: {name}")
    return value


def _open_trade(
    session: Session, runtime: Runtime, params: dict[str, str], biz: dict[str, Any], product_code: str
) -> tuple[SandboxAlipayTrade, list[Notice]]:
    out_trade_no = _text(biz, "out_trade_no", limit=64)
    if not _OUT_NO.fullmatch(out_trade_no):
        raise _business("ACQ.INVALID_PARAMETER", "参数无效: out_trade_no")
    subject = _text(biz, "subject", limit=256)
    currency = biz.get("trans_currency") or "CNY"  # Alipay's own default
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise _business("ACQ.INVALID_PARAMETER", "参数无效: trans_currency")
    amount = _money(biz.get("total_amount"), currency, "total_amount")
    try:
        expire = parse_alipay_time(biz["time_expire"]) if biz.get("time_expire") else None
    except (TypeError, ValueError):
        raise _business("ACQ.INVALID_PARAMETER", "参数无效: time_expire") from None
    quit_url = biz.get("quit_url")
    if quit_url is not None and not (
        isinstance(quit_url, str) and quit_url.startswith(("https://", "http://"))
    ):
        raise _business("ACQ.INVALID_PARAMETER", "参数无效: quit_url")
    notices: list[Notice] = []
    trade = locked_trade(session, out_trade_no=out_trade_no)
    if trade is not None:
        if (trade.amount, trade.currency) != (amount.amount, amount.currency):
            raise _business("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
        expire_if_due(trade, runtime, notices)
        return trade, notices
    now = runtime.clock.now()
    trade = SandboxAlipayTrade(
        trade_no=f"{alipay_time(now)[:10].replace('-', '')}22001{secrets.randbelow(10**15):015d}",
        out_trade_no=out_trade_no,
        app_id=params["app_id"],
        seller_id=runtime.settings.alipay_seller_id,
        product_code=product_code,
        subject=subject,
        amount=amount.amount,
        currency=amount.currency,
        status=WAITING,
        refunded=0,
        notify_url=params.get("notify_url"),
        return_url=params.get("return_url"),
        quit_url=quit_url,
        time_expire=expire,
        created_at=now,
        updated_at=now,
    )
    session.add(trade)
    session.flush()  # a racing duplicate out_trade_no fails here, inside the transaction
    return trade, notices


def _open_wap_cashier(
    session: Session, runtime: Runtime, params: dict[str, str], biz: dict[str, Any]
) -> Response:
    if biz.get("product_code") != "QUICK_WAP_PAY":
        raise _business("ACQ.INVALID_PARAMETER", "参数无效: product_code")

    def open_trade() -> _Answer:
        trade, notices = _open_trade(session, runtime, params, biz, "QUICK_WAP_PAY")
        return _Answer({"out_trade_no": trade.out_trade_no}, notices)

    answer = _run(session, open_trade)
    send(runtime, answer.notices)
    return RedirectResponse(cashier_url(runtime, answer.content["out_trade_no"]), status_code=303)


def _precreate(session: Session, runtime: Runtime, params: dict[str, str], biz: dict[str, Any]) -> _Answer:
    trade, notices = _open_trade(session, runtime, params, biz, "FACE_TO_FACE_PAYMENT")
    if trade.status in (PAID, FINISHED):
        raise _business("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
    if trade.status == CLOSED:
        raise _business("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
    content = {"code": SUCCESS_CODE, "msg": "Success", "out_trade_no": trade.out_trade_no}
    return _Answer({**content, "qr_code": cashier_url(runtime, trade.out_trade_no)}, notices)


def _query(session: Session, runtime: Runtime, params: dict[str, str], biz: dict[str, Any]) -> _Answer:
    notices: list[Notice] = []
    trade = _trade_of(session, runtime, biz, notices)
    paid = format_amount(Money(trade.amount if trade.paid_at else 0, trade.currency))
    content = _success(
        trade,
        trade_status=trade.status,
        total_amount=trade_amount(trade),
        trans_currency=trade.currency,
        buyer_pay_amount=paid,
        receipt_amount=paid,
        invoice_amount=paid,
        point_amount="0.00",
    )
    if trade.paid_at is not None and trade.buyer_id is not None:
        content.update(
            send_pay_date=alipay_time(trade.paid_at),
            buyer_user_id=trade.buyer_id,
            buyer_logon_id=MASKED_BUYER,
        )
    return _Answer(content, notices)


def _refund(session: Session, runtime: Runtime, params: dict[str, str], biz: dict[str, Any]) -> _Answer:
    trade = _trade_of(session, runtime, biz, [])
    amount = _money(biz.get("refund_amount"), trade.currency, "refund_amount")
    # Without out_request_no a refund is keyed by the trade itself: one full refund.
    out_request_no = biz.get("out_request_no") or trade.trade_no
    if not isinstance(out_request_no, str) or not _OUT_NO.fullmatch(out_request_no):
        raise _business("ACQ.INVALID_PARAMETER", "参数无效: out_request_no")
    refund = session.scalars(
        select(SandboxAlipayRefund).where(
            SandboxAlipayRefund.trade_no == trade.trade_no,
            SandboxAlipayRefund.out_request_no == out_request_no,
        )
    ).one_or_none()
    if refund is not None:  # a repeat: the first answer again, and no money moves
        if refund.amount != amount.amount:
            raise _business("ACQ.DISCORDANT_REPEAT_REQUEST", "请求信息不一致")
        return _Answer(_refund_content(trade, refund, fund_change="N"))
    if trade.status == WAITING:
        raise _business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
    if trade.status == CLOSED:
        raise _business("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
    if trade.status == FINISHED:
        raise _business("ACQ.TRADE_HAS_FINISHED", "交易已完结")
    if amount.amount > trade.amount - trade.refunded:
        raise _business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
    now = runtime.clock.now()
    refund = SandboxAlipayRefund(
        id=new_id("arf"),
        trade_no=trade.trade_no,
        out_request_no=out_request_no,
        amount=amount.amount,
        created_at=now,
    )
    session.add(refund)
    trade.refunded += amount.amount
    if trade.refunded == trade.amount:
        trade.status = CLOSED  # fully refunded
    trade.updated_at = now
    session.flush()  # a racing repeat of this out_request_no fails here, inside the transaction
    return _Answer(_refund_content(trade, refund, fund_change="Y"))


def _refund_content(
    trade: SandboxAlipayTrade, refund: SandboxAlipayRefund, *, fund_change: str
) -> dict[str, Any]:
    return _success(
        trade,
        buyer_logon_id=MASKED_BUYER,
        buyer_user_id=trade.buyer_id or "",
        fund_change=fund_change,
        refund_fee=format_amount(Money(trade.refunded, trade.currency)),  # all refunded so far
        send_back_fee=format_amount(Money(refund.amount, trade.currency)),
        gmt_refund_pay=alipay_time(refund.created_at),
    )


def _close(session: Session, runtime: Runtime, params: dict[str, str], biz: dict[str, Any]) -> _Answer:
    notices: list[Notice] = []
    trade = _trade_of(session, runtime, biz, notices)
    if trade.status == WAITING:
        trade.status, trade.updated_at = CLOSED, runtime.clock.now()
        # The close request's own notify_url, if it gave one, hears of the close.
        if params.get("notify_url"):
            notices.append((params["notify_url"], notification(trade)))
    elif trade.status != CLOSED or trade.refunded:
        raise _business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
    return _Answer(_success(trade), notices)


def _bill_download_url(
    session: Session, runtime: Runtime, params: dict[str, str], biz: dict[str, Any]
) -> _Answer:
    if biz.get("bill_type") != "trade":
        raise _invalid("isv.invalid-parameter", "参数无效: bill_type (仅支持 trade)")
    try:
        day = date.fromisoformat(str(biz.get("bill_date")))
    except ValueError:
        raise _invalid("isv.invalid-parameter", "参数无效: bill_date") from None
    if len(str(biz.get("bill_date"))) != 10 or day > runtime.clock.now().astimezone(CHINA).date():
        raise _invalid("isv.invalid-parameter", "参数无效: bill_date")
    if not bill_rows(session, day):
        raise _Refused("40004", "Business Failed", BILL_NOT_EXIST, "账单不存在")
    return _Answer({"code": SUCCESS_CODE, "msg": "Success", "bill_download_url": download_url(runtime, day)})


def _refund_query(session: Session, runtime: Runtime, params: dict[str, str], biz: dict[str, Any]) -> _Answer:
    trade = _trade_of(session, runtime, biz, [])
    out_request_no = biz.get("out_request_no") or trade.trade_no
    refund = session.scalars(
        select(SandboxAlipayRefund).where(
            SandboxAlipayRefund.trade_no == trade.trade_no,
            SandboxAlipayRefund.out_request_no == out_request_no,
        )
    ).one_or_none()
    content = {
        "code": SUCCESS_CODE,
        "msg": "Success",
        "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        "out_request_no": out_request_no,
    }
    if refund is None:  # as Alipay answers: success, without refund fields, for a refund it never took
        return _Answer(content)
    refunded = format_amount(Money(refund.amount, trade.currency))
    return _Answer({**content, "refund_amount": refunded, "refund_status": "REFUND_SUCCESS"})


_OPERATIONS: dict[str, Callable[[Session, Runtime, dict[str, str], dict[str, Any]], _Answer]] = {
    PRECREATE: _precreate,
    QUERY: _query,
    REFUND: _refund,
    REFUND_QUERY: _refund_query,
    CLOSE: _close,
    BILL_DOWNLOAD_URL_QUERY: _bill_download_url,
}


@router.get(DOWNLOAD_PATH)
def download_bill(request: Request, session: SessionDep, runtime: RuntimeDep) -> Response:
    query = request.query_params
    day = day_of_link(runtime, query.get("bizDates", ""), query.get("timestamp", ""), query.get("token", ""))
    if day is None:  # Alipay's own words for an address used too late
        return Response("下载超时，请重新下载", status_code=403, media_type="text/plain;charset=utf-8")
    with transaction(session):
        archive = bill_archive(session, runtime, day)
    name = query.get("downloadFileName") or f"{day:%Y%m%d}.csv.zip"
    disposition = f'attachment; filename="{name if name.isascii() else "bill.csv.zip"}"'
    return Response(archive, media_type="application/zip", headers={"Content-Disposition": disposition})


def _trade_of(
    session: Session, runtime: Runtime, biz: dict[str, Any], notices: list[Notice]
) -> SandboxAlipayTrade:
    trade_no, out_trade_no = biz.get("trade_no"), biz.get("out_trade_no")
    if (
        not isinstance(trade_no, str | None)
        or not isinstance(out_trade_no, str | None)
        or not (trade_no or out_trade_no)
    ):
        raise _business("ACQ.INVALID_PARAMETER", "参数无效: out_trade_no")
    trade = locked_trade(session, out_trade_no=out_trade_no, trade_no=trade_no)
    if trade is None:
        raise _business("ACQ.TRADE_NOT_EXIST", "交易不存在")
    expire_if_due(trade, runtime, notices)
    return trade


# The cashier pages and the payment they lead to are Alipay's too: one router mounts both.
router.include_router(cashier_router)
