"""A WeChat Pay speaking API v3, mounted in our own app for the demo and tests.

It answers ``WechatPayClient`` at ``/sandbox/wechatpay/v3/...`` (every request's
``Authorization`` checked with the merchant's public key, every answer signed with the
platform key), shows a cashier at ``/sandbox/pay/wechatpay/{out_trade_no}`` and sends
encrypted, signed notifications to the order's ``notify_url`` at least once. Its state is
in the database so that several server processes behave as one provider.

As WeChat H5 does, the payer goes back to the ``redirect_url`` the merchant appended to the
``h5_url`` once paid or cancelled; a cancel is not notified. Local-demo extensions of the
real service: ``code_url`` is the cashier's web address (a QR code a phone can open) rather
than ``weixin://``; ``notify_url`` may be plain HTTP. A refund is answered ``PROCESSING``, as
WeChat Pay usually answers, and its outcome notified when the request names a ``notify_url``:
``REFUND.SUCCESS``, or ``REFUND.ABNORMAL`` when the payer approved with
``payer_account=closed`` (the account the money would go back to no longer exists).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.db import transaction
from crossbay.errors import NotFound
from crossbay.i18n import negotiate_language
from crossbay.payments.wechatpay import OUT_REFUND_NO, OUT_TRADE_NO
from crossbay.payments.wechatpay_statement import NO_STATEMENT, file_digest
from crossbay.runtime import Runtime
from crossbay.sandbox.wechatpay_cashier import (
    CLOSED,
    NOTPAY,
    REFUND,
    SUCCESS,
    cashier_headers,
    cashier_page_html,
    missing_page,
    usable_redirect,
)
from crossbay.sandbox.wechatpay_models import SandboxWechatPayRefund, SandboxWechatPayTransaction
from crossbay.sandbox.wechatpay_statement import BILL_TYPES, bill_file, link_target
from crossbay.sandbox.wechatpay_statement import download_url as bill_download_url
from crossbay.sandbox.wechatpay_wire import (
    CHINA_TIME,
    Answer,
    Refused,
    deliver,
    json_object,
    locked_transaction,
    notification_body,
    refund_json,
    refund_resource,
    serve,
    transaction_json,
)
from crossbay.sandbox.wechatpay_wire import _authenticate as authenticate

API = "/sandbox/wechatpay/v3"
_NOT_FOUND = {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}


def _sandbox_only(runtime: RuntimeDep) -> None:
    if not runtime.settings.sandbox:
        raise NotFound()


router = APIRouter(tags=["sandbox"], dependencies=[Depends(_sandbox_only)])


async def _raw_body(request: Request) -> bytes:
    # Read here because the routes are plain ``def``; the signature covers these exact bytes.
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]


def _digits(count: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(count))


def _same_merchant(mchid: object, runtime: Runtime) -> None:
    if mchid != runtime.settings.wechatpay_mchid:
        raise Refused(400, "PARAM_ERROR", "mchid 与请求商户号不一致")


def _is_int(value: object, *, low: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= 10**10


def _is_currency(value: object) -> bool:
    return isinstance(value, str) and len(value) == 3 and value.isascii() and value.isupper()


# --- orders ------------------------------------------------------------------------------------


@router.post(f"{API}/pay/transactions/h5")
def create_h5(request: Request, body: RawBody, session: SessionDep, runtime: RuntimeDep) -> Response:
    return serve(request, body, runtime, lambda: _create(session, runtime, "H5", json_object(body)))


@router.post(f"{API}/pay/transactions/native")
def create_native(request: Request, body: RawBody, session: SessionDep, runtime: RuntimeDep) -> Response:
    return serve(request, body, runtime, lambda: _create(session, runtime, "NATIVE", json_object(body)))


@router.get(f"{API}/pay/transactions/out-trade-no/{{out_trade_no}}")
def query_transaction(
    out_trade_no: str, request: Request, session: SessionDep, runtime: RuntimeDep
) -> Response:
    def query() -> Answer:
        _same_merchant(request.query_params.get("mchid"), runtime)
        with transaction(session):
            row = session.get(SandboxWechatPayTransaction, out_trade_no)
            if row is None:
                raise Refused(404, "ORDER_NOT_EXIST", "订单不存在")
            return 200, transaction_json(row)

    return serve(request, b"", runtime, query)


@router.post(f"{API}/pay/transactions/out-trade-no/{{out_trade_no}}/close")
def close_transaction(
    out_trade_no: str, request: Request, body: RawBody, session: SessionDep, runtime: RuntimeDep
) -> Response:
    def close() -> Answer:
        _same_merchant(json_object(body).get("mchid"), runtime)
        with transaction(session):
            row = locked_transaction(session, out_trade_no)
            if row is None:
                raise Refused(404, "ORDER_NOT_EXIST", "订单不存在")
            if row.trade_state in (SUCCESS, REFUND):
                raise Refused(400, "ORDERPAID", "订单已支付，不能关闭")
            if row.trade_state == NOTPAY:  # closing a closed order again changes nothing, as at WeChat Pay
                row.trade_state, row.updated_at = CLOSED, runtime.clock.now()
        return 204, None

    return serve(request, body, runtime, close)


def _order_params(body: dict[str, Any], trade_type: str, runtime: Runtime) -> dict[str, Any]:
    _same_merchant(body.get("mchid"), runtime)
    if body.get("appid") != runtime.settings.wechatpay_appid:
        raise Refused(400, "APPID_MCHID_NOT_MATCH", "appid 和 mchid 不匹配")
    description, out_trade_no = body.get("description"), body.get("out_trade_no")
    notify_url, amount = body.get("notify_url"), body.get("amount")
    if not (isinstance(description, str) and 0 < len(description) <= 127):
        raise Refused(400, "PARAM_ERROR", "description 长度应为 1 到 127")
    if not (isinstance(out_trade_no, str) and OUT_TRADE_NO.fullmatch(out_trade_no)):
        raise Refused(400, "PARAM_ERROR", "out_trade_no 应为 6 到 32 位数字、字母或 _-|*")
    if not (isinstance(notify_url, str) and usable_redirect(notify_url) and len(notify_url) <= 256):
        raise Refused(400, "PARAM_ERROR", "notify_url 不是合法的网址")
    total = amount.get("total") if isinstance(amount, dict) else None
    currency = amount.get("currency", "CNY") if isinstance(amount, dict) else None
    if not _is_int(total):
        raise Refused(400, "PARAM_ERROR", "amount.total 应为正整数（分）")
    if not _is_currency(currency):
        raise Refused(400, "PARAM_ERROR", "amount.currency 不是 ISO 4217 货币代码")
    if trade_type == "H5":
        scene = body.get("scene_info")
        h5_info = scene.get("h5_info") if isinstance(scene, dict) else None
        if not (isinstance(scene, dict) and isinstance(scene.get("payer_client_ip"), str)):
            raise Refused(400, "PARAM_ERROR", "H5 支付须提供 scene_info.payer_client_ip")
        if not (isinstance(h5_info, dict) and isinstance(h5_info.get("type"), str)):
            raise Refused(400, "PARAM_ERROR", "H5 支付须提供 scene_info.h5_info.type")
    # scene_info is left out: the payer's IP may change between two tries of one order.
    return {
        "trade_type": trade_type,
        "description": description,
        "out_trade_no": out_trade_no,
        "notify_url": notify_url,
        "total": total,
        "currency": currency,
        "attach": body.get("attach"),
        "time_expire": body.get("time_expire"),
    }


def _create(session: Session, runtime: Runtime, trade_type: str, body: dict[str, Any]) -> Answer:
    params = _order_params(body, trade_type, runtime)
    fingerprint = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
    try:
        return _create_once(session, runtime, params, fingerprint)
    except IntegrityError:
        # Another request created this out_trade_no between our read and our write: compare with it.
        return _create_once(session, runtime, params, fingerprint)


def _create_once(session: Session, runtime: Runtime, params: dict[str, Any], fingerprint: str) -> Answer:
    with transaction(session):
        row = locked_transaction(session, params["out_trade_no"])
        if row is None:
            now = runtime.clock.now()
            row = SandboxWechatPayTransaction(
                out_trade_no=params["out_trade_no"],
                mchid=runtime.settings.wechatpay_mchid,
                appid=runtime.settings.wechatpay_appid,
                trade_type=params["trade_type"],
                description=params["description"],
                notify_url=params["notify_url"],
                amount=params["total"],
                currency=params["currency"],
                fingerprint=fingerprint,
                prepay_id=f"wx{now.astimezone(CHINA_TIME):%d%H%M%S}{secrets.token_hex(12)}",
                trade_state=NOTPAY,
                amount_refunded=0,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()  # a racing duplicate out_trade_no fails here, inside the transaction
        elif row.fingerprint != fingerprint:
            raise Refused(400, "INVALID_REQUEST", "商户订单号重复，且请求参数与原订单不一致")
        elif row.trade_state in (SUCCESS, REFUND):
            raise Refused(400, "ORDERPAID", "该订单已支付")
        elif row.trade_state == CLOSED:
            raise Refused(400, "ORDER_CLOSED", "订单已关闭")
        cashier = f"{runtime.settings.base_url.rstrip('/')}/sandbox/pay/wechatpay/{row.out_trade_no}"
        if row.trade_type == "H5":
            return 200, {"h5_url": f"{cashier}?prepay_id={row.prepay_id}"}
        return 200, {"code_url": f"{cashier}?pr={row.prepay_id}"}


# --- the trade bill ----------------------------------------------------------------------------


@router.get(f"{API}/bill/tradebill")
def trade_bill(request: Request, session: SessionDep, runtime: RuntimeDep) -> Response:
    def answer() -> Answer:
        query = request.query_params
        bill_type = query.get("bill_type", "ALL")
        try:
            day = date.fromisoformat(query.get("bill_date", ""))
        except ValueError:
            raise Refused(400, "PARAM_ERROR", "bill_date 格式应为 YYYY-MM-DD") from None
        if bill_type not in BILL_TYPES:
            raise Refused(400, "PARAM_ERROR", "bill_type 不是可选值")
        if day > runtime.clock.now().astimezone(CHINA_TIME).date():
            raise Refused(400, "PARAM_ERROR", "bill_date 不能晚于今天")
        with transaction(session):
            content = bill_file(session, day, bill_type)
        if content is None:
            raise Refused(400, NO_STATEMENT, "要下载的账单不存在")
        hash_type, hash_value = file_digest(content)
        url = bill_download_url(runtime, API, day, bill_type)
        return 200, {"hash_type": hash_type, "hash_value": hash_value, "download_url": url}

    return serve(request, b"", runtime, answer)


@router.get(f"{API}/billdownload/file")
def download_bill(request: Request, session: SessionDep, runtime: RuntimeDep) -> Response:
    # Signed by the merchant like every call; the answer is the file itself, not signed.
    try:
        authenticate(request, b"", runtime)
    except Refused as refused:
        body = {"code": refused.code, "message": refused.message}
        return JSONResponse(body, status_code=refused.status)
    target = link_target(runtime, dict(request.query_params))
    if target is None:
        return JSONResponse({"code": "INVALID_REQUEST", "message": "下载链接已失效"}, status_code=400)
    with transaction(session):
        content = bill_file(session, *target)
    return Response(content or b"", media_type="text/csv;charset=utf-8")


# --- refunds -----------------------------------------------------------------------------------


@router.post(f"{API}/refund/domestic/refunds")
def create_refund(request: Request, body: RawBody, session: SessionDep, runtime: RuntimeDep) -> Response:
    return serve(request, body, runtime, lambda: _refund(session, runtime, json_object(body)))


@router.get(f"{API}/refund/domestic/refunds/{{out_refund_no}}")
def query_refund(out_refund_no: str, request: Request, session: SessionDep, runtime: RuntimeDep) -> Response:
    def query() -> Answer:
        with transaction(session):
            refund = session.get(SandboxWechatPayRefund, out_refund_no)
            row = session.get(SandboxWechatPayTransaction, refund.out_trade_no) if refund else None
            if refund is None or row is None:
                raise Refused(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
            return 200, refund_json(refund, row)

    return serve(request, b"", runtime, query)


def _refund_params(body: dict[str, Any]) -> dict[str, Any]:
    out_trade_no, transaction_id = body.get("out_trade_no"), body.get("transaction_id")
    out_refund_no, amount = body.get("out_refund_no"), body.get("amount")
    reason, notify_url = body.get("reason"), body.get("notify_url")
    if not isinstance(out_trade_no, str) and not isinstance(transaction_id, str):
        raise Refused(400, "PARAM_ERROR", "须提供 out_trade_no 或 transaction_id")
    if not (isinstance(out_refund_no, str) and OUT_REFUND_NO.fullmatch(out_refund_no)):
        raise Refused(400, "PARAM_ERROR", "out_refund_no 格式错误")
    fields = amount if isinstance(amount, dict) else {}
    if not (_is_int(fields.get("refund")) and _is_int(fields.get("total"))):
        raise Refused(400, "PARAM_ERROR", "amount.refund 与 amount.total 应为正整数（分）")
    if not _is_currency(fields.get("currency")):
        raise Refused(400, "PARAM_ERROR", "amount.currency 不是 ISO 4217 货币代码")
    if reason is not None and not (isinstance(reason, str) and len(reason) <= 80):
        raise Refused(400, "PARAM_ERROR", "reason 过长")
    if notify_url is not None and not (isinstance(notify_url, str) and usable_redirect(notify_url)):
        raise Refused(400, "PARAM_ERROR", "notify_url 不是合法的网址")
    return {
        "out_trade_no": out_trade_no if isinstance(out_trade_no, str) else None,
        "transaction_id": transaction_id if isinstance(transaction_id, str) else None,
        "out_refund_no": out_refund_no,
        "refund": fields["refund"],
        "total": fields["total"],
        "currency": fields["currency"],
        "reason": reason,
        "notify_url": notify_url,
    }


def _refund(session: Session, runtime: Runtime, body: dict[str, Any]) -> Answer:
    params = _refund_params(body)
    try:
        answer, notification = _refund_once(session, runtime, params)
    except IntegrityError:
        # The same out_refund_no raced us in: its refund is the one to answer with.
        answer, notification = _refund_once(session, runtime, params)
    if notification is not None:
        url, content, label = notification
        deliver(runtime, url, content, label=label, first_now=False)
    return answer


def _refund_once(
    session: Session, runtime: Runtime, p: dict[str, Any]
) -> tuple[Answer, tuple[str, bytes, str] | None]:
    with transaction(session):
        if p["out_trade_no"] is not None:
            row = locked_transaction(session, p["out_trade_no"])
        else:
            row = session.scalars(
                select(SandboxWechatPayTransaction)
                .where(SandboxWechatPayTransaction.transaction_id == p["transaction_id"])
                .with_for_update()
            ).one_or_none()
        if row is None:
            raise Refused(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        if p["transaction_id"] is not None and p["transaction_id"] != row.transaction_id:
            raise Refused(400, "PARAM_ERROR", "transaction_id 与 out_trade_no 不匹配")
        existing = session.get(SandboxWechatPayRefund, p["out_refund_no"], with_for_update=True)
        if existing is not None:
            # One refund per out_refund_no: a retry gets it again, anything else is refused.
            asked = (row.out_trade_no, p["refund"], p["total"], p["currency"])
            if (existing.out_trade_no, existing.amount, existing.total, existing.currency) != asked:
                raise Refused(400, "INVALID_REQUEST", "商户退款单号重复，且请求参数与原退款不一致")
            return (200, refund_json(existing, row)), None
        if row.trade_state not in (SUCCESS, REFUND):
            raise Refused(400, "INVALID_REQUEST", "订单未支付，不能退款")
        if (p["total"], p["currency"]) != (row.amount, row.currency):
            raise Refused(400, "PARAM_ERROR", "订单金额或币种与原订单不一致")
        if p["refund"] > row.amount - row.amount_refunded:
            raise Refused(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
        now = runtime.clock.now()
        abnormal = row.payer_account == PAYER_ACCOUNT_CLOSED
        refund = SandboxWechatPayRefund(
            out_refund_no=p["out_refund_no"],
            refund_id="50" + _digits(27),
            out_trade_no=row.out_trade_no,
            amount=p["refund"],
            total=p["total"],
            currency=p["currency"],
            status="ABNORMAL" if abnormal else SUCCESS,
            reason=p["reason"],
            notify_url=p["notify_url"],
            created_at=now,
            success_time=None if abnormal else now,
        )
        session.add(refund)
        if not abnormal:
            row.amount_refunded += refund.amount
            row.trade_state, row.updated_at = REFUND, now
        session.flush()  # a racing duplicate out_refund_no fails here, inside the transaction
        # The answer comes before the bank has moved the money; the notification tells how it ended.
        answer = {**refund_json(refund, row), "status": "PROCESSING"}
        notification = None
        if refund.notify_url:
            event_id = str(uuid.uuid4())
            content = notification_body(
                event_id=event_id,
                event_type="REFUND.ABNORMAL" if abnormal else "REFUND.SUCCESS",
                summary="退款异常" if abnormal else "退款成功",
                original_type="refund",
                plain=refund_resource(refund, row),
                apiv3_key=runtime.settings.secret("wechatpay_apiv3_key"),
                created=now,
            )
            notification = (refund.notify_url, content, event_id)
    return (200, answer), notification


# --- the cashier -------------------------------------------------------------------------------


@router.get("/sandbox/pay/wechatpay/{out_trade_no}", response_class=HTMLResponse)
def cashier_page(out_trade_no: str, request: Request, session: SessionDep) -> HTMLResponse:
    language = negotiate_language(request.headers.get("accept-language"), request.query_params.get("lang"))
    redirect_url = usable_redirect(request.query_params.get("redirect_url"))
    headers = cashier_headers(redirect_url)
    with transaction(session):
        row = session.get(SandboxWechatPayTransaction, out_trade_no)
    if row is None:
        return HTMLResponse(missing_page(language), status_code=404, headers=headers)
    return HTMLResponse(cashier_page_html(row, language, redirect_url=redirect_url), headers=headers)


# A test payer whose account closes after paying: refunds to them end REFUND.ABNORMAL.
PAYER_ACCOUNT_CLOSED = "closed"


@router.post("/sandbox/pay/wechatpay/{out_trade_no}/approve")
def approve_payment(
    out_trade_no: str, request: Request, session: SessionDep, runtime: RuntimeDep
) -> Response:
    redirect_url = usable_redirect(request.query_params.get("redirect_url"))
    with transaction(session):
        row = locked_transaction(session, out_trade_no)
        if row is None:
            return JSONResponse(_NOT_FOUND, status_code=404)
        if row.trade_state != NOTPAY:
            message = f"订单状态为 {row.trade_state}，不能支付"
            return JSONResponse({"code": "ORDER_STATE_INVALID", "message": message}, status_code=409)
        now = runtime.clock.now()
        row.trade_state, row.success_time, row.updated_at = SUCCESS, now, now
        row.transaction_id = "4200" + _digits(24)
        if request.query_params.get("payer_account") == PAYER_ACCOUNT_CLOSED:
            row.payer_account = PAYER_ACCOUNT_CLOSED
        # Every repeat of this notification carries this id, so the merchant can apply it once.
        row.notification_id = str(uuid.uuid4())
        content = notification_body(
            event_id=row.notification_id,
            event_type="TRANSACTION.SUCCESS",
            summary="支付成功",
            original_type="transaction",
            plain=transaction_json(row),
            apiv3_key=runtime.settings.secret("wechatpay_apiv3_key"),
            created=now,
        )
        notify_url, label = row.notify_url, row.notification_id
    # Delivered before answering, so the payer lands on an order that already knows it is paid.
    deliver(runtime, notify_url, content, label=label, first_now=True)
    if redirect_url:
        return RedirectResponse(redirect_url, status_code=303)
    return JSONResponse({"out_trade_no": out_trade_no, "trade_state": SUCCESS})


@router.post("/sandbox/pay/wechatpay/{out_trade_no}/decline")
def decline_payment(out_trade_no: str, request: Request, session: SessionDep) -> Response:
    # WeChat Pay does not notify a payer's cancel: the order stays NOTPAY and the merchant asks.
    redirect_url = usable_redirect(request.query_params.get("redirect_url"))
    with transaction(session):
        row = session.get(SandboxWechatPayTransaction, out_trade_no)
    if row is None:
        return JSONResponse(_NOT_FOUND, status_code=404)
    return RedirectResponse(redirect_url or f"/sandbox/pay/wechatpay/{out_trade_no}", status_code=303)
